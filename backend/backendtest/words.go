package backendtest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state"
)

// testWordValues: value and reducing states of word-sized types (which the hashmap backend
// keeps unboxed) hold their extreme values exactly, per namespace, through Clear, a snapshot
// and a restore at another parallelism.
func testWordValues(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(2, nil)
	type words struct {
		i state.ValueState[int64]
		u state.ValueState[uint64]
		f state.ValueState[float64]
		d state.ValueState[time.Duration]
		n state.ValueState[int]
		r state.ReducingState[float64]
	}
	open := func(s *subtask) words {
		var w words
		var err error
		w.i, err = state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "i64"})
		must(t, err)
		w.u, err = state.GetValueState(s.kb, state.ValueDescriptor[uint64]{Name: "u64"})
		must(t, err)
		w.f, err = state.GetValueState(s.kb, state.ValueDescriptor[float64]{Name: "f64"})
		must(t, err)
		w.d, err = state.GetValueState(s.kb, state.ValueDescriptor[time.Duration]{Name: "dur"})
		must(t, err)
		w.n, err = state.GetValueState(s.kb, state.ValueDescriptor[int]{Name: "int"})
		must(t, err)
		w.r, err = state.GetReducingState(s.kb, state.ReducingDescriptor[float64]{Name: "fsum", Reduce: func(a, b float64) (float64, error) { return a + b, nil }})
		must(t, err)
		return w
	}
	const keys = 200
	ints := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	floats := []float64{math.Inf(-1), -0.5, 0, math.SmallestNonzeroFloat64, math.MaxFloat64}
	setNS := func(w words, ns string) {
		for _, st := range []state.State{w.i, w.u, w.f, w.d, w.n, w.r} {
			st.SetNamespace([]byte(ns))
		}
	}
	// each calls fn with the states of every key and namespace, the key current.
	each := func(subs []*subtask, ws []words, fn func(w words, k int64, ns string, x int64, f float64)) {
		for k := int64(0); k < keys; k++ {
			s := route(subs, k)
			w := ws[slices.Index(subs, s)]
			setKey(t, s, k)
			for j, ns := range []string{"", "window"} {
				setNS(w, ns)
				fn(w, k, ns, ints[(int(k)+j)%len(ints)], floats[(int(k)+j)%len(floats)])
			}
		}
	}
	fill := func(subs []*subtask, ws []words) {
		each(subs, ws, func(w words, k int64, _ string, x int64, f float64) {
			must(t, w.i.Update(x))
			must(t, w.u.Update(uint64(x)))
			must(t, w.f.Update(f))
			must(t, w.d.Update(time.Duration(x)))
			must(t, w.n.Update(int(x)))
			must(t, w.r.Add(0.25))
			must(t, w.r.Add(float64(k)))
			if k%7 == 0 {
				must(t, w.i.Clear())
			}
		})
	}
	check := func(subs []*subtask, ws []words, when string) {
		t.Helper()
		each(subs, ws, func(w words, k int64, ns string, x int64, f float64) {
			if got, ok := get[int64](t, w.i); k%7 == 0 && ok || k%7 != 0 && (!ok || got != x) {
				t.Fatalf("%s: int64 (%d,%q) = %d,%v want %d (cleared: %v)", when, k, ns, got, ok, x, k%7 == 0)
			}
			if got, _ := get[uint64](t, w.u); got != uint64(x) {
				t.Fatalf("%s: uint64 (%d,%q) = %d want %d", when, k, ns, got, uint64(x))
			}
			if got, _ := get[float64](t, w.f); got != f {
				t.Fatalf("%s: float64 (%d,%q) = %v want %v", when, k, ns, got, f)
			}
			if got, _ := get[time.Duration](t, w.d); got != time.Duration(x) {
				t.Fatalf("%s: duration (%d,%q) = %v", when, k, ns, got)
			}
			if got, _ := get[int](t, w.n); got != int(x) {
				t.Fatalf("%s: int (%d,%q) = %v", when, k, ns, got)
			}
			if got, ok, err := w.r.Get(); err != nil || !ok || got != 0.25+float64(k) {
				t.Fatalf("%s: reducing float64 (%d,%q) = %v,%v,%v", when, k, ns, got, ok, err)
			}
		})
	}
	ws := []words{open(subs[0]), open(subs[1])}
	fill(subs, ws)
	check(subs, ws, "live")
	h := e.checkpoint(subs, backend.SnapshotOptions{})
	closeAll(subs)
	subs = e.open(3, h)
	ws = []words{open(subs[0]), open(subs[1]), open(subs[2])}
	check(subs, ws, "restored at parallelism 3")
	closeAll(subs)
}

// testWordKeyMaps: map states with word-sized user keys (which backends look up without
// boxing them) find, miss, remove and iterate extreme keys exactly, per namespace, and
// through a snapshot and a restore at another parallelism.
func testWordKeyMaps(t *testing.T, f Factory) {
	e := newEnv(t, f)
	desc := state.MapDescriptor[int64, string]{Name: "byInt"}
	fdesc := state.MapDescriptor[float64, int64]{Name: "byFloat"}
	uks := []int64{math.MinInt64, -300, -1, 0, 1, 255, 256, math.MaxInt64}
	const keys = 60
	open := func(subs []*subtask) ([]state.MapState[int64, string], []state.MapState[float64, int64]) {
		var ms []state.MapState[int64, string]
		var fs []state.MapState[float64, int64]
		for _, s := range subs {
			m, err := state.GetMapState(s.kb, desc)
			must(t, err)
			fm, err := state.GetMapState(s.kb, fdesc)
			must(t, err)
			ms, fs = append(ms, m), append(fs, fm)
		}
		return ms, fs
	}
	// want: key k in namespace ns holds every uk but uks[k%len(uks)], as "k/ns/uk".
	gone := func(k int64) int64 { return uks[int(k)%len(uks)] }
	val := func(k int64, ns string, uk int64) string { return fmt.Sprintf("%d/%s/%d", k, ns, uk) }
	each := func(subs []*subtask, fn func(m state.MapState[int64, string], fm state.MapState[float64, int64], k int64, ns string)) {
		ms, fs := open(subs)
		for k := int64(0); k < keys; k++ {
			s := route(subs, k)
			i := slices.Index(subs, s)
			setKey(t, s, k)
			for _, ns := range []string{"", "w"} {
				ms[i].SetNamespace([]byte(ns))
				fs[i].SetNamespace([]byte(ns))
				fn(ms[i], fs[i], k, ns)
			}
		}
	}
	check := func(subs []*subtask, when string) {
		t.Helper()
		each(subs, func(m state.MapState[int64, string], fm state.MapState[float64, int64], k int64, ns string) {
			for _, uk := range uks {
				v, ok, err := m.Get(uk)
				must(t, err)
				has, err := m.Contains(uk)
				must(t, err)
				if want := uk != gone(k); ok != want || has != want || (want && v != val(k, ns, uk)) {
					t.Fatalf("%s: key %d ns %q user key %d: Get %q,%v Contains %v, want present=%v", when, k, ns, uk, v, ok, has, want)
				}
			}
			var got []int64
			for uk, err := range m.Keys() {
				must(t, err)
				got = append(got, uk)
			}
			slices.Sort(got)
			want := slices.DeleteFunc(slices.Clone(uks), func(uk int64) bool { return uk == gone(k) })
			if !slices.Equal(got, want) {
				t.Fatalf("%s: key %d ns %q keys %v, want %v", when, k, ns, got, want)
			}
			if v, ok, err := fm.Get(math.Inf(-1)); err != nil || !ok || v != k {
				t.Fatalf("%s: key %d ns %q float key -Inf = %d,%v,%v", when, k, ns, v, ok, err)
			}
			if ok, err := fm.Contains(-0.5); err != nil || ok {
				t.Fatalf("%s: key %d ns %q removed float key -0.5 still there (%v)", when, k, ns, err)
			}
		})
	}
	subs := e.open(2, nil)
	each(subs, func(m state.MapState[int64, string], fm state.MapState[float64, int64], k int64, ns string) {
		for _, uk := range uks {
			must(t, m.Put(uk, val(k, ns, uk)))
		}
		must(t, m.Remove(gone(k)))
		must(t, m.Remove(12345)) // absent: a no-op
		must(t, fm.Put(math.Inf(-1), k))
		must(t, fm.Put(-0.5, k))
		must(t, fm.Remove(-0.5))
	})
	check(subs, "live")
	h := e.checkpoint(subs, backend.SnapshotOptions{})
	closeAll(subs)
	subs = e.open(3, h)
	check(subs, "restored at parallelism 3")
	closeAll(subs)
}

// testWordWrongType: the erased API of a word-typed state rejects a value of another type, as
// the serializer does for boxed states, and a rejected write leaves the state as it was.
func testWordWrongType(t *testing.T, f Factory) {
	_, s := single(t, f)
	setKey(t, s, 1)
	create := func(d state.Descriptor) backend.State {
		in, err := s.kb.CreateState(d.Spec())
		must(t, err)
		return in
	}
	v := create(state.ValueDescriptor[int64]{Name: "v"}).(backend.Value)
	l := create(state.ListDescriptor[int64]{Name: "l"}).(backend.List)
	must(t, v.Update(int64(7)))
	must(t, l.Update([]any{int64(7)}))
	for name, err := range map[string]error{
		"value Update":  v.Update("seven"),
		"list Add":      l.Add("seven"),
		"list AddAll":   l.AddAll([]any{int64(8), "seven"}),
		"list Update":   l.Update([]any{int64(8), "seven"}),
		"value Update2": v.Update(7), // an int is not an int64
	} {
		if err == nil {
			t.Errorf("%s with a wrong type: no error", name)
		}
	}
	if got, ok, err := v.Value(); err != nil || !ok || got != int64(7) {
		t.Errorf("value after rejected writes = %v,%v,%v, want 7", got, ok, err)
	}
	if got, err := l.Get(); err != nil || len(got) != 1 || got[0] != int64(7) {
		t.Errorf("list after rejected writes = %v,%v, want [7]", got, err)
	}
}

// CheckWordPaths fails unless the backend f creates offers the unboxed paths for word-sized
// types (backend.WordValue, backend.WordList, backend.WordKeyMap) and only for them.
// It is not part of Run: a backend is correct without them, only slower.
func CheckWordPaths(t *testing.T, f Factory) {
	_, s := single(t, f)
	create := func(d state.Descriptor) backend.State {
		in, err := s.kb.CreateState(d.Spec())
		must(t, err)
		return in
	}
	for _, tc := range []struct {
		d    state.Descriptor
		want bool
		is   func(backend.State) bool
	}{
		{state.ValueDescriptor[int64]{Name: "v"}, true, isA[backend.WordValue]},
		{state.ReducingDescriptor[float64]{Name: "r", Reduce: func(a, b float64) (float64, error) { return a + b, nil }}, true, isA[backend.WordValue]},
		{state.ValueDescriptor[string]{Name: "vs"}, false, isA[backend.WordValue]},
		{state.ListDescriptor[time.Duration]{Name: "l"}, true, isA[backend.WordList]},
		{state.ListDescriptor[string]{Name: "ls"}, false, isA[backend.WordList]},
		{state.MapDescriptor[int64, string]{Name: "m"}, true, isA[backend.WordKeyMap]},
		{state.MapDescriptor[string, int64]{Name: "ms"}, false, isA[backend.WordKeyMap]},
	} {
		if got := tc.is(create(tc.d)); got != tc.want {
			t.Errorf("state %q (%T): word path offered = %v, want %v", tc.d.Spec().Name, tc.d, got, tc.want)
		}
	}
}

func isA[I any](in backend.State) bool { _, ok := in.(I); return ok }

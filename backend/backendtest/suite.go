package backendtest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// Run runs the conformance suite against the backends f creates. A backend is done when this
// passes.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"Value", testValue},
		{"List", testList},
		{"Map", testMap},
		{"MapRemoveWhileIterating", testMapRemoveWhileIterating},
		{"Reducing", testReducing},
		{"Aggregating", testAggregating},
		{"MergeNamespaces", testMergeNamespaces},
		{"MutableValuesInSnapshots", testMutableValues},
		{"MutableValuesMergedInSnapshots", testMutableMerge},
		{"Keys", testKeys},
		{"CurrentKey", testCurrentKey},
		{"Closed", testClosed},
		{"Errors", testErrors},
		{"EmptyValues", testEmptyValues},
		{"WordValues", testWordValues},
		{"WordKeyMaps", testWordKeyMaps},
		{"WordWrongType", testWordWrongType},
		{"LargeValue", testLargeValue},
		{"SnapshotRestore", testSnapshotRestore},
		{"EmptySnapshot", testEmptySnapshot},
		{"SubtaskWithoutStateRescale", testSubtaskWithoutState},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"ConcurrentAsyncPhase", testConcurrentAsyncPhase},
		{"Rescale", testRescale},
		{"RescaleReadsOnlyOwnedKeyGroups", testRescaleReadsOnlyOwned},
		{"RestoredStateKeptUntilRegistered", testUnregisteredRestoredState},
		{"IncompatibleSerializer", testIncompatibleSerializer},
		{"CorruptAndTruncated", testCorrupt},
		{"TimerQueue", testTimerQueue},
		{"TimersRescale", testTimersRescale},
		{"RandomizedModel", testModel},
		{"LiveStateAcrossSnapshots", testLiveStateAcrossSnapshots},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get[V any](t testing.TB, s interface{ Value() (V, bool, error) }) (V, bool) {
	t.Helper()
	v, ok, err := s.Value()
	must(t, err)
	return v, ok
}

func collect[V any](t testing.TB, seq func(func(V, error) bool)) []V {
	t.Helper()
	var out []V
	for v, err := range seq {
		must(t, err)
		out = append(out, v)
	}
	return out
}

var (
	valueDesc = state.ValueDescriptor[string]{Name: "value"}
	listDesc  = state.ListDescriptor[int64]{Name: "list"}
	mapDesc   = state.MapDescriptor[string, int64]{Name: "map"}
	wmapDesc  = state.MapDescriptor[int64, int64]{Name: "wmap"}
	sumDesc   = state.ReducingDescriptor[int64]{Name: "sum", Reduce: func(a, b int64) (int64, error) { return a + b, nil }}
	avgDesc   = state.AggregatingDescriptor[int64, avgAcc, float64]{Name: "avg", Function: avgFn{}}
)

type avgAcc struct{ Sum, N int64 }

type avgFn struct{}

func (avgFn) CreateAccumulator() avgAcc                 { return avgAcc{} }
func (avgFn) Add(v int64, a avgAcc) (avgAcc, error)     { return avgAcc{a.Sum + v, a.N + 1}, nil }
func (avgFn) GetResult(a avgAcc) (float64, error)       { return float64(a.Sum) / float64(a.N), nil }
func (avgFn) Merge(a, b avgAcc) (avgAcc, error)         { return avgAcc{a.Sum + b.Sum, a.N + b.N}, nil }
func single(t *testing.T, f Factory) (*env, *subtask)   { e := newEnv(t, f); return e, e.open(1, nil)[0] }
func setKey(t testing.TB, s *subtask, k int64)          { t.Helper(); must(t, s.kb.SetCurrentKey(k)) }
func nsBytes(s string) []byte                           { return []byte(s) }
func sorted[T interface{ ~int64 | ~string }](v []T) []T { slices.Sort(v); return v }

func testValue(t *testing.T, f Factory) {
	_, s := single(t, f)
	v, err := state.GetValueState(s.kb, valueDesc)
	must(t, err)
	setKey(t, s, 1)
	if _, ok := get[string](t, v); ok {
		t.Fatal("fresh value state has a value")
	}
	must(t, v.Update("one"))
	setKey(t, s, 2)
	if _, ok := get[string](t, v); ok {
		t.Fatal("value leaked to another key")
	}
	must(t, v.Update("two"))
	v.SetNamespace(nsBytes("w1"))
	if _, ok := get[string](t, v); ok {
		t.Fatal("value leaked to another namespace")
	}
	must(t, v.Update("two-w1"))
	v.SetNamespace(nil)
	setKey(t, s, 1)
	if got, _ := get[string](t, v); got != "one" {
		t.Fatalf("key 1 = %q, want one", got)
	}
	must(t, v.Update("uno"))
	if got, _ := get[string](t, v); got != "uno" {
		t.Fatalf("after overwrite = %q", got)
	}
	must(t, v.Clear())
	if _, ok := get[string](t, v); ok {
		t.Fatal("Clear left a value")
	}
	must(t, v.Clear()) // clearing nothing is fine
	setKey(t, s, 2)
	if got, _ := get[string](t, v); got != "two" {
		t.Fatalf("Clear of key 1 removed key 2's value: %q", got)
	}
	v.SetNamespace(nsBytes("w1"))
	if got, _ := get[string](t, v); got != "two-w1" {
		t.Fatalf("namespace w1 = %q", got)
	}
	// The same descriptor returns the same state (sharing its namespace, as in Flink).
	v2, err := state.GetValueState(s.kb, valueDesc)
	must(t, err)
	v2.SetNamespace(nil)
	if got, _ := get[string](t, v2); got != "two" {
		t.Fatalf("second handle reads %q", got)
	}
}

// testList runs the list semantics on int64 elements (which the hashmap backend keeps
// unboxed, as words) and on strings (boxed).
func testList(t *testing.T, f Factory) {
	t.Run("int64", func(t *testing.T) { listSemantics(t, f, listDesc, func(i int64) int64 { return i }) })
	t.Run("string", func(t *testing.T) {
		listSemantics(t, f, state.ListDescriptor[string]{Name: "list"}, func(i int64) string { return strconv.FormatInt(i, 10) })
	})
}

func listSemantics[V comparable](t *testing.T, f Factory, d state.ListDescriptor[V], of func(int64) V) {
	_, s := single(t, f)
	l, err := state.GetListState(s.kb, d)
	must(t, err)
	setKey(t, s, 7)
	vs := func(is ...int64) []V {
		out := make([]V, len(is))
		for i, x := range is {
			out[i] = of(x)
		}
		return out
	}
	if got := collect(t, l.Get()); len(got) != 0 {
		t.Fatalf("fresh list = %v", got)
	}
	must(t, l.Add(of(1)))
	must(t, l.Add(of(2)))
	must(t, l.AddAll(vs(3, 4)))
	must(t, l.AddAll(nil))
	if got := collect(t, l.Get()); !slices.Equal(got, vs(1, 2, 3, 4)) {
		t.Fatalf("list = %v", got)
	}
	// Breaking out of the iteration early is fine.
	for range l.Get() {
		break
	}
	// The list does not alias what Update and AddAll were given.
	in := vs(9, 8)
	must(t, l.Update(in))
	in[0] = of(0)
	if got := collect(t, l.Get()); !slices.Equal(got, vs(9, 8)) {
		t.Fatalf("after Update = %v", got)
	}
	more := vs(7)
	must(t, l.AddAll(more))
	more[0] = of(0)
	if got := collect(t, l.Get()); !slices.Equal(got, vs(9, 8, 7)) {
		t.Fatalf("after AddAll = %v", got)
	}
	l.SetNamespace(nsBytes("other"))
	if got := collect(t, l.Get()); len(got) != 0 {
		t.Fatalf("other namespace = %v", got)
	}
	// Nor when AddAll starts an empty list.
	first := vs(6)
	must(t, l.AddAll(first))
	first[0] = of(0)
	if got := collect(t, l.Get()); !slices.Equal(got, vs(6)) {
		t.Fatalf("AddAll on an empty list = %v", got)
	}
	must(t, l.Clear())
	l.SetNamespace(nil)
	must(t, l.Update(nil))
	if got := collect(t, l.Get()); len(got) != 0 {
		t.Fatalf("Update(nil) left %v", got)
	}
	must(t, l.Add(of(5)))
	must(t, l.Clear())
	if got := collect(t, l.Get()); len(got) != 0 {
		t.Fatalf("Clear left %v", got)
	}
	// Many elements keep their order.
	var want []V
	for i := int64(0); i < 1000; i++ {
		must(t, l.Add(of(i)))
		want = append(want, of(i))
	}
	if got := collect(t, l.Get()); !slices.Equal(got, want) {
		t.Fatal("1000 elements out of order")
	}
}

func testMap(t *testing.T, f Factory) {
	_, s := single(t, f)
	m, err := state.GetMapState(s.kb, mapDesc)
	must(t, err)
	setKey(t, s, 3)
	if empty, err := m.IsEmpty(); err != nil || !empty {
		t.Fatalf("fresh map IsEmpty = %v, %v", empty, err)
	}
	if _, ok, err := m.Get("a"); err != nil || ok {
		t.Fatal("fresh map has a")
	}
	must(t, m.Put("a", 1))
	must(t, m.PutAll(map[string]int64{"b": 2, "c": 3, "": 0}))
	must(t, m.Put("a", 10))
	if v, ok, _ := m.Get("a"); !ok || v != 10 {
		t.Fatalf("a = %d, %v", v, ok)
	}
	if ok, _ := m.Contains(""); !ok {
		t.Fatal("empty user key missing")
	}
	if ok, _ := m.Contains("zz"); ok {
		t.Fatal("Contains(zz)")
	}
	got := map[string]int64{}
	for e, err := range m.All() {
		must(t, err)
		got[e.Key] = e.Value
	}
	if want := map[string]int64{"a": 10, "b": 2, "c": 3, "": 0}; !maps.Equal(got, want) {
		t.Fatalf("All = %v, want %v", got, want)
	}
	if keys := sorted(collect(t, m.Keys())); !slices.Equal(keys, []string{"", "a", "b", "c"}) {
		t.Fatalf("Keys = %q", keys)
	}
	if vals := sorted(collect(t, m.Values())); !slices.Equal(vals, []int64{0, 2, 3, 10}) {
		t.Fatalf("Values = %v", vals)
	}
	must(t, m.Remove("b"))
	must(t, m.Remove("nope"))
	if ok, _ := m.Contains("b"); ok {
		t.Fatal("Remove did not remove")
	}
	setKey(t, s, 4)
	if empty, _ := m.IsEmpty(); !empty {
		t.Fatal("map leaked to key 4")
	}
	setKey(t, s, 3)
	for _, k := range []string{"a", "c", ""} {
		must(t, m.Remove(k))
	}
	if empty, _ := m.IsEmpty(); !empty {
		t.Fatal("map not empty after removing everything")
	}
	must(t, m.Put("x", 1))
	must(t, m.Clear())
	if empty, _ := m.IsEmpty(); !empty {
		t.Fatal("Clear left entries")
	}
}

func testReducing(t *testing.T, f Factory) {
	_, s := single(t, f)
	r, err := state.GetReducingState(s.kb, sumDesc)
	must(t, err)
	setKey(t, s, 1)
	if _, ok, _ := r.Get(); ok {
		t.Fatal("fresh reducing state has a value")
	}
	for i := int64(1); i <= 10; i++ {
		must(t, r.Add(i))
	}
	if v, ok, _ := r.Get(); !ok || v != 55 {
		t.Fatalf("sum = %d", v)
	}
	must(t, r.Clear())
	if _, ok, _ := r.Get(); ok {
		t.Fatal("Clear left a value")
	}
	if _, err := state.GetReducingState(s.kb, state.ReducingDescriptor[int64]{Name: "noreduce"}); err == nil {
		t.Fatal("descriptor without Reduce accepted")
	}
}

func testAggregating(t *testing.T, f Factory) {
	_, s := single(t, f)
	a, err := state.GetAggregatingState(s.kb, avgDesc)
	must(t, err)
	setKey(t, s, 1)
	if _, ok, _ := a.Get(); ok {
		t.Fatal("fresh aggregating state has a result")
	}
	for _, v := range []int64{2, 4, 9} {
		must(t, a.Add(v))
	}
	if v, ok, _ := a.Get(); !ok || v != 5 {
		t.Fatalf("avg = %v", v)
	}
	must(t, a.Clear())
	if _, ok, _ := a.Get(); ok {
		t.Fatal("Clear left a value")
	}
}

func testMergeNamespaces(t *testing.T, f Factory) {
	_, s := single(t, f)
	l, err := state.GetListState(s.kb, listDesc)
	must(t, err)
	r, err := state.GetReducingState(s.kb, sumDesc)
	must(t, err)
	a, err := state.GetAggregatingState(s.kb, avgDesc)
	must(t, err)
	setKey(t, s, 1)
	for i, ns := range []string{"w1", "w2", "w3"} {
		for _, st := range []state.State{l, r, a} {
			st.SetNamespace(nsBytes(ns))
		}
		must(t, l.AddAll([]int64{int64(i), int64(10 + i)}))
		must(t, r.Add(int64(i+1)))
		must(t, a.Add(int64(i+1)))
	}
	// Current namespace is w3; merge w1 and w2 into a fresh target "t" and into existing w3.
	sources := [][]byte{nsBytes("w1"), nsBytes("w2")}
	must(t, l.MergeNamespaces(nsBytes("w3"), sources))
	must(t, r.MergeNamespaces(nsBytes("t"), sources))
	must(t, a.MergeNamespaces(nsBytes("w3"), sources))
	// Current namespace unchanged (w3).
	if got := sorted(collect(t, l.Get())); !slices.Equal(got, []int64{0, 1, 2, 10, 11, 12}) {
		t.Fatalf("merged list = %v", got)
	}
	if v, _, _ := a.Get(); v != 2 {
		t.Fatalf("merged avg = %v, want 2", v)
	}
	if v, _, _ := r.Get(); v != 3 {
		t.Fatalf("reducing w3 changed: %d", v)
	}
	r.SetNamespace(nsBytes("t"))
	if v, ok, _ := r.Get(); !ok || v != 3 {
		t.Fatalf("merged sum into t = %d, %v; want 3", v, ok)
	}
	for _, ns := range sources {
		for _, st := range []state.State{l, r, a} {
			st.SetNamespace(ns)
		}
		if got := collect(t, l.Get()); len(got) != 0 {
			t.Fatalf("source %s list not cleared: %v", ns, got)
		}
		if _, ok, _ := r.Get(); ok {
			t.Fatalf("source %s reducing not cleared", ns)
		}
		if _, ok, _ := a.Get(); ok {
			t.Fatalf("source %s aggregating not cleared", ns)
		}
	}
	// Merging only empty namespaces creates nothing.
	must(t, r.MergeNamespaces(nsBytes("empty"), [][]byte{nsBytes("none1"), nsBytes("none2")}))
	r.SetNamespace(nsBytes("empty"))
	if _, ok, _ := r.Get(); ok {
		t.Fatal("merge of empty namespaces produced a value")
	}
}

func testKeys(t *testing.T, f Factory) {
	_, s := single(t, f)
	v, err := state.GetValueState(s.kb, valueDesc)
	must(t, err)
	want := map[string][]int64{}
	for k := int64(-50); k < 50; k++ {
		setKey(t, s, k)
		ns := "a"
		if k%3 == 0 {
			ns = "b"
		}
		v.SetNamespace(nsBytes(ns))
		must(t, v.Update(fmt.Sprint(k)))
		want[ns] = append(want[ns], k)
	}
	setKey(t, s, 1000)
	v.SetNamespace(nsBytes("a"))
	must(t, v.Update("x"))
	must(t, v.Clear()) // a cleared key has no state
	for ns, keys := range want {
		got := sorted(collect(t, s.kb.Keys(valueDesc.Name, nsBytes(ns))))
		if !slices.Equal(got, sorted(keys)) {
			t.Fatalf("Keys(%s) = %v, want %v", ns, got, keys)
		}
	}
	if got := collect(t, s.kb.Keys(valueDesc.Name, nil)); len(got) != 0 {
		t.Fatalf("Keys(void) = %v", got)
	}
	for _, err := range s.kb.Keys("no-such-state", nil) {
		if !errors.Is(err, backend.ErrUnknownState) {
			t.Fatalf("Keys of unknown state: %v", err)
		}
	}
}

func testErrors(t *testing.T, f Factory) {
	e := newEnv(t, f)
	s := e.open(2, nil)[0] // owns half the key groups
	v, err := state.GetValueState(s.kb, valueDesc)
	must(t, err)
	if _, _, err := v.Value(); !errors.Is(err, state.ErrNoCurrentKey) {
		t.Fatalf("Value without key: %v", err)
	}
	if err := v.Update("x"); !errors.Is(err, state.ErrNoCurrentKey) {
		t.Fatalf("Update without key: %v", err)
	}
	var foreign int64
	for k := int64(0); ; k++ {
		kg, err := s.kb.KeyGroupOf(k)
		must(t, err)
		if !s.b.KeyGroupRange().Contains(kg) {
			foreign = k
			break
		}
	}
	setKey(t, s, 0)
	must(t, v.Update("owned"))
	if err := s.kb.SetCurrentKey(foreign); !errors.Is(err, backend.ErrKeyGroupNotOwned) {
		t.Fatalf("SetCurrentKey(foreign) = %v", err)
	}
	// A failed SetCurrentKey leaves no current key, not the previous one.
	if err := v.Update("x"); !errors.Is(err, state.ErrNoCurrentKey) {
		t.Fatalf("Update after a failed SetCurrentKey: %v", err)
	}
	if _, err := state.GetListState(s.kb, state.ListDescriptor[string]{Name: valueDesc.Name}); !errors.Is(err, state.ErrStateConflict) {
		t.Fatalf("re-register as list: %v", err)
	}
	if _, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: valueDesc.Name}); !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("re-register with another serializer: %v", err)
	}
	if _, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{}); err == nil {
		t.Fatal("empty state name accepted")
	}
	if _, err := state.NewKeyedBackend[string](s.b, serde.String{}); !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("wrong key serializer: %v", err)
	}
}

// testCurrentKey checks what the KeyedBackend reports of the current key, whichever way the
// backend takes it (bytes or, for 8-byte keys, a word): its bytes and key group, unchanged by
// computing another key's group, and no current key after a failed SetCurrentKey.
func testCurrentKey(t *testing.T, f Factory) {
	e := newEnv(t, f)
	s := e.open(2, nil)[0]
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	var owned, foreign []int64
	for k := int64(-5); len(owned) < 5 || len(foreign) < 1; k++ {
		kg, err := s.kb.KeyGroupOf(k)
		must(t, err)
		if want := keygroup.Of(mustAppendKey(t, k), s.b.MaxParallelism()); kg != want {
			t.Fatalf("KeyGroupOf(%d) = %d, keygroup.Of says %d", k, kg, want)
		}
		if s.b.KeyGroupRange().Contains(kg) {
			owned = append(owned, k)
		} else {
			foreign = append(foreign, k)
		}
	}
	for _, k := range owned {
		setKey(t, s, k)
		must(t, v.Update(k))
		if _, err := s.kb.KeyGroupOf(foreign[0]); err != nil {
			t.Fatal(err)
		}
		raw, kg, ok := s.kb.CurrentKeyBytes()
		want := mustAppendKey(t, k)
		if !ok || string(raw) != string(want) || kg != keygroup.Of(want, s.b.MaxParallelism()) {
			t.Fatalf("key %d: CurrentKeyBytes = %x, %d, %v; want %x, %d", k, raw, kg, ok, want, keygroup.Of(want, s.b.MaxParallelism()))
		}
		if got, ok := s.kb.CurrentKey(); !ok || got != k {
			t.Fatalf("CurrentKey = %d, %v; want %d", got, ok, k)
		}
	}
	for _, k := range owned {
		must(t, s.kb.SetCurrentKeyBytes(mustAppendKey(t, k)))
		if got, ok := get[int64](t, v); !ok || got != k {
			t.Fatalf("key %d set from bytes: value %d, %v", k, got, ok)
		}
	}
	// SetCurrentKeyRouted, given what a keyed edge carries (the word key's bytes or none,
	// and its key group), scopes state as SetCurrentKey does.
	maxP := s.b.MaxParallelism()
	for _, k := range owned {
		want := mustAppendKey(t, k)
		for _, raw := range [][]byte{want, nil} {
			must(t, s.kb.SetCurrentKeyRouted(k, raw, keygroup.Of(want, maxP)))
			if got, ok := get[int64](t, v); !ok || got != k {
				t.Fatalf("key %d routed with bytes %x: value %d, %v", k, raw, got, ok)
			}
			got, kg, ok := s.kb.CurrentKeyBytes()
			if !ok || string(got) != string(want) || kg != keygroup.Of(want, maxP) {
				t.Fatalf("key %d routed: CurrentKeyBytes = %x, %d, %v; want %x", k, got, kg, ok, want)
			}
			if got, ok := s.kb.CurrentKey(); !ok || got != k {
				t.Fatalf("key %d routed: CurrentKey = %d, %v", k, got, ok)
			}
		}
	}
	// A misrouted record fails loudly and leaves no current key.
	raw := mustAppendKey(t, foreign[0])
	if err := s.kb.SetCurrentKeyRouted(foreign[0], raw, keygroup.Of(raw, maxP)); !errors.Is(err, backend.ErrKeyGroupNotOwned) {
		t.Fatalf("SetCurrentKeyRouted(%d) outside the range = %v", foreign[0], err)
	}
	if err := v.Update(1); !errors.Is(err, state.ErrNoCurrentKey) {
		t.Fatalf("Update after a misrouted key: %v", err)
	}
	setKey(t, s, owned[0])
	if err := s.kb.SetCurrentKey(foreign[0]); !errors.Is(err, backend.ErrKeyGroupNotOwned) {
		t.Fatalf("SetCurrentKey(%d) outside the range = %v", foreign[0], err)
	}
	if _, _, ok := s.kb.CurrentKeyBytes(); ok {
		t.Fatal("CurrentKeyBytes reports a key after a failed SetCurrentKey")
	}
}

// testClosed: after Close, the backend and every state still held fail with backend.ErrClosed
// rather than reading or writing state that is gone, whatever key is set afterwards.
func testClosed(t *testing.T, f Factory) {
	_, s := single(t, f)
	h := states(t, s)
	setKey(t, s, 1)
	must(t, h.v.Update("a"))
	must(t, h.l.Update([]int64{1}))
	must(t, h.m.Put("k", 1))
	must(t, h.w.Put(1, 1))
	must(t, h.r.Add(1))
	must(t, s.b.Close())
	if err := s.kb.SetCurrentKey(1); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("SetCurrentKey after Close = %v, want ErrClosed", err)
	}
	if err := s.kb.SetCurrentKeyBytes(mustAppendKey(t, 1)); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("SetCurrentKeyBytes after Close = %v, want ErrClosed", err)
	}
	checks := map[string]error{
		"ValueState.Value":  func() error { _, _, err := h.v.Value(); return err }(),
		"ValueState.Update": h.v.Update("b"),
		"ListState.Add":     h.l.Add(2),
		"ListState.Update":  h.l.Update([]int64{2}),
		"MapState.Get":      func() error { _, _, err := h.m.Get("k"); return err }(),
		"MapState.Put":      h.m.Put("k", 2),
		"word MapState.Get": func() error { _, _, err := h.w.Get(1); return err }(),
		"word MapState.Put": h.w.Put(1, 2),
		"ReducingState.Add": h.r.Add(2),
		"ReducingState.Get": func() error { _, _, err := h.r.Get(); return err }(),
	}
	for name, err := range checks {
		if !errors.Is(err, backend.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if _, err := s.b.Snapshot(1, backend.SnapshotOptions{}); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Snapshot after Close = %v, want ErrClosed", err)
	}
	if _, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "new"}); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("registering a state after Close = %v, want ErrClosed", err)
	}
}

func mustAppendKey(t testing.TB, k int64) []byte {
	t.Helper()
	b, err := serde.AppendKey(serde.Int64{}, nil, k)
	must(t, err)
	return b
}

func testEmptyValues(t *testing.T, f Factory) {
	e, s := single(t, f)
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[[]byte]{Name: "bytes"})
	must(t, err)
	l, err := state.GetListState(s.kb, state.ListDescriptor[string]{Name: "strings"})
	must(t, err)
	m, err := state.GetMapState(s.kb, state.MapDescriptor[string, string]{Name: "smap"})
	must(t, err)
	setKey(t, s, 0)
	must(t, v.Update([]byte{}))
	must(t, l.AddAll([]string{"", "", "x"}))
	must(t, m.Put("", ""))
	check := func(s *subtask, v state.ValueState[[]byte], l state.ListState[string], m state.MapState[string, string]) {
		t.Helper()
		setKey(t, s, 0)
		if got, ok := get[[]byte](t, v); !ok || len(got) != 0 {
			t.Fatalf("empty value: %v %v", got, ok)
		}
		if got := collect(t, l.Get()); !slices.Equal(got, []string{"", "", "x"}) {
			t.Fatalf("list of empties = %q", got)
		}
		if got, ok, _ := m.Get(""); !ok || got != "" {
			t.Fatal("empty map entry lost")
		}
	}
	check(s, v, l, m)
	h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{})
	r := e.open(1, h)[0]
	v2, _ := state.GetValueState(r.kb, state.ValueDescriptor[[]byte]{Name: "bytes"})
	l2, _ := state.GetListState(r.kb, state.ListDescriptor[string]{Name: "strings"})
	m2, _ := state.GetMapState(r.kb, state.MapDescriptor[string, string]{Name: "smap"})
	check(r, v2, l2, m2)
}

func testLargeValue(t *testing.T, f Factory) {
	if testing.Short() {
		t.Skip("64 MiB value")
	}
	e, s := single(t, f)
	d := state.ValueDescriptor[[]byte]{Name: "big"}
	v, err := state.GetValueState(s.kb, d)
	must(t, err)
	pattern := make([]byte, 4093) // odd size, so blocks do not repeat at power-of-two offsets
	for i := range pattern {
		pattern[i] = byte(i * 7 >> 3)
	}
	big := make([]byte, 0, 64<<20+3)
	for len(big) < cap(big) {
		big = append(big, pattern[:min(len(pattern), cap(big)-len(big))]...)
	}
	setKey(t, s, 42)
	must(t, v.Update(big))
	for _, comp := range []checkpoint.Compression{checkpoint.CompressionNone, checkpoint.CompressionSnappy} {
		h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Compression: comp})
		r := e.open(1, h)[0]
		v2, err := state.GetValueState(r.kb, d)
		must(t, err)
		setKey(t, r, 42)
		if got, _ := get[[]byte](t, v2); !bytes.Equal(got, big) {
			t.Fatalf("64 MiB value differs after restore (compression %q): len %d", comp, len(got))
		}
		r.b.Close()
	}
}

// fill writes a known data set over all state kinds for keys [0, n) and returns a checker.
func fill(t testing.TB, subs []*subtask, n int64) {
	t.Helper()
	for k := int64(0); k < n; k++ {
		s := route(subs, k)
		setKey(t, s, k)
		v, _ := state.GetValueState(s.kb, valueDesc)
		l, _ := state.GetListState(s.kb, listDesc)
		m, _ := state.GetMapState(s.kb, mapDesc)
		r, _ := state.GetReducingState(s.kb, sumDesc)
		a, _ := state.GetAggregatingState(s.kb, avgDesc)
		must(t, v.Update(fmt.Sprint("v", k)))
		must(t, l.AddAll([]int64{k, k * 2}))
		must(t, m.Put(fmt.Sprint("u", k%5), k))
		must(t, r.Add(k))
		must(t, a.Add(k))
		v.SetNamespace(nsBytes("w"))
		must(t, v.Update(fmt.Sprint("w", k)))
		v.SetNamespace(nil)
	}
}

func verify(t testing.TB, subs []*subtask, n int64) {
	t.Helper()
	for k := int64(0); k < n; k++ {
		s := route(subs, k)
		setKey(t, s, k)
		v, err := state.GetValueState(s.kb, valueDesc)
		must(t, err)
		l, err := state.GetListState(s.kb, listDesc)
		must(t, err)
		m, err := state.GetMapState(s.kb, mapDesc)
		must(t, err)
		r, err := state.GetReducingState(s.kb, sumDesc)
		must(t, err)
		a, err := state.GetAggregatingState(s.kb, avgDesc)
		must(t, err)
		v.SetNamespace(nil)
		if got, _ := get[string](t, v); got != fmt.Sprint("v", k) {
			t.Fatalf("key %d value = %q", k, got)
		}
		v.SetNamespace(nsBytes("w"))
		if got, _ := get[string](t, v); got != fmt.Sprint("w", k) {
			t.Fatalf("key %d value in w = %q", k, got)
		}
		v.SetNamespace(nil)
		if got := collect(t, l.Get()); !slices.Equal(got, []int64{k, 2 * k}) {
			t.Fatalf("key %d list = %v", k, got)
		}
		if got, ok, _ := m.Get(fmt.Sprint("u", k%5)); !ok || got != k {
			t.Fatalf("key %d map = %d %v", k, got, ok)
		}
		if got, _, _ := r.Get(); got != k {
			t.Fatalf("key %d sum = %d", k, got)
		}
		if got, _, _ := a.Get(); got != float64(k) {
			t.Fatalf("key %d avg = %v", k, got)
		}
	}
	// No subtask holds a key it does not own.
	for i, s := range subs {
		for k, err := range s.kb.Keys(valueDesc.Name, nil) {
			must(t, err)
			if route(subs, k) != s || k < 0 || k >= n {
				t.Fatalf("subtask %d holds key %d it does not own", i, k)
			}
		}
	}
}

func testSnapshotRestore(t *testing.T, f Factory) {
	for _, comp := range []checkpoint.Compression{checkpoint.CompressionNone, checkpoint.CompressionSnappy} {
		t.Run(fmt.Sprintf("compression=%q", comp), func(t *testing.T) {
			e, s := single(t, f)
			fill(t, []*subtask{s}, 500)
			h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Compression: comp})
			verify(t, e.open(1, h), 500)
			// A savepoint restores the same.
			hs := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Compression: comp, Savepoint: true})
			verify(t, e.open(1, hs), 500)
		})
	}
}

// testSnapshotIsolation: what is written after the synchronous phase is not in the snapshot.
func testSnapshotIsolation(t *testing.T, f Factory) {
	e, s := single(t, f)
	fill(t, []*subtask{s}, 200)
	p, err := e.cps.Begin(100)
	must(t, err)
	snap, err := s.b.Snapshot(100, backend.SnapshotOptions{})
	must(t, err)
	v, _ := state.GetValueState(s.kb, valueDesc)
	l, _ := state.GetListState(s.kb, listDesc)
	m, _ := state.GetMapState(s.kb, mapDesc)
	for k := int64(0); k < 300; k++ {
		setKey(t, s, k)
		must(t, v.Update("changed"))
		must(t, l.Add(-1))
		must(t, m.Put("new", -1))
		if k%2 == 0 {
			must(t, m.Clear())
			must(t, l.Clear())
		}
	}
	h, err := snap.Run(e.ctx, p)
	must(t, err)
	must(t, p.Complete(e.ctx, &checkpoint.Metadata{Operators: []*checkpoint.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: MaxP, Keyed: []*checkpoint.KeyedStateHandle{h}}}}))
	r := e.open(1, []*checkpoint.KeyedStateHandle{h})
	verify(t, r, 200)
	// The live state has the changes.
	setKey(t, s, 1)
	if got, _ := get[string](t, v); got != "changed" {
		t.Fatalf("live value = %q", got)
	}
}

// testConcurrentAsyncPhase mutates heavily while the asynchronous phase runs on another
// goroutine (run with -race) and checks the snapshot equals the state at the sync point.
func testConcurrentAsyncPhase(t *testing.T, f Factory) {
	e, s := single(t, f)
	const n = 3000
	fill(t, []*subtask{s}, n)
	p, err := e.cps.Begin(200)
	must(t, err)
	snap, err := s.b.Snapshot(200, backend.SnapshotOptions{Compression: checkpoint.CompressionSnappy})
	must(t, err)
	var h *checkpoint.KeyedStateHandle
	var runErr error
	var wg sync.WaitGroup
	wg.Go(func() { h, runErr = snap.Run(e.ctx, p) })
	v, _ := state.GetValueState(s.kb, valueDesc)
	l, _ := state.GetListState(s.kb, listDesc)
	m, _ := state.GetMapState(s.kb, mapDesc)
	r, _ := state.GetReducingState(s.kb, sumDesc)
	for round := 0; round < 3; round++ {
		for k := int64(0); k < n+100; k++ {
			setKey(t, s, k)
			must(t, v.Update(fmt.Sprint("changed", round)))
			must(t, l.Add(int64(round)))
			must(t, m.Put(fmt.Sprint("u", k%5), -k))
			must(t, m.Put("extra", 1))
			must(t, r.Add(1))
			if k%7 == 0 {
				must(t, v.Clear())
				must(t, m.Remove("extra"))
			}
		}
	}
	wg.Wait()
	must(t, runErr)
	must(t, p.Complete(e.ctx, &checkpoint.Metadata{Operators: []*checkpoint.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: MaxP, Keyed: []*checkpoint.KeyedStateHandle{h}}}}))
	verify(t, e.open(1, []*checkpoint.KeyedStateHandle{h}), n)
}

func testRescale(t *testing.T, f Factory) {
	e := newEnv(t, f)
	const n = 2000
	subs := e.open(1, nil)
	fill(t, subs, n)
	h := e.checkpoint(subs, backend.SnapshotOptions{Compression: checkpoint.CompressionSnappy})
	for _, p := range []int{3, 2, 1} {
		closeAll(subs)
		subs = e.open(p, h)
		verify(t, subs, n)
		h = e.checkpoint(subs, backend.SnapshotOptions{})
	}
	closeAll(subs)
}

// testRescaleReadsOnlyOwned: a subtask restoring a third of the key groups reads about a
// third of the bytes, by offsets, not whole files.
func testRescaleReadsOnlyOwned(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(1, nil)
	fill(t, subs, 3000)
	h := e.checkpoint(subs, backend.SnapshotOptions{Savepoint: true})
	closeAll(subs)
	total := h[0].File.Size
	e.counter.Reset()
	part := e.open(4, h)
	read := e.counter.Reset()
	verify(t, part, 3000)
	// Four subtasks together read the file once (plus a header each).
	if read > total+4*64 || read < total-4*64 {
		t.Fatalf("4 subtasks read %d bytes of a %d-byte snapshot; want each byte once", read, total)
	}
	closeAll(part)
	e.counter.Reset()
	r := keygroup.RangeFor(MaxP, 4, 1)
	must(t, e.restoreErr(h, r))
	read = e.counter.Reset()
	if read > total/4+total/20+64 {
		t.Fatalf("restoring 1/4 of the key groups read %d of %d bytes", read, total)
	}
}

// testUnregisteredRestoredState: a restored state nobody registers again is carried into the
// next snapshot unchanged.
func testUnregisteredRestoredState(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(1, nil)
	fill(t, subs, 100)
	h := e.checkpoint(subs, backend.SnapshotOptions{})
	mid := e.open(2, h) // registers nothing
	h2 := e.checkpoint(mid, backend.SnapshotOptions{})
	verify(t, e.open(1, h2), 100)
}

func testIncompatibleSerializer(t *testing.T, f Factory) {
	e, s := single(t, f)
	fill(t, []*subtask{s}, 10)
	h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{})
	r := e.open(1, h)[0]
	_, err := state.GetValueState(r.kb, state.ValueDescriptor[int64]{Name: valueDesc.Name})
	if !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("restored with int64 serializer: %v", err)
	}
	for _, want := range []string{valueDesc.Name, "string", "int64"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
	_, err = state.GetMapState(r.kb, state.MapDescriptor[int64, int64]{Name: mapDesc.Name})
	if !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("map restored with another user key serializer: %v", err)
	}
	// The right descriptor still works after the failed attempt.
	v, err := state.GetValueState(r.kb, valueDesc)
	must(t, err)
	setKey(t, r, 3)
	if got, _ := get[string](t, v); got != "v3" {
		t.Fatalf("value = %q", got)
	}
	// Another key serializer is refused at restore.
	wrong := *h[0]
	wrong.KeySerializer = "string"
	err = e.restoreErr([]*checkpoint.KeyedStateHandle{&wrong}, keygroup.Range{Start: 0, End: MaxP - 1})
	if !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("restore with another key serializer: %v", err)
	}
}

func testCorrupt(t *testing.T, f Factory) {
	e, s := single(t, f)
	fill(t, []*subtask{s}, 300)
	h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Savepoint: true})[0]
	st := e.cps.Storage()
	name := e.cps.JobID() + "/" + h.File.Path
	orig, err := st.ReadRange(e.ctx, name, 0, -1)
	must(t, err)
	all := keygroup.Range{Start: 0, End: MaxP - 1}
	rewrite := func(b []byte) {
		w, err := st.Create(e.ctx, name, false)
		must(t, err)
		_, err = w.Write(b)
		must(t, err)
		_, err = w.Commit()
		must(t, err)
	}
	cases := map[string]func([]byte) []byte{
		"flipped byte in a block": func(b []byte) []byte {
			c := slices.Clone(b)
			blk := h.Blocks[len(h.Blocks)/2]
			c[blk.Offset+blk.Length/2] ^= 0x40
			return c
		},
		"bad magic": func(b []byte) []byte { c := slices.Clone(b); c[0] = 'X'; return c },
		"truncated": func(b []byte) []byte { return b[:len(b)*2/3] },
		"empty":     func(b []byte) []byte { return nil },
	}
	for name, mutate := range cases {
		rewrite(mutate(orig))
		err := e.restoreErr([]*checkpoint.KeyedStateHandle{h}, all)
		if !errors.Is(err, checkpoint.ErrCorrupt) && !errors.Is(err, checkpoint.ErrMissing) {
			t.Fatalf("%s: restore error %v, want ErrCorrupt or ErrMissing", name, err)
		}
		if !strings.Contains(err.Error(), h.File.Path) {
			t.Fatalf("%s: error %q does not name the file", name, err)
		}
	}
	must(t, st.Delete(e.ctx, name))
	if err := e.restoreErr([]*checkpoint.KeyedStateHandle{h}, all); !errors.Is(err, checkpoint.ErrMissing) {
		t.Fatalf("missing file: %v", err)
	}
	rewrite(orig)
	verify(t, e.open(1, []*checkpoint.KeyedStateHandle{h}), 300)
}

// testMapRemoveWhileIterating: removing the entry an iterator has just yielded (the Go form of
// Flink's iterator.remove()) yields every entry exactly once and removes what it should, for
// small and large maps, word and general maps, in the void and a named namespace, with and
// without a snapshot holding the entries.
func testMapRemoveWhileIterating(t *testing.T, f Factory) {
	_, s := single(t, f)
	wm, err := state.GetMapState(s.kb, wmapDesc)
	must(t, err)
	m, err := state.GetMapState(s.kb, mapDesc)
	must(t, err)
	id := int64(0)
	for _, n := range []int64{1, 5, 16, 17, 40} {
		for _, ns := range []string{"", "w"} {
			setKey(t, s, n)
			wm.SetNamespace(nsBytes(ns))
			m.SetNamespace(nsBytes(ns))
			for i := range n {
				must(t, wm.Put(i, i*10))
				must(t, m.Put(strconv.FormatInt(i, 10), i))
			}
			if n%2 == 1 { // copy-on-write: the removals must copy, and the loop go on
				id++
				snap, err := s.b.Snapshot(id, backend.SnapshotOptions{})
				must(t, err)
				defer snap.Release()
			}
			seen := map[int64]int{}
			for e, err := range wm.All() {
				must(t, err)
				seen[e.Key]++
				if e.Key%2 == 0 {
					must(t, wm.Remove(e.Key))
				}
			}
			sseen := map[int64]int{}
			for k, err := range m.Keys() {
				must(t, err)
				i, _ := strconv.ParseInt(k, 10, 64)
				sseen[i]++
				if i%2 == 0 {
					must(t, m.Remove(k))
				}
			}
			for i := range n {
				if seen[i] != 1 || sseen[i] != 1 {
					t.Fatalf("map of %d entries, namespace %q: entry %d yielded %d times (word map), %d times (string map)", n, ns, i, seen[i], sseen[i])
				}
				_, ok, err := wm.Get(i)
				must(t, err)
				_, sok, err := m.Get(strconv.FormatInt(i, 10))
				must(t, err)
				if ok != (i%2 == 1) || sok != (i%2 == 1) {
					t.Fatalf("map of %d entries, namespace %q: entry %d present %v (word map), %v (string map) after removing the even ones", n, ns, i, ok, sok)
				}
			}
		}
	}
}

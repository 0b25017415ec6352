package backendtest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
)

// fill writes a known data set over all state kinds for keys [0, n), the one verify checks.
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
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionSnappy} {
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
	var v state.ValueState[string]
	h := e.snapshotWhile(s, backend.SnapshotOptions{}, false, func() {
		v, _ = state.GetValueState(s.kb, valueDesc)
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
	})
	verify(t, e.open(1, h), 200)
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
	h := e.snapshotWhile(s, backend.SnapshotOptions{Compression: snapshot.CompressionSnappy}, true, func() {
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
	})
	verify(t, e.open(1, h), n)
}

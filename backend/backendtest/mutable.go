package backendtest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state"
)

// acc is a mutable accumulator, held by pointer and changed in place, as Flink's
// mutable-accumulator pattern does. It is stored with the default (JSON) serializer.
type acc struct {
	N    int64
	Tags []string
}

func (a *acc) String() string {
	if a == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{%d %v}", a.N, a.Tags)
}

// bump changes a in place: what a mutable accumulator's Add does.
func (a *acc) bump(by int64) *acc {
	a.N += by
	if len(a.Tags) > 0 {
		a.Tags[0] = "changed"
	}
	a.Tags = append(a.Tags, "added")
	return a
}

func newAcc(n int64) *acc { return &acc{N: n, Tags: []string{fmt.Sprint("t", n)}} }

// accFn aggregates int64 inputs into an *acc, changing the accumulator in place.
type accFn struct{}

func (accFn) CreateAccumulator() *acc           { return &acc{Tags: []string{"new"}} }
func (accFn) Add(v int64, a *acc) (*acc, error) { return a.bump(v), nil }
func (accFn) GetResult(a *acc) (int64, error)   { return a.N, nil }
func (accFn) Merge(a, b *acc) (*acc, error)     { return a.bump(b.N), nil }

// reduceInPlace is a Reduce function that changes its accumulator in place.
func reduceInPlace(a, b *acc) (*acc, error) { return a.bump(b.N), nil }

// mutableNamespaces are the namespaces the mutable-value tests use: the void one (the
// backends' fast paths) and two windows.
func mutableNamespaces() [][]byte { return [][]byte{nil, nsBytes("w1"), nsBytes("w2")} }

func setNamespaces(ns []byte, sts ...state.State) {
	for _, s := range sts {
		s.SetNamespace(ns)
	}
}

// mutableStates are the states of the mutable-value tests: every kind, over *acc.
type mutableStates struct {
	v state.ValueState[*acc]
	l state.ListState[*acc]
	m state.MapState[string, *acc]
	r state.ReducingState[*acc]
	a state.AggregatingState[int64, int64]
}

func newMutableStates(t testing.TB, s *subtask) *mutableStates {
	t.Helper()
	var ms mutableStates
	var err error
	ms.v, err = state.GetValueState(s.kb, state.ValueDescriptor[*acc]{Name: "mvalue"})
	must(t, err)
	ms.l, err = state.GetListState(s.kb, state.ListDescriptor[*acc]{Name: "mlist"})
	must(t, err)
	ms.m, err = state.GetMapState(s.kb, state.MapDescriptor[string, *acc]{Name: "mmap"})
	must(t, err)
	ms.r, err = state.GetReducingState(s.kb, state.ReducingDescriptor[*acc]{Name: "mreduce", Reduce: reduceInPlace})
	must(t, err)
	ms.a, err = state.GetAggregatingState(s.kb, state.AggregatingDescriptor[int64, *acc, int64]{Name: "magg", Function: accFn{}})
	must(t, err)
	return &ms
}

func (ms *mutableStates) all() []state.State { return []state.State{ms.v, ms.l, ms.m, ms.r, ms.a} }

// mutableSnapshot holds, per key and namespace, what each state holds: the value, the list,
// the map entry "u", the reduced value and the aggregate.
type mutableSnapshot map[string]string

func mutableEntry(k int64, ns []byte, kind string) string {
	return fmt.Sprintf("%d/%s/%s", k, ns, kind)
}

// read returns what the states hold for keys [0, n) in every namespace.
func (ms *mutableStates) read(t testing.TB, s *subtask, n int64) mutableSnapshot {
	t.Helper()
	out := mutableSnapshot{}
	for k := range n {
		setKey(t, s, k)
		for _, ns := range mutableNamespaces() {
			setNamespaces(ns, ms.all()...)
			v, _ := get[*acc](t, ms.v)
			out[mutableEntry(k, ns, "value")] = v.String()
			out[mutableEntry(k, ns, "list")] = fmt.Sprint(collect(t, ms.l.Get()))
			mv, _, err := ms.m.Get("u")
			must(t, err)
			out[mutableEntry(k, ns, "map")] = mv.String()
			rv, _, err := ms.r.Get()
			must(t, err)
			out[mutableEntry(k, ns, "reducing")] = rv.String()
			av, ok, err := ms.a.Get()
			must(t, err)
			out[mutableEntry(k, ns, "aggregating")] = fmt.Sprint(av, ok)
		}
	}
	return out
}

// fillMutable gives keys [0, n) in every namespace a value of every kind.
func (ms *mutableStates) fill(t testing.TB, s *subtask, n int64) {
	t.Helper()
	for k := range n {
		setKey(t, s, k)
		for _, ns := range mutableNamespaces() {
			setNamespaces(ns, ms.all()...)
			must(t, ms.v.Update(newAcc(k)))
			must(t, ms.l.AddAll([]*acc{newAcc(k), newAcc(k + 1)}))
			must(t, ms.m.Put("u", newAcc(k)))
			must(t, ms.r.Add(newAcc(k)))
			must(t, ms.r.Add(newAcc(1)))
			must(t, ms.a.Add(k))
		}
	}
}

// mutate changes every state of keys [0, n) through the state API as a mutable accumulator
// does: read, change in place, write back (or let Add do it).
func (ms *mutableStates) mutate(t testing.TB, s *subtask, n int64) {
	t.Helper()
	for k := range n {
		setKey(t, s, k)
		for _, ns := range mutableNamespaces() {
			setNamespaces(ns, ms.all()...)
			v, _ := get[*acc](t, ms.v)
			must(t, ms.v.Update(v.bump(100)))
			l := collect(t, ms.l.Get())
			for _, e := range l {
				e.bump(100)
			}
			must(t, ms.l.Update(l))
			for e, err := range ms.m.Values() {
				must(t, err)
				e.bump(100) // in place, through the iterator
			}
			mv, _, err := ms.m.Get("u")
			must(t, err)
			must(t, ms.m.Put("u", mv.bump(100)))
			must(t, ms.r.Add(newAcc(100)))
			must(t, ms.a.Add(100))
		}
	}
}

// testMutableValues: a snapshot holds the values of its synchronous phase even when the task
// then changes the objects it reads in place (Flink's mutable accumulators), for every state
// kind; the asynchronous phase runs after the changes, and in a second round beside them (run
// with -race). The live state has the changes, and the next snapshot holds them.
func testMutableValues(t *testing.T, f Factory) {
	const n = 40
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprintf("concurrent=%v", concurrent), func(t *testing.T) {
			e, s := single(t, f)
			ms := newMutableStates(t, s)
			ms.fill(t, s, n)
			before := ms.read(t, s, n)
			h := e.snapshotWhile(s, backend.SnapshotOptions{}, concurrent, func() { ms.mutate(t, s, n) })
			after := ms.read(t, s, n)
			if changed := diffSnapshots(before, after); changed == 0 {
				t.Fatal("mutate changed nothing")
			}
			r := e.open(1, h)[0]
			checkSnapshot(t, "the snapshot taken before the changes", before, newMutableStates(t, r).read(t, r, n))
			h2 := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{})
			r2 := e.open(1, h2)[0]
			checkSnapshot(t, "the snapshot taken after the changes", after, newMutableStates(t, r2).read(t, r2, n))
		})
	}
}

// testMutableMerge: merging namespaces with a Reduce or Merge that changes its first argument
// in place (and moving lists) does not change what a running snapshot holds of the sources
// or the target.
func testMutableMerge(t *testing.T, f Factory) {
	const n = 20
	e, s := single(t, f)
	ms := newMutableStates(t, s)
	ms.fill(t, s, n)
	before := ms.read(t, s, n)
	sources := [][]byte{nsBytes("w1"), nsBytes("w2")}
	h := e.snapshotWhile(s, backend.SnapshotOptions{}, false, func() {
		for k := range int64(n) {
			setKey(t, s, k)
			setNamespaces(nil, ms.all()...)
			must(t, ms.l.MergeNamespaces(nil, sources))
			must(t, ms.r.MergeNamespaces(nil, sources))
			must(t, ms.a.MergeNamespaces(nil, sources))
			// The merged list's elements, changed in place and written back.
			l := collect(t, ms.l.Get())
			for _, el := range l {
				el.bump(1)
			}
			must(t, ms.l.Update(l))
			must(t, ms.r.Add(newAcc(1)))
			must(t, ms.a.Add(1))
		}
	})
	setKey(t, s, 3)
	setNamespaces(nil, ms.all()...)
	if got := collect(t, ms.l.Get()); len(got) != 6 {
		t.Fatalf("merged list of key 3 = %v, want 6 elements", got)
	}
	if got, _, _ := ms.a.Get(); got != 3*3+1 {
		t.Fatalf("merged aggregate of key 3 = %d, want %d", got, 3*3+1)
	}
	r := e.open(1, h)[0]
	checkSnapshot(t, "the snapshot taken before the merges", before, newMutableStates(t, r).read(t, r, n))
}

func diffSnapshots(a, b mutableSnapshot) int {
	n := 0
	for k, v := range a {
		if b[k] != v {
			n++
		}
	}
	return n
}

func checkSnapshot(t testing.TB, what string, want, got mutableSnapshot) {
	t.Helper()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	bad := 0
	for _, k := range keys {
		if got[k] != want[k] {
			if bad < 5 {
				t.Errorf("%s: %s = %s, want %s", what, k, got[k], want[k])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d entries differ", what, bad, len(want))
	}
}

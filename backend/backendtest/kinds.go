package backendtest

import (
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state"
)

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

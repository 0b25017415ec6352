package heap

// Tests of TTL states of word values (stampedwords.go, stampedmap.go) through the typed
// states: they stay unboxed, and reads judge, renew and remove as the boxed ones do.

import (
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state/ttl"
)

// ttlNames are the names of ttlStates' states.
var ttlNames = []string{"v", "l", "m", "wv", "bl", "wm"}

// twins returns want with the counts of v, l and m for their twins wv, bl and wm too.
func twins(want map[string][2]int) map[string][2]int {
	for a, b := range map[string]string{"v": "wv", "l": "bl", "m": "wm"} {
		want[b] = want[a]
	}
	return want
}

// checkIndex fails unless s's point index holds exactly the entries of the cells of 8-byte
// keys in the void namespace.
func checkIndex[V comparable](t *testing.T, s *wordMaps[V]) {
	t.Helper()
	cells, indexed := 0, 0
	for kg, tb := range s.tables {
		indexed += s.index[kg].n
		tb.each(func(key, ns []byte, c wordMapCell[V]) bool {
			if len(key) != 8 || len(ns) != 0 {
				return true
			}
			var k tkey
			k.setKey(key, ns, nil)
			c.each(func(uk uint64, v V) bool {
				cells++
				if got, ok := s.index[kg].get(k.u, uk); !ok || got != v {
					t.Fatalf("state %q: key %x user key %x: index holds %v, %v; cell %v", s.spec.Name, key, uk, got, ok, v)
				}
				return true
			})
			return true
		})
	}
	if cells != indexed {
		t.Fatalf("state %q: %d entries indexed, %d in the cells of 8-byte keys", s.spec.Name, indexed, cells)
	}
}

// TestTTLWordViewsUnboxed: the TTL views of word states are the word interfaces the typed
// states look for, so that a read or a write of a value, a one-element list update and a map
// read allocate nothing (a boxed TTL state allocates a Stamped box or an element per write).
func TestTTLWordViewsUnboxed(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	s := registerTTL(t, kb, ttl.Config{TTL: time.Hour})
	if _, ok := b.views["wv"].(backend.WordValue); !ok {
		t.Fatalf("the view of wv is a %T, not a backend.WordValue", b.views["wv"])
	}
	if _, ok := b.views["l"].(backend.WordList); !ok {
		t.Fatalf("the view of l is a %T, not a backend.WordList", b.views["l"])
	}
	if _, ok := b.views["wm"].(backend.WordMap); !ok {
		t.Fatalf("the view of wm is a %T, not a backend.WordMap", b.views["wm"])
	}
	for k := range int64(100) {
		must(t, kb.SetCurrentKey(k))
		must(t, s.wv.Update(k))
		must(t, s.l.Update([]int64{k}))
		must(t, s.wm.Put(k%3, k))
	}
	one := []int64{0}
	k := int64(0)
	ops := map[string]func(){
		"value update": func() { must(t, s.wv.Update(k)) },
		"value read": func() {
			if v, ok, err := s.wv.Value(); err != nil || !ok || v != k {
				t.Fatalf("key %d: value %d, %v, %v", k, v, ok, err)
			}
		},
		"list update": func() { one[0] = k; must(t, s.l.Update(one)) },
		"map read": func() {
			if v, ok, err := s.wm.Get(k % 3); err != nil || !ok || v != k {
				t.Fatalf("key %d: map value %d, %v, %v", k, v, ok, err)
			}
		},
	}
	for name, op := range ops {
		if n := testing.AllocsPerRun(200, func() {
			k = (k + 7) % 100
			must(t, kb.SetCurrentKey(k))
			op()
		}); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}

// TestTTLWordReads: under event time with OnReadAndWrite, reads through the word paths
// (value, list, map Get and iteration) of a late record keep the stamps (a read never moves
// one back), reads of a later record restamp, and reads after expiry return nothing and
// remove what they read, from the map's point index too.
func TestTTLWordReads(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	cfg := ttl.Config{TTL: 10 * time.Second, Update: ttl.OnReadAndWrite, Time: ttl.EventTime, CleanupSize: -1}
	s := registerTTL(t, kb, cfg)
	e.clock.SetTimestamp(100_000)
	e.clock.AdvanceWatermark(100_000)
	must(t, kb.SetCurrentKey(1))
	must(t, s.wv.Update(5))
	must(t, s.l.Add(6))
	must(t, s.wm.Put(1, 7))
	must(t, s.wm.Put(2, 8))
	read := func() (n int) {
		t.Helper()
		if _, ok, err := s.wv.Value(); err != nil {
			t.Fatal(err)
		} else if ok {
			n++
		}
		for _, err := range s.l.Get() {
			must(t, err)
			n++
		}
		if _, ok, err := s.wm.Get(1); err != nil {
			t.Fatal(err)
		} else if ok {
			n++
		}
		for _, err := range s.wm.All() {
			must(t, err)
			n++
		}
		return n
	}
	want := func(at int64) {
		t.Helper()
		for _, name := range []string{"wv", "l", "wm"} {
			for _, got := range stamps(t, b, name) {
				if got != at {
					t.Fatalf("%s: stamps %v, want all %d", name, stamps(t, b, name), at)
				}
			}
		}
	}
	e.clock.SetTimestamp(92_000) // a late record
	e.clock.AdvanceWatermark(105_000)
	if n := read(); n != 5 {
		t.Fatalf("a late record read %d entries, want 5", n)
	}
	want(100_000)
	e.clock.SetTimestamp(107_000)
	if n := read(); n != 5 {
		t.Fatalf("a later record read %d entries, want 5", n)
	}
	want(107_000)
	e.clock.AdvanceWatermark(117_000)
	if n := read(); n != 0 {
		t.Fatalf("read %d entries after expiry, want 0", n)
	}
	for _, name := range []string{"wv", "l", "wm"} {
		if c, en := stored(t, b, name); c != 0 || en != 0 {
			t.Fatalf("%s: %d cells, %d entries stored after reads of expired entries", name, c, en)
		}
	}
}

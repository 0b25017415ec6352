package backendtest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// ttlSpan is the TTL of the option-matrix cases: 10 of their time units (seconds).
const ttlSpan = 10 * time.Second

// ttlBase is the time (ms) the cases' time 0 is, on both clocks.
const ttlBase = 1_000_000

// ttlCombos are the option combinations every TTL case runs with: each update type, each
// visibility and each time characteristic. Incremental cleanup is off, so that an expired
// entry is still stored when read (ReturnExpiredIfNotCleanedUp must then return it).
func ttlCombos() []ttl.Config {
	var out []ttl.Config
	for _, tc := range []ttl.TimeCharacteristic{ttl.ProcessingTime, ttl.EventTime} {
		for _, u := range []ttl.UpdateType{ttl.OnCreateAndWrite, ttl.OnReadAndWrite} {
			for _, v := range []ttl.Visibility{ttl.NeverReturnExpired, ttl.ReturnExpiredIfNotCleanedUp} {
				out = append(out, ttl.Config{TTL: ttlSpan, Update: u, Visibility: v, Time: tc, CleanupSize: -1})
			}
		}
	}
	return out
}

func comboName(c ttl.Config) string {
	u, v := "OnCreateAndWrite", "NeverReturnExpired"
	if c.Update == ttl.OnReadAndWrite {
		u = "OnReadAndWrite"
	}
	if c.Visibility == ttl.ReturnExpiredIfNotCleanedUp {
		v = "ReturnExpiredIfNotCleanedUp"
	}
	return fmt.Sprintf("%s/%s/%s", c.Time, u, v)
}

// ttlEnv is an env whose cases speak of one timeline in seconds, whatever the TTL's clock.
type ttlEnv struct {
	*env
	cfg ttl.Config
}

// at moves the timeline to second sec: under processing time the processing clock, under
// event time both the record timestamp (what writes are stamped with) and the watermark
// (what entries are judged by).
func (e *ttlEnv) at(sec int64) {
	ms := ttlBase + sec*1000
	if e.cfg.Time == ttl.EventTime {
		e.clock.SetTimestamp(ms)
		e.clock.AdvanceWatermark(ms)
		return
	}
	e.now.Store(ms)
}

func (e *ttlEnv) onRead() bool         { return e.cfg.Update == ttl.OnReadAndWrite }
func (e *ttlEnv) returnsExpired() bool { return e.cfg.Visibility == ttl.ReturnExpiredIfNotCleanedUp }

// testTTLKinds runs every state kind's TTL case for every option combination.
func testTTLKinds(t *testing.T, f Factory) {
	cases := []struct {
		name string
		fn   func(*testing.T, *ttlEnv, *subtask)
	}{
		{"Value", ttlValueCase}, {"List", ttlListCase}, {"Map", ttlMapCase},
		{"Reducing", ttlReducingCase}, {"Aggregating", ttlAggregatingCase},
		{"Namespaces", ttlNamespaceCase}, {"MergeNamespaces", ttlMergeCase},
	}
	for _, cfg := range ttlCombos() {
		t.Run(comboName(cfg), func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					e := &ttlEnv{env: newEnv(t, f), cfg: cfg}
					e.at(0)
					s := e.open(1, nil)[0]
					setKey(t, s, 1)
					c.fn(t, e, s)
				})
			}
		})
	}
}

// expectExpired checks a read of an entry that expired and is still stored: returned (as
// want) only with ReturnExpiredIfNotCleanedUp; read returns what a second read gives, which
// must be nothing (the first read removed it).
func expectExpired[V comparable](t *testing.T, e *ttlEnv, what string, want V, read func() (V, bool)) {
	t.Helper()
	got, ok := read()
	if e.returnsExpired() && (!ok || got != want) {
		t.Fatalf("%s: expired entry not cleaned up read as %v, %v; want %v returned", what, got, ok, want)
	}
	if !e.returnsExpired() && ok {
		t.Fatalf("%s: expired entry returned: %v", what, got)
	}
	if got, ok := read(); ok {
		t.Fatalf("%s: expired entry returned again after a read removed it: %v", what, got)
	}
}

func expectLive[V comparable](t *testing.T, what string, want V, got V, ok bool) {
	t.Helper()
	if !ok || got != want {
		t.Fatalf("%s = %v, %v; want %v (live)", what, got, ok, want)
	}
}

func ttlValueCase(t *testing.T, e *ttlEnv, s *subtask) {
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[string]{Name: "tv", TTL: e.cfg})
	must(t, err)
	read := func() (string, bool) { return get[string](t, v) }
	must(t, v.Update("a"))
	e.at(6)
	got, ok := read()
	expectLive(t, "value at 6", "a", got, ok) // OnReadAndWrite: stamped 6 now
	e.at(12)
	if !e.onRead() {
		expectExpired(t, e, "value written at 0, read at 12", "a", read)
	} else {
		got, ok = read()
		expectLive(t, "value read at 6, read at 12", "a", got, ok)
		e.at(21)
		got, ok = read()
		expectLive(t, "value read at 12, read at 21", "a", got, ok)
		e.at(31)
		expectExpired(t, e, "value last read at 21, read at 31", "a", read)
	}
	// A write after expiry starts a new TTL; Clear removes the value.
	must(t, v.Update("b"))
	e.at(e.nowSec() + 9)
	got, ok = read()
	expectLive(t, "value rewritten 9 s ago", "b", got, ok)
	must(t, v.Clear())
	if _, ok := read(); ok {
		t.Fatal("Clear left a TTL value")
	}
}

// nowSec is the timeline's current second.
func (e *ttlEnv) nowSec() int64 {
	if e.cfg.Time == ttl.EventTime {
		return (e.clock.Watermark() - ttlBase) / 1000
	}
	return (e.now.Load() - ttlBase) / 1000
}

func ttlListCase(t *testing.T, e *ttlEnv, s *subtask) {
	l, err := state.GetListState(s.kb, state.ListDescriptor[int64]{Name: "tl", TTL: e.cfg})
	must(t, err)
	expect := func(when string, want ...int64) {
		t.Helper()
		if got := collect(t, l.Get()); !slices.Equal(got, want) {
			t.Fatalf("list %s = %v, want %v", when, got, want)
		}
	}
	must(t, l.Add(1))
	e.at(4)
	must(t, l.AddAll([]int64{2, 3}))
	e.at(6)
	expect("at 6", 1, 2, 3) // OnReadAndWrite: all stamped 6 now
	e.at(11)
	if !e.onRead() {
		// 1 (written at 0) expired, 2 and 3 (written at 4) live until 14: one element at a time.
		if e.returnsExpired() {
			expect("at 11, 1 expired not cleaned up", 1, 2, 3)
		}
		expect("at 11, 1 expired", 2, 3)
		must(t, l.Add(4)) // expires at 21
		e.at(15)
		if e.returnsExpired() {
			expect("at 15, 2 and 3 expired not cleaned up", 2, 3, 4)
		}
		expect("at 15", 4)
	} else {
		expect("at 11, read at 6", 1, 2, 3) // stamped 11
		must(t, l.Add(4))
		e.at(20)
		expect("at 20, read at 11", 1, 2, 3, 4)
		e.at(30)
		if e.returnsExpired() {
			expect("at 30, expired not cleaned up", 1, 2, 3, 4)
		}
		expect("at 30, read at 20")
	}
	// Update stamps every element; an empty Update clears.
	must(t, l.Update([]int64{7, 8}))
	e.at(e.nowSec() + 9)
	expect("9 s after Update", 7, 8)
	must(t, l.Update(nil))
	expect("after Update(nil)")
}

func ttlMapCase(t *testing.T, e *ttlEnv, s *subtask) {
	m, err := state.GetMapState(s.kb, state.MapDescriptor[string, int64]{Name: "tm", TTL: e.cfg})
	must(t, err)
	all := func() map[string]int64 {
		out := map[string]int64{}
		for en, err := range m.All() {
			must(t, err)
			out[en.Key] = en.Value
		}
		return out
	}
	expectAll := func(when string, want map[string]int64) {
		t.Helper()
		if got := all(); !maps.Equal(got, want) {
			t.Fatalf("map %s: All = %v, want %v", when, got, want)
		}
	}
	read := func(uk string) func() (int64, bool) {
		return func() (int64, bool) {
			v, ok, err := m.Get(uk)
			must(t, err)
			return v, ok
		}
	}
	must(t, m.Put("a", 1))
	e.at(5)
	must(t, m.Put("b", 2))
	e.at(7)
	v, ok := read("a")()
	expectLive(t, "map a at 7", 1, v, ok) // OnReadAndWrite: a stamped 7
	e.at(12)
	if !e.onRead() {
		// a (written at 0) expired, b (written at 5) lives until 15.
		if e.returnsExpired() {
			expectAll("at 12, a expired not cleaned up", map[string]int64{"a": 1, "b": 2})
		}
		expectAll("at 12", map[string]int64{"b": 2})
		if has, err := m.Contains("a"); err != nil || has {
			t.Fatalf("Contains(expired a) = %v, %v", has, err)
		}
		e.at(15)
		if e.returnsExpired() {
			if empty, err := m.IsEmpty(); err != nil || empty {
				t.Fatalf("IsEmpty with b expired, not cleaned up = %v, %v; want false", empty, err)
			}
		}
		if empty, err := m.IsEmpty(); err != nil || !empty {
			t.Fatalf("IsEmpty with every entry expired = %v, %v", empty, err)
		}
	} else {
		expectAll("at 12", map[string]int64{"a": 1, "b": 2}) // both stamped 12
		e.at(21)
		if has, err := m.Contains("b"); err != nil || !has { // b stamped 21
			t.Fatalf("Contains(b) at 21 = %v, %v", has, err)
		}
		e.at(22)
		expectExpired(t, e, "map a read at 12, read at 22", 1, read("a"))
		expectAll("at 22", map[string]int64{"b": 2})
	}
	// Put after expiry starts a new TTL, Remove removes.
	must(t, m.Put("a", 10))
	e.at(e.nowSec() + 9)
	v, ok = read("a")()
	expectLive(t, "map a put 9 s ago", 10, v, ok)
	must(t, m.Remove("a"))
	if _, ok := read("a")(); ok {
		t.Fatal("Remove left a TTL map entry")
	}
}

func ttlReducingCase(t *testing.T, e *ttlEnv, s *subtask) {
	r, err := state.GetReducingState(s.kb, state.ReducingDescriptor[int64]{Name: "tr", Reduce: sumDesc.Reduce, TTL: e.cfg})
	must(t, err)
	read := func() (int64, bool) {
		v, ok, err := r.Get()
		must(t, err)
		return v, ok
	}
	must(t, r.Add(1))
	e.at(6)
	must(t, r.Add(2)) // a write in both update types: stamped 6
	e.at(12)
	v, ok := read()
	expectLive(t, "sum at 12, written at 6", 3, v, ok) // OnReadAndWrite: stamped 12
	e.at(17)
	if e.onRead() {
		v, ok = read()
		expectLive(t, "sum at 17, read at 12", 3, v, ok)
		e.at(27)
	}
	// Adding to an expired sum starts from the added value, unless the expired one is still
	// returned (then it is reduced into the new sum, as Flink's TTL reducing state does).
	must(t, r.Add(5))
	v, ok = read()
	want := int64(5)
	if e.returnsExpired() {
		want = 8
	}
	expectLive(t, "sum after adding to an expired one", want, v, ok)
	e.at(e.nowSec() + 10)
	expectExpired(t, e, "sum 10 s after its last write", want, read)
}

func ttlAggregatingCase(t *testing.T, e *ttlEnv, s *subtask) {
	a, err := state.GetAggregatingState(s.kb, state.AggregatingDescriptor[int64, avgAcc, float64]{Name: "ta", Function: avgFn{}, TTL: e.cfg})
	must(t, err)
	read := func() (float64, bool) {
		v, ok, err := a.Get()
		must(t, err)
		return v, ok
	}
	must(t, a.Add(2))
	must(t, a.Add(4))
	e.at(8)
	v, ok := read()
	expectLive(t, "avg at 8", 3, v, ok) // OnReadAndWrite: stamped 8
	e.at(10)
	if e.onRead() {
		v, ok = read()
		expectLive(t, "avg at 10, read at 8", 3, v, ok)
		e.at(20)
	}
	must(t, a.Add(9))
	v, ok = read()
	want := 9.0
	if e.returnsExpired() {
		want = 5 // (2+4+9)/3: the expired accumulator was still returned
	}
	expectLive(t, "avg after adding to an expired accumulator", want, v, ok)
	e.at(e.nowSec() + 10)
	expectExpired(t, e, "avg 10 s after its last write", want, read)
}

// ttlNamespaceCase: the same key's entries in different namespaces (windows) expire by their
// own stamps, and a namespace's expiry leaves the others alone.
func ttlNamespaceCase(t *testing.T, e *ttlEnv, s *subtask) {
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[string]{Name: "tnv", TTL: e.cfg})
	must(t, err)
	m, err := state.GetMapState(s.kb, state.MapDescriptor[string, int64]{Name: "tnm", TTL: e.cfg})
	must(t, err)
	for i, ns := range []string{"w1", "w2", "w3"} {
		e.at(int64(3 * i)) // w1 at 0, w2 at 3, w3 at 6
		v.SetNamespace(nsBytes(ns))
		m.SetNamespace(nsBytes(ns))
		must(t, v.Update(ns))
		must(t, m.Put(ns, int64(i)))
	}
	e.at(11) // w1 expired, w2 and w3 live
	for i, ns := range []string{"w2", "w3", "w1"} {
		v.SetNamespace(nsBytes(ns))
		m.SetNamespace(nsBytes(ns))
		readV := func() (string, bool) { return get[string](t, v) }
		readM := func() (int64, bool) {
			got, ok, err := m.Get(ns)
			must(t, err)
			return got, ok
		}
		if ns == "w1" {
			expectExpired(t, e, "value in w1", "w1", readV)
			expectExpired(t, e, "map in w1", 0, readM)
			continue
		}
		got, ok := readV()
		expectLive(t, "value in "+ns, ns, got, ok)
		mv, ok := readM()
		expectLive(t, "map in "+ns, int64(i+1), mv, ok)
	}
	// The void namespace is one more namespace.
	v.SetNamespace(nil)
	if _, ok := get[string](t, v); ok {
		t.Fatal("value in the void namespace that was never written")
	}
}

// ttlMergeCase: merging namespaces of TTL list, reducing and aggregating states (session
// windows) merges the sources' visible entries into the target and clears the sources;
// expired entries hidden from reads are not merged.
func ttlMergeCase(t *testing.T, e *ttlEnv, s *subtask) {
	l, err := state.GetListState(s.kb, state.ListDescriptor[int64]{Name: "tml", TTL: e.cfg})
	must(t, err)
	r, err := state.GetReducingState(s.kb, state.ReducingDescriptor[int64]{Name: "tmr", Reduce: sumDesc.Reduce, TTL: e.cfg})
	must(t, err)
	a, err := state.GetAggregatingState(s.kb, state.AggregatingDescriptor[int64, avgAcc, float64]{Name: "tma", Function: avgFn{}, TTL: e.cfg})
	must(t, err)
	sts := []state.State{l, r, a}
	for i, ns := range []string{"old", "s1", "s2", "t"} {
		e.at(int64(4 * i)) // old at 0, s1 at 4, s2 at 8, t at 12
		for _, st := range sts {
			st.SetNamespace(nsBytes(ns))
		}
		must(t, l.Add(int64(i)))
		must(t, r.Add(int64(10*i+1)))
		must(t, a.Add(int64(10*i+1)))
	}
	// At 13 "old" (written at 0) expired; s1, s2 and t live.
	e.at(13)
	sources := [][]byte{nsBytes("old"), nsBytes("s1"), nsBytes("s2")}
	must(t, l.MergeNamespaces(nsBytes("t"), sources))
	must(t, r.MergeNamespaces(nsBytes("t"), sources))
	must(t, a.MergeNamespaces(nsBytes("t"), sources))
	for _, st := range sts {
		st.SetNamespace(nsBytes("t"))
	}
	// With ReturnExpiredIfNotCleanedUp the expired source is still returned, so merged.
	wantList, wantSum, wantAvg := []int64{3, 1, 2}, int64(31+11+21), float64(31+11+21)/3
	if e.returnsExpired() {
		wantList, wantSum, wantAvg = []int64{3, 0, 1, 2}, 31+1+11+21, float64(31+1+11+21)/4
	}
	if got := collect(t, l.Get()); !slices.Equal(got, wantList) {
		t.Fatalf("merged TTL list = %v, want %v", got, wantList)
	}
	gs, ok, err := r.Get()
	must(t, err)
	expectLive(t, "merged TTL sum", wantSum, gs, ok)
	ga, ok, err := a.Get()
	must(t, err)
	expectLive(t, "merged TTL avg", wantAvg, ga, ok)
	for _, src := range sources {
		for _, st := range sts {
			st.SetNamespace(src)
		}
		if got := collect(t, l.Get()); len(got) != 0 {
			t.Fatalf("source %s of a TTL list merge not cleared: %v", src, got)
		}
		if _, ok, _ := r.Get(); ok {
			t.Fatalf("source %s of a TTL reducing merge not cleared", src)
		}
		if _, ok, _ := a.Get(); ok {
			t.Fatalf("source %s of a TTL aggregating merge not cleared", src)
		}
	}
	// The merged reducing and aggregating values are writes at 13: they live until 23
	// (with OnReadAndWrite the reads above stamped them 13 too).
	for _, st := range sts {
		st.SetNamespace(nsBytes("t"))
	}
	e.at(22)
	gs, ok, err = r.Get()
	must(t, err)
	expectLive(t, "merged TTL sum at 22", wantSum, gs, ok)
	ga, ok, err = a.Get()
	must(t, err)
	expectLive(t, "merged TTL avg at 22", wantAvg, ga, ok)
	// Every list element was last written or read at 13 at the latest: all expired at 33.
	e.at(33)
	if e.returnsExpired() {
		if got := collect(t, l.Get()); !slices.Equal(got, wantList) {
			t.Fatalf("merged TTL list at 33, expired not cleaned up = %v, want %v", got, wantList)
		}
	}
	if got := collect(t, l.Get()); len(got) != 0 {
		t.Fatalf("merged TTL list at 33 = %v, want every element expired", got)
	}
}

package backendtest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// testTTLBasics: value, list and map state with processing-time TTL expire one entry at a
// time by the clock, survive a snapshot with their stamps, and are never returned expired.
func testTTLBasics(t *testing.T, f Factory) {
	e := newEnv(t, f)
	cfg := ttl.Config{TTL: 10 * time.Second}
	s := e.open(1, nil)[0]
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	l, err := state.GetListState(s.kb, state.ListDescriptor[int64]{Name: "l", TTL: cfg})
	must(t, err)
	m, err := state.GetMapState(s.kb, state.MapDescriptor[int64, string]{Name: "m", TTL: cfg})
	must(t, err)
	must(t, s.kb.SetCurrentKey(1))
	must(t, v.Update(7))
	must(t, l.Add(1))
	must(t, m.Put(1, "a"))
	e.now.Add(6_000)
	must(t, l.Add(2))
	must(t, m.Put(2, "b"))
	hs := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{})
	closeAll([]*subtask{s})

	s = e.open(1, hs)[0]
	v, err = state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	l, err = state.GetListState(s.kb, state.ListDescriptor[int64]{Name: "l", TTL: cfg})
	must(t, err)
	m, err = state.GetMapState(s.kb, state.MapDescriptor[int64, string]{Name: "m", TTL: cfg})
	must(t, err)
	must(t, s.kb.SetCurrentKey(1))
	if got, ok := get[int64](t, v); !ok || got != 7 {
		t.Fatalf("value before expiry = %d, %v", got, ok)
	}
	e.now.Add(4_000) // the first writes are 10 s old: expired
	if got, ok := get[int64](t, v); ok {
		t.Fatalf("expired value returned: %d", got)
	}
	if got := collect(t, l.Get()); len(got) != 1 || got[0] != 2 {
		t.Fatalf("list = %v, want [2]", got)
	}
	if _, ok, err := m.Get(1); err != nil || ok {
		t.Fatalf("expired map entry: ok=%v err=%v", ok, err)
	}
	if got, ok, err := m.Get(2); err != nil || !ok || got != "b" {
		t.Fatalf("live map entry = %q, %v, %v", got, ok, err)
	}
	e.now.Add(6_000)
	if empty, err := m.IsEmpty(); err != nil || !empty {
		t.Fatalf("map empty = %v, %v", empty, err)
	}
	closeAll([]*subtask{s})
}

// testTTLEventTime: under event time, an entry is stamped with the timestamp of the record
// being processed (the watermark when it has none) and judged by the watermark: nothing
// expires before the first watermark however far record timestamps go, a late record's
// entry may be expired as soon as it is written, and an entry written with no time known at
// all is stamped when it is first read with the watermark known.
func testTTLEventTime(t *testing.T, f Factory) {
	e := newEnv(t, f)
	cfg := ttl.Config{TTL: 10 * time.Second, Time: ttl.EventTime, CleanupSize: -1}
	s := e.open(1, nil)[0]
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "ev", TTL: cfg})
	must(t, err)
	read := func(key int64) (int64, bool) {
		t.Helper()
		setKey(t, s, key)
		return get[int64](t, v)
	}
	write := func(key, val int64) {
		t.Helper()
		setKey(t, s, key)
		must(t, v.Update(val))
	}
	write(1, 1) // no timestamp, no watermark: not stamped yet
	e.clock.SetTimestamp(0)
	write(2, 2)                   // stamped 0
	e.clock.SetTimestamp(100_000) // record time runs ahead; the watermark is still unknown
	write(3, 3)                   // stamped 100 s
	for k := int64(1); k <= 3; k++ {
		if got, ok := read(k); !ok || got != k {
			t.Fatalf("key %d before the first watermark = %d, %v; nothing expires before it", k, got, ok)
		}
	}
	e.clock.SetTimestamp(math.MinInt64) // a timer without timestamp: reads and writes use the watermark
	e.clock.AdvanceWatermark(9_999)
	if got, ok := read(2); !ok || got != 2 {
		t.Fatalf("key 2 (stamped 0) at watermark 9.999 s = %d, %v", got, ok)
	}
	if got, ok := read(1); !ok || got != 1 { // first read with the time known: stamped 9.999 s
		t.Fatalf("key 1 (not stamped) at watermark 9.999 s = %d, %v", got, ok)
	}
	e.clock.AdvanceWatermark(10_000)
	if got, ok := read(2); ok {
		t.Fatalf("key 2 (stamped 0) at watermark 10 s = %d, want expired", got)
	}
	if got, ok := read(1); !ok || got != 1 {
		t.Fatalf("key 1 (stamped 9.999 s on read) at watermark 10 s = %d, %v", got, ok)
	}
	e.clock.AdvanceWatermark(19_999)
	write(4, 4) // stamped with the watermark, 19.999 s
	e.clock.AdvanceWatermark(29_998)
	if _, ok := read(1); ok {
		t.Fatal("key 1 (stamped 9.999 s on read) returned at watermark 29.998 s")
	}
	if got, ok := read(4); !ok || got != 4 {
		t.Fatalf("key 4 (stamped with the watermark 19.999 s) at 29.998 s = %d, %v", got, ok)
	}
	e.clock.SetTimestamp(19_998) // a late record: stamped 19.998 s, expired at watermark 29.998 s
	write(5, 5)
	if got, ok := read(5); ok {
		t.Fatalf("a late record's entry (stamped 19.998 s) at watermark 29.998 s = %d, want expired", got)
	}
	if got, ok := read(3); !ok || got != 3 {
		t.Fatalf("key 3 (stamped 100 s) at watermark 29.998 s = %d, %v", got, ok)
	}
	e.clock.AdvanceWatermark(110_000)
	if _, ok := read(3); ok {
		t.Fatal("key 3 (stamped 100 s) returned at watermark 110 s")
	}
}

// testTTLInvalidConfig: a descriptor with an invalid TTL is refused before anything is
// registered, naming the field; the same name then registers with a valid TTL and works.
func testTTLInvalidConfig(t *testing.T, f Factory) {
	e := newEnv(t, f)
	s := e.open(1, nil)[0]
	defer closeAll([]*subtask{s})
	_, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "v", TTL: ttl.Config{TTL: time.Second, CleanupSize: -2}})
	if err == nil || !strings.Contains(err.Error(), "CleanupSize") || !strings.Contains(err.Error(), `"v"`) {
		t.Fatalf("invalid TTL: %v", err)
	}
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "v", TTL: ttl.Config{TTL: time.Second}})
	must(t, err)
	must(t, s.kb.SetCurrentKey(1))
	must(t, v.Update(5))
	if got, ok := get[int64](t, v); !ok || got != 5 {
		t.Fatalf("value = %d, %v", got, ok)
	}
}

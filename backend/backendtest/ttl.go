package backendtest

import (
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

package backendtest

import (
	"fmt"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
)

// testEmptySnapshot: a backend whose states hold nothing (registered, written and cleared)
// writes no savepoint file and returns no handle, as Flink does; a checkpoint may still write
// one (an incremental one has database files), which must restore empty. Restoring without
// any handle gives empty states that take writes. A single timer is state: it is written.
func testEmptySnapshot(t *testing.T, f Factory) {
	e, s := single(t, f)
	v, err := state.GetValueState(s.kb, valueDesc)
	must(t, err)
	l, err := state.GetListState(s.kb, listDesc)
	must(t, err)
	m, err := state.GetMapState(s.kb, mapDesc)
	must(t, err)
	for k := range int64(20) {
		setKey(t, s, k)
		must(t, v.Update("gone"))
		must(t, l.Add(k))
		must(t, m.Put("gone", k))
	}
	e.checkpoint([]*subtask{s}, backend.SnapshotOptions{}) // the cleared entries were in a snapshot
	for k := range int64(20) {
		setKey(t, s, k)
		must(t, v.Clear())
		must(t, l.Clear())
		must(t, m.Remove("gone"))
	}
	for _, savepoint := range []bool{true, false} {
		h := e.snapshot([]*subtask{s}, backend.SnapshotOptions{Savepoint: savepoint})[0]
		if savepoint && h != nil {
			t.Fatalf("a savepoint of a backend without state wrote %s", h.File.Path)
		}
		for _, restore := range [][]*snapshot.KeyedStateHandle{handlesOf([]*snapshot.KeyedStateHandle{h}), nil} {
			r := e.open(1, restore)[0]
			rv, err := state.GetValueState(r.kb, valueDesc)
			must(t, err)
			rl, err := state.GetListState(r.kb, listDesc)
			must(t, err)
			for k := range int64(20) {
				setKey(t, r, k)
				if got, ok := get[string](t, rv); ok {
					t.Fatalf("restored from %d handles: key %d has value %q", len(restore), k, got)
				}
				if got := collect(t, rl.Get()); len(got) != 0 {
					t.Fatalf("restored from %d handles: key %d has list %v", len(restore), k, got)
				}
			}
			setKey(t, r, 3)
			must(t, rv.Update("new"))
			if got, _ := get[string](t, rv); got != "new" {
				t.Fatalf("a state restored empty does not take writes: %q", got)
			}
		}
	}

	// A timer alone is state: the savepoint has it.
	q, err := s.b.CreateTimerQueue("timers")
	must(t, err)
	tm, kg := keyTimer(t, s, 5, "w", 42)
	_, err = q.Add(kg, tm)
	must(t, err)
	hs := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Savepoint: true})
	if len(hs) != 1 {
		t.Fatal("a savepoint of a backend holding one timer wrote nothing")
	}
	r := e.open(1, hs)[0]
	rq := timerQueue(t, r, "timers")
	if got, ok, err := rq.Peek(); err != nil || !ok || got.Timestamp != 42 || string(got.Namespace) != "w" {
		t.Fatalf("restored timer = %v, %v, %v; want the timer at 42 in w", got, ok, err)
	}
}

// testSubtaskWithoutState checkpoints two subtasks of which only one holds state (so the
// other may write no handle) and restores at parallelism 1, 3 and 2: the key groups without
// a handle start empty, the others have their state.
func testSubtaskWithoutState(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(2, nil)
	var keys []int64
	for k := int64(0); len(keys) < 50; k++ {
		if route(subs, k) == subs[0] {
			keys = append(keys, k)
		}
	}
	for _, s := range subs {
		_, err := state.GetValueState(s.kb, valueDesc)
		must(t, err)
	}
	for _, k := range keys {
		s := subs[0]
		setKey(t, s, k)
		v, err := state.GetValueState(s.kb, valueDesc)
		must(t, err)
		must(t, v.Update(fmt.Sprint("v", k)))
	}
	hs := e.checkpoint(subs, backend.SnapshotOptions{Savepoint: true})
	if len(hs) != 1 {
		t.Fatalf("a savepoint of one subtask with state and one without has %d handles, want 1", len(hs))
	}
	for _, p := range []int{1, 3, 2} {
		rs := e.open(p, hs)
		for k := range keys[len(keys)-1] + 10 {
			s := route(rs, k)
			setKey(t, s, k)
			v, err := state.GetValueState(s.kb, valueDesc)
			must(t, err)
			got, ok := get[string](t, v)
			want := route(subs, k) == subs[0] && got == fmt.Sprint("v", k)
			if ok != (route(subs, k) == subs[0] && k <= keys[len(keys)-1]) || ok && !want {
				t.Fatalf("parallelism %d: key %d = %q, %v", p, k, got, ok)
			}
		}
	}
}

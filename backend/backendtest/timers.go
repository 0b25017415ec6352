package backendtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

func timerQueue(t testing.TB, s *subtask, name string) backend.TimerQueue {
	t.Helper()
	q, err := s.b.CreateTimerQueue(name)
	must(t, err)
	return q
}

func keyTimer(t testing.TB, s *subtask, k int64, ns string, ts int64) (backend.Timer, int) {
	t.Helper()
	setKey(t, s, k)
	key, kg, ok := s.kb.CurrentKeyBytes()
	if !ok {
		t.Fatal("no current key")
	}
	return backend.Timer{Timestamp: ts, Key: append([]byte(nil), key...), Namespace: []byte(ns)}, kg
}

// drain removes and returns every timer at or before upTo, in firing order, alternating
// between Remove of the head and Poll.
func drain(t testing.TB, s *subtask, q backend.TimerQueue, upTo int64) []backend.Timer {
	t.Helper()
	var out []backend.Timer
	for i := 0; ; i++ {
		tm, ok, err := q.Peek()
		must(t, err)
		if !ok || tm.Timestamp > upTo {
			return out
		}
		tm = backend.Timer{Timestamp: tm.Timestamp, Key: slices.Clone(tm.Key), Namespace: slices.Clone(tm.Namespace)}
		kg, err := s.kb.KeyGroupOf(mustKey(t, tm.Key))
		must(t, err)
		if i%2 == 0 {
			removed, err := q.Remove(kg, tm)
			must(t, err)
			if !removed {
				t.Fatalf("head %v could not be removed", tm)
			}
		} else {
			polled, pkg, ok, err := q.Poll()
			must(t, err)
			if !ok || pkg != kg || polled.Timestamp != tm.Timestamp || string(polled.Key) != string(tm.Key) || string(polled.Namespace) != string(tm.Namespace) {
				t.Fatalf("Poll = %v (key group %d, %v), Peek said %v (key group %d)", polled, pkg, ok, tm, kg)
			}
		}
		out = append(out, tm)
	}
}

func mustKey(t testing.TB, raw []byte) int64 {
	k, _, err := serde.DecodeKey[int64](serde.Int64{}, raw)
	must(t, err)
	return k
}

func testTimerQueue(t *testing.T, f Factory) {
	_, s := single(t, f)
	q := timerQueue(t, s, "timers")
	rng := rand.New(rand.NewPCG(7, 7))
	type tk struct {
		ts int64
		k  int64
		ns string
	}
	want := map[tk]bool{}
	for range 2000 {
		x := tk{int64(rng.IntN(500)) - 100, int64(rng.IntN(200)), []string{"", "w"}[rng.IntN(2)]}
		tm, kg := keyTimer(t, s, x.k, x.ns, x.ts)
		added, err := q.Add(kg, tm)
		must(t, err)
		if added == want[x] {
			t.Fatalf("Add(%v) = %v, already present: %v", x, added, want[x])
		}
		want[x] = true
	}
	// Delete a third.
	for x := range want {
		if rng.IntN(3) == 0 {
			tm, kg := keyTimer(t, s, x.k, x.ns, x.ts)
			removed, err := q.Remove(kg, tm)
			must(t, err)
			if !removed {
				t.Fatalf("Remove(%v) = false", x)
			}
			delete(want, x)
		}
	}
	tm, kg := keyTimer(t, s, 1, "", 10_000)
	if removed, _ := q.Remove(kg, tm); removed {
		t.Fatal("removed a timer that was never added")
	}
	if q.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", q.Len(), len(want))
	}
	got := drain(t, s, q, 1<<62)
	if len(got) != len(want) {
		t.Fatalf("drained %d timers, want %d", len(got), len(want))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Less(got[i-1]) {
			t.Fatalf("timers out of order: %v before %v", got[i-1], got[i])
		}
	}
	for _, tm := range got {
		x := tk{tm.Timestamp, mustKey(t, tm.Key), string(tm.Namespace)}
		if !want[x] {
			t.Fatalf("unexpected timer %v", x)
		}
	}
	if _, ok, _ := q.Peek(); ok || q.Len() != 0 {
		t.Fatal("queue not empty after draining")
	}
	// A timer name cannot be a keyed state's.
	_, err := state.GetValueState(s.kb, state.ValueDescriptor[string]{Name: "timers"})
	if !errors.Is(err, state.ErrStateConflict) {
		t.Fatalf("value state named like a timer queue: %v", err)
	}
}

// testTimersRescale registers timers at parallelism 2, checkpoints (also with a snapshot
// taken while timers keep changing), restores at 3 and checks every timer fires exactly once,
// on the subtask that owns its key.
func testTimersRescale(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(2, nil)
	qs := make([]backend.TimerQueue, len(subs))
	for i, s := range subs {
		qs[i] = timerQueue(t, s, "timers")
	}
	want := map[string]int{}
	for k := int64(0); k < 500; k++ {
		s := route(subs, k)
		q := qs[slices.Index(subs, s)]
		for j := range 3 {
			ts := k*10 + int64(j)
			tm, kg := keyTimer(t, s, k, fmt.Sprint("ns", j%2), ts)
			_, err := q.Add(kg, tm)
			must(t, err)
			want[fmt.Sprint(k, "/", ts, "/", j%2)] = 0
		}
	}
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionSnappy} {
		h := e.checkpoint(subs, backend.SnapshotOptions{Compression: comp})
		// Changes after the checkpoint are not in it.
		for i, s := range subs {
			drain(t, s, qs[i], 1000)
		}
		restored := e.open(3, h)
		fired := map[string]int{}
		for _, s := range restored {
			q := timerQueue(t, s, "timers")
			for _, tm := range drain(t, s, q, 1<<62) {
				k := mustKey(t, tm.Key)
				if route(restored, k) != s {
					t.Fatalf("timer of key %d fired on a subtask that does not own it", k)
				}
				fired[fmt.Sprint(k, "/", tm.Timestamp, "/", string(tm.Namespace[2:]))]++
			}
		}
		if len(fired) != len(want) {
			t.Fatalf("%d distinct timers fired after restore, want %d", len(fired), len(want))
		}
		for id, n := range fired {
			if _, ok := want[id]; !ok || n != 1 {
				t.Fatalf("timer %s fired %d times (known: %v)", id, n, ok)
			}
		}
		closeAll(restored)
		// Put the drained timers back for the next round.
		for k := int64(0); k < 500; k++ {
			s := route(subs, k)
			q := qs[slices.Index(subs, s)]
			for j := range 3 {
				tm, kg := keyTimer(t, s, k, fmt.Sprint("ns", j%2), k*10+int64(j))
				_, err := q.Add(kg, tm)
				must(t, err)
			}
		}
	}
}

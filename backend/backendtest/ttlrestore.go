package backendtest

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// ttlKeys is the number of keys of the restore cases' data set.
const ttlKeys = 60

// ttlStates are the restore cases' TTL states, one of each kind, under names of their own.
type ttlStates struct {
	v state.ValueState[int64]
	l state.ListState[int64]
	m state.MapState[int64, int64]
	r state.ReducingState[int64]
	a state.AggregatingState[int64, float64]
}

// ttlStatesOf registers the restore cases' states on s with cfg (TTL off when cfg.TTL is 0).
func ttlStatesOf(s *subtask, cfg ttl.Config) (ttlStates, error) {
	var h ttlStates
	var err error
	if h.v, err = state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "rv", TTL: cfg}); err != nil {
		return h, err
	}
	if h.l, err = state.GetListState(s.kb, state.ListDescriptor[int64]{Name: "rl", TTL: cfg}); err != nil {
		return h, err
	}
	if h.m, err = state.GetMapState(s.kb, state.MapDescriptor[int64, int64]{Name: "rm", TTL: cfg}); err != nil {
		return h, err
	}
	if h.r, err = state.GetReducingState(s.kb, state.ReducingDescriptor[int64]{Name: "rr", Reduce: sumDesc.Reduce, TTL: cfg}); err != nil {
		return h, err
	}
	h.a, err = state.GetAggregatingState(s.kb, state.AggregatingDescriptor[int64, avgAcc, float64]{Name: "ra", Function: avgFn{}, TTL: cfg})
	return h, err
}

// ttlOpen opens p subtasks from hs (none: fresh) and registers the states with cfg on each.
func (e *ttlEnv) ttlOpen(p int, hs []*snapshot.KeyedStateHandle, cfg ttl.Config) ([]*subtask, []ttlStates) {
	e.t.Helper()
	subs := e.open(p, hs)
	out := make([]ttlStates, p)
	for i, s := range subs {
		var err error
		out[i], err = ttlStatesOf(s, cfg)
		must(e.t, err)
	}
	return subs, out
}

// restart is a new run of the job: the processing clock goes on, the event time is unknown
// again until the first watermark.
func (e *ttlEnv) restart() {
	e.clock = &backend.Clock{ProcessingTime: e.now.Load}
}

// fillTTL writes the restore data set with cfg's clock: key k's early entries (the value,
// the first list element, map entry 0, the reducing and aggregating values k) at second k%5,
// its late ones (list element k+1000, map entry 1) at second k%5+5.
func (e *ttlEnv) fillTTL(subs []*subtask, hs []ttlStates) {
	e.t.Helper()
	t := e.t
	for second := int64(0); second < 10; second++ {
		e.at(second)
		for k := int64(0); k < ttlKeys; k++ {
			if k%5 != second%5 {
				continue
			}
			s := route(subs, k)
			h := hs[slices.Index(subs, s)]
			setKey(t, s, k)
			if second < 5 {
				must(t, h.v.Update(k))
				must(t, h.l.Add(k))
				must(t, h.m.Put(0, k))
				must(t, h.r.Add(k))
				must(t, h.a.Add(k))
			} else {
				must(t, h.l.Add(k+1000))
				must(t, h.m.Put(1, k))
			}
		}
	}
}

// ttlWant says which of key k's entries fillTTL wrote are live at second now under a TTL of
// ttlSec seconds, with their stamps kept (nil now: event time not known yet, all live).
func ttlWant(k, ttlSec int64, now *int64) (early, late bool) {
	if now == nil {
		return true, true
	}
	return k%5+ttlSec > *now, k%5+5+ttlSec > *now
}

// verifyTTL reads every key of the data set and checks that exactly the entries want
// reports live are returned (the states must be registered with NeverReturnExpired and
// OnCreateAndWrite, so that reads change nothing but remove expired entries).
func verifyTTL(t testing.TB, subs []*subtask, hs []ttlStates, want func(k int64) (early, late bool)) {
	t.Helper()
	for k := int64(0); k < ttlKeys; k++ {
		s := route(subs, k)
		h := hs[slices.Index(subs, s)]
		setKey(t, s, k)
		early, late := want(k)
		var wl []int64
		wm := map[int64]int64{}
		if early {
			wl = append(wl, k)
			wm[0] = k
		}
		if late {
			wl = append(wl, k+1000)
			wm[1] = k
		}
		if v, ok := get[int64](t, h.v); ok != early || (ok && v != k) {
			t.Fatalf("key %d: value = %d, %v; want live %v", k, v, ok, early)
		}
		if got := collect(t, h.l.Get()); !slices.Equal(got, wl) {
			t.Fatalf("key %d: list = %v, want %v", k, got, wl)
		}
		gm := map[int64]int64{}
		for en, err := range h.m.All() {
			must(t, err)
			gm[en.Key] = en.Value
		}
		if !maps.Equal(gm, wm) {
			t.Fatalf("key %d: map = %v, want %v", k, gm, wm)
		}
		if v, ok, err := h.r.Get(); err != nil || ok != early || (ok && v != k) {
			t.Fatalf("key %d: reducing = %d, %v, %v; want live %v", k, v, ok, err, early)
		}
		if v, ok, err := h.a.Get(); err != nil || ok != early || (ok && v != float64(k)) {
			t.Fatalf("key %d: aggregating = %v, %v, %v; want live %v", k, v, ok, err, early)
		}
	}
	for i, s := range subs {
		for k, err := range s.kb.Keys("rv", nil) {
			must(t, err)
			if route(subs, k) != s {
				t.Fatalf("subtask %d holds key %d it does not own", i, k)
			}
		}
	}
}

func restoreCfg(tc ttl.TimeCharacteristic, d time.Duration) ttl.Config {
	return ttl.Config{TTL: d, Time: tc, CleanupSize: -1}
}

// forTimes runs fn once per time characteristic.
func forTimes(t *testing.T, f Factory, fn func(*testing.T, *ttlEnv)) {
	for _, tc := range []ttl.TimeCharacteristic{ttl.ProcessingTime, ttl.EventTime} {
		t.Run(tc.String(), func(t *testing.T) {
			e := &ttlEnv{env: newEnv(t, f), cfg: restoreCfg(tc, ttlSpan)}
			fn(t, e)
		})
	}
}

func sec(s int64) *int64 { return &s }

// testTTLRestoreRescale: stamps travel with entries through checkpoints and savepoints, and
// through rescales (1 -> 3 -> 2 -> 1): each entry expires when it would have without them.
// Under event time nothing expires after a restore before the first watermark.
func testTTLRestoreRescale(t *testing.T, f Factory) {
	forTimes(t, f, func(t *testing.T, e *ttlEnv) {
		subs, hs := e.ttlOpen(1, nil, e.cfg)
		e.fillTTL(subs, hs) // now at 9: nothing expired yet
		h := e.checkpoint(subs, backend.SnapshotOptions{})
		closeAll(subs)
		e.restart()
		subs, hs = e.ttlOpen(3, h, e.cfg)
		if e.cfg.Time == ttl.EventTime {
			verifyTTL(t, subs, hs, func(k int64) (bool, bool) { return ttlWant(k, 10, nil) })
		}
		e.at(11)
		verifyTTL(t, subs, hs, func(k int64) (bool, bool) { return ttlWant(k, 10, sec(11)) })
		h = e.checkpoint(subs, backend.SnapshotOptions{Savepoint: true})
		closeAll(subs)
		e.restart()
		subs, hs = e.ttlOpen(2, h, e.cfg)
		e.at(13)
		verifyTTL(t, subs, hs, func(k int64) (bool, bool) { return ttlWant(k, 10, sec(13)) })
		h = e.checkpoint(subs, backend.SnapshotOptions{})
		closeAll(subs)
		e.restart()
		subs, hs = e.ttlOpen(1, h, e.cfg)
		e.at(17)
		verifyTTL(t, subs, hs, func(k int64) (bool, bool) { return ttlWant(k, 10, sec(17)) })
		closeAll(subs)
	})
}

// testTTLChanged: a restore with another TTL applies it to the restored entries, whose stamps
// are the times of their last write: a longer TTL keeps them longer, a shorter one expires
// them sooner, from the same checkpoint.
func testTTLChanged(t *testing.T, f Factory) {
	forTimes(t, f, func(t *testing.T, e *ttlEnv) {
		subs, hs := e.ttlOpen(1, nil, e.cfg)
		e.fillTTL(subs, hs)
		h := e.checkpoint(subs, backend.SnapshotOptions{})
		closeAll(subs)
		for _, c := range []struct {
			ttl  int64
			secs []int64
		}{{5, []int64{9, 12}}, {20, []int64{21, 27}}} {
			e.restart()
			subs, hs = e.ttlOpen(1, h, restoreCfg(e.cfg.Time, time.Duration(c.ttl)*time.Second))
			for _, now := range c.secs {
				e.at(now)
				verifyTTL(t, subs, hs, func(k int64) (bool, bool) { return ttlWant(k, c.ttl, sec(now)) })
			}
			closeAll(subs)
		}
	})
}

// testTTLFullSnapshotDropsExpired: a full snapshot (every checkpoint of the hashmap backend,
// every savepoint) leaves out the entries expired when it is taken, list elements and map
// entries one by one: a restore with ReturnExpiredIfNotCleanedUp, which would return them,
// and one with TTL switched off, which keeps every value, find none. An incremental
// checkpoint may keep them; it must still never return them as live.
func testTTLFullSnapshotDropsExpired(t *testing.T, f Factory) {
	forTimes(t, f, func(t *testing.T, e *ttlEnv) {
		live := func(k int64) (bool, bool) { return ttlWant(k, 10, sec(12)) }
		var fulls [][]*snapshot.KeyedStateHandle
		for _, sp := range []bool{false, true} {
			e.restart()
			subs, hs := e.ttlOpen(1, nil, e.cfg)
			e.fillTTL(subs, hs)
			e.at(12) // the early entries of keys k%5 <= 2 expired, nothing read
			h := e.checkpoint(subs, backend.SnapshotOptions{Savepoint: sp})
			closeAll(subs)
			e.restart()
			if h[0].Incremental != nil {
				subs, hs = e.ttlOpen(1, h, e.cfg)
				e.at(12)
				verifyTTL(t, subs, hs, live)
				closeAll(subs)
				continue
			}
			fulls = append(fulls, h)
			returning := e.cfg
			returning.Visibility = ttl.ReturnExpiredIfNotCleanedUp
			subs, hs = e.ttlOpen(1, h, returning)
			wantKeys := keysWith(func(k int64) bool { early, _ := live(k); return early })
			if got := keysOf(t, subs, "rv"); !slices.Equal(got, wantKeys) {
				t.Fatalf("savepoint=%v: keys of the value state after restoring a full snapshot = %v, want the live ones %v", sp, got, wantKeys)
			}
			verifyTTL(t, subs, hs, live) // under event time no watermark yet: leftovers would be live
			closeAll(subs)
		}
		for _, h := range fulls {
			e.restart()
			subs, hs := e.ttlOpen(1, h, ttl.Config{})
			e.at(100)
			verifyTTL(t, subs, hs, live)
			closeAll(subs)
		}
	})
}

func keysOf(t testing.TB, subs []*subtask, name string) []int64 {
	var out []int64
	for _, s := range subs {
		out = append(out, collect(t, s.kb.Keys(name, nil))...)
	}
	return sorted(out)
}

func keysWith(pred func(int64) bool) []int64 {
	var out []int64
	for k := int64(0); k < ttlKeys; k++ {
		if pred(k) {
			out = append(out, k)
		}
	}
	return out
}

// testTTLSwitchedOn: state written without TTL and restored with it keeps every value,
// stamped with the time of the restore: live one TTL from then. Under event time that time is
// the snapshot's watermark (second 9 of fillTTL), where the restored clock starts.
func testTTLSwitchedOn(t *testing.T, f Factory) {
	forTimes(t, f, func(t *testing.T, e *ttlEnv) {
		subs, hs := e.ttlOpen(1, nil, ttl.Config{})
		e.fillTTL(subs, hs)
		h := e.checkpoint(subs, backend.SnapshotOptions{})
		closeAll(subs)
		e.restart()
		restoredAt := int64(9)
		if e.cfg.Time == ttl.ProcessingTime {
			restoredAt = 50
			e.at(restoredAt)
		}
		subs, hs = e.ttlOpen(1, h, e.cfg)
		all := func(int64) (bool, bool) { return true, true }
		verifyTTL(t, subs, hs, all)
		e.at(restoredAt + 9)
		verifyTTL(t, subs, hs, all)
		e.at(restoredAt + 10)
		verifyTTL(t, subs, hs, func(int64) (bool, bool) { return false, false })
		closeAll(subs)
	})
}

// testTTLSwitchedOff: state written with TTL and restored without it keeps every value the
// snapshot holds, with its stamps dropped: nothing expires any more.
func testTTLSwitchedOff(t *testing.T, f Factory) {
	forTimes(t, f, func(t *testing.T, e *ttlEnv) {
		subs, hs := e.ttlOpen(1, nil, e.cfg)
		e.fillTTL(subs, hs)
		h := e.checkpoint(subs, backend.SnapshotOptions{})
		closeAll(subs)
		e.restart()
		subs, hs = e.ttlOpen(1, h, ttl.Config{})
		e.at(1000)
		all := func(int64) (bool, bool) { return true, true }
		verifyTTL(t, subs, hs, all)
		// And it stays so through another snapshot.
		h = e.checkpoint(subs, backend.SnapshotOptions{Savepoint: true})
		closeAll(subs)
		subs, hs = e.ttlOpen(2, h, ttl.Config{})
		verifyTTL(t, subs, hs, all)
		closeAll(subs)
	})
}

// testTTLTimeSwitchRefused: a state written with processing-time TTL cannot be registered
// with event-time TTL, nor the reverse (the stamps are times of the other clock): the
// registration fails with ErrIncompatibleSerializer naming both.
func testTTLTimeSwitchRefused(t *testing.T, f Factory) {
	forTimes(t, f, func(t *testing.T, e *ttlEnv) {
		subs, hs := e.ttlOpen(1, nil, e.cfg)
		e.fillTTL(subs, hs)
		h := e.checkpoint(subs, backend.SnapshotOptions{})
		closeAll(subs)
		other := e.cfg
		other.Time = ttl.EventTime
		if e.cfg.Time == ttl.EventTime {
			other.Time = ttl.ProcessingTime
		}
		s := e.open(1, h)[0]
		_, err := ttlStatesOf(s, other)
		if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), "processing") || !strings.Contains(err.Error(), "event") {
			t.Fatalf("%s-time TTL state registered with %s-time TTL: err = %v; want ErrIncompatibleSerializer naming both", e.cfg.Time, other.Time, err)
		}
		// The same registration as before still works.
		e.restart()
		subs, hs = e.ttlOpen(1, h, e.cfg)
		verifyTTL(t, subs, hs, func(k int64) (bool, bool) { return ttlWant(k, 10, nil) })
		closeAll(append(subs, s))
	})
}

// CheckTTLBackendSwitch checks that TTL state moves between two backends through canonical
// savepoints with its stamps: state written by backends from from, savepointed, restored by
// backends from to at another parallelism (and back again) expires each entry when it would
// have without the switch, under processing and event time. Backends call it with another
// backend's factory (the lsm backend's tests with the hashmap backend's).
func CheckTTLBackendSwitch(t *testing.T, from, to Factory) {
	forTimes(t, from, func(t *testing.T, e *ttlEnv) {
		subs, hs := e.ttlOpen(1, nil, e.cfg)
		e.fillTTL(subs, hs)
		h := e.checkpoint(subs, backend.SnapshotOptions{Savepoint: true})
		closeAll(subs)
		e.f = to
		e.restart()
		subs, hs = e.ttlOpen(2, h, e.cfg)
		e.at(11)
		verifyTTL(t, subs, hs, func(k int64) (bool, bool) { return ttlWant(k, 10, sec(11)) })
		h = e.checkpoint(subs, backend.SnapshotOptions{Savepoint: true})
		closeAll(subs)
		e.f = from
		e.restart()
		subs, hs = e.ttlOpen(3, h, e.cfg)
		e.at(16)
		verifyTTL(t, subs, hs, func(k int64) (bool, bool) { return ttlWant(k, 10, sec(16)) })
		closeAll(subs)
	})
}

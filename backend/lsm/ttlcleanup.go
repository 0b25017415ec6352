package lsm

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/state/ttl"
)

// TTL cleanup: a sweep of the TTL states' entries, run in small steps on the task goroutine
// from the access hook of the TTL states (ttlview.With), at most Options.TTLCleanupRate
// entries per second. A step walks on from where the last one stopped, span by span (one key
// group of one TTL state: the spans of the key layout), deletes the expired entries (list
// elements one by one, as reads do) and stamps NoStamp entries once the time is known. See
// docs/design.md, "TTL cleanup on lsm", for why this and not a compaction hook.
//
// Correctness: the step runs between two calls of the task, reads through an iterator made
// after the pending writes are committed, and writes through the pending batch, so it sees
// every write of the task and nothing writes between its read of an entry and its delete:
// it can never delete an entry the task rewrote after it expired.

const (
	// sweepCheckEvery is the number of TTL state accesses between two looks at the wall
	// clock by the access hook: reading the clock costs more than the hook's counter.
	sweepCheckEvery = 64
	// sweepMinInterval is the least time between two sweep steps.
	sweepMinInterval = 10 * time.Millisecond
	// sweepMaxBurst caps a step's budget at this much time's worth of the rate, after an
	// idle spell.
	sweepMaxBurst = 100 * time.Millisecond
	// maxCorruptReported bounds the corrupt keys the sweep remembers having logged; corrupt
	// entries beyond them are logged in every pass they are found.
	maxCorruptReported = 1024
)

// sweepState is a registered TTL state, as the sweep needs it.
type sweepState struct {
	id   uint16
	name string
	kind backend.Kind
	ttl  *ttl.Config
}

// SweepStats counts the work of a backend's TTL cleanup since it was created.
type SweepStats struct {
	// Visited is the number of stored entries the sweep examined, Seeks the number of spans
	// (one key group of one TTL state) it positioned on.
	Visited, Seeks int64
	// Deleted is the number of entries (values, lists, map entries) it deleted; Rewritten the
	// number of lists it rewrote without their expired elements or entries it stamped.
	Deleted, Rewritten int64
	// Passes is the number of complete passes over every TTL state's entries.
	Passes int64
	// Corrupt is the number of entries the sweep skipped because their stored bytes do not
	// decode (a value without its stamp, a list that does not split); an entry that stays
	// corrupt counts again in every pass. Each is logged at level Error.
	Corrupt int64
}

type sweeper struct {
	b      *Backend
	rate   int // entries per second; 0: no cleanup
	states []sweepState
	calls  int
	last   time.Time
	// The cursor: the span of key group kg and states[si], after the key after (nil: from
	// the span's start).
	kg    int
	si    int
	after []byte
	// stats counts the current step's work; total, every finished step's, read by
	// Backend.TTLCleanupStats from any goroutine.
	stats SweepStats
	total struct{ visited, seeks, deleted, rewritten, passes, corrupt atomic.Int64 }
	err   error // the first failure, after which the sweep stops
	// reported are the corrupt keys logged already (at most maxCorruptReported), so that an
	// entry that stays corrupt is not logged again in every pass.
	reported map[string]struct{}

	at []ttlview.Expiry // per state: its judge at the time of the current step
	// passStart is when the current pass began, warned when the last slow pass was logged.
	passStart, warned time.Time
	elems             [][]byte
	buf               []byte
}

func newSweeper(b *Backend, rate int) *sweeper {
	now := time.Now()
	return &sweeper{b: b, rate: rate, kg: b.rng.Start, last: now, passStart: now}
}

// add makes the registered TTL state st part of the sweep; its span is swept from the next
// key group on.
func (s *sweeper) add(st sweepState) {
	s.states = append(s.states, st)
	slices.SortFunc(s.states, func(x, y sweepState) int { return int(x.id) - int(y.id) })
	s.si, s.after = 0, nil
}

// access is the TTL states' access hook: every sweepCheckEvery calls it reads the wall clock
// and, sweepMinInterval after the last step, runs a step with the entries the rate allows
// for the time since (at most sweepMaxBurst's worth).
func (s *sweeper) access() {
	if s.rate <= 0 || s.err != nil {
		return
	}
	if s.calls++; s.calls < sweepCheckEvery {
		return
	}
	s.calls = 0
	now := time.Now()
	d := now.Sub(s.last)
	if d < sweepMinInterval {
		return
	}
	s.last = now
	budget := int(int64(s.rate) * int64(min(d, sweepMaxBurst)) / int64(time.Second))
	if err := s.step(max(budget, 1)); err != nil {
		s.err = err
		s.b.opts.Logger.Error("lsm backend: TTL cleanup stopped", "operator", s.b.opID, "err", err)
	}
}

// step examines up to budget entries (a span's seek counts as one) from the cursor on, and
// stops at the end of a pass.
func (s *sweeper) step(budget int) error {
	b := s.b
	if len(s.states) == 0 || b.closed {
		return nil
	}
	s.at = s.at[:0]
	for _, st := range s.states {
		s.at = append(s.at, ttlview.ExpiryAt(st.ttl, b.opts.Clock))
	}
	it, err := b.newIter(nil)
	if err != nil {
		return fmt.Errorf("lsm backend: TTL cleanup of operator %s: %w", b.opID, err)
	}
	defer it.Close()
	s.stats = SweepStats{}
	defer s.publish()
	for budget > 0 {
		st := s.states[s.si]
		lo := appendStatePrefix(nil, s.kg, st.id) // fresh: Pebble keeps the bounds
		it.SetBounds(lo, prefixEnd(lo))
		budget--
		s.stats.Seeks++
		var valid bool
		if s.after == nil {
			valid = it.First()
		} else {
			valid = it.SeekGE(append(s.after, 0)) // the first key after s.after
		}
		for ; valid && budget > 0; valid = it.Next() {
			budget--
			s.stats.Visited++
			v, err := it.ValueAndErr()
			var corrupt error
			if err == nil {
				corrupt, err = s.entry(st, s.at[s.si], it.Key(), v)
			}
			// A read or write error stops the sweep: it is the database failing (Pebble's
			// fault, recorded for every call of the backend, or a failed commit, which every
			// later write returns), and going on would fail the same way at every step.
			if err != nil {
				return fmt.Errorf("lsm backend: TTL cleanup of state %q of operator %s, key group %d: %w", st.name, b.opID, s.kg, b.dbErr(err))
			}
			// A corrupt entry is skipped: it may never be read again, so stopping at it would
			// keep every expired entry after it on disk for good.
			if corrupt != nil {
				s.corrupt(st, it.Key(), corrupt)
			}
			s.after = append(s.after[:0], it.Key()...)
		}
		if err := it.Error(); err != nil {
			return fmt.Errorf("lsm backend: TTL cleanup of state %q of operator %s, key group %d: %w", st.name, b.opID, s.kg, b.dbErr(err))
		}
		if valid {
			return nil // out of budget inside the span: the next step goes on after s.after
		}
		s.after = nil
		if s.si++; s.si == len(s.states) {
			s.si = 0
			if s.kg++; s.kg > b.rng.End {
				s.kg = b.rng.Start
				s.stats.Passes++
				s.passDone()
				return nil // at most one pass per step: a small state is not swept over and over
			}
		}
	}
	return nil
}

// passDone ends a pass. A pass that took longer than the shortest TTL means entries expire
// faster than the sweep examines them: the store then holds more than a TTL's worth of
// expired entries, and grows while the job keeps its pace. That is logged (at most once a
// minute) with the fix, since nothing else would show it.
func (s *sweeper) passDone() {
	now := time.Now()
	took := now.Sub(s.passStart)
	s.passStart = now
	shortest := time.Duration(math.MaxInt64)
	for _, st := range s.states {
		shortest = min(shortest, st.ttl.TTL)
	}
	if took <= shortest || now.Sub(s.warned) < time.Minute {
		return
	}
	s.warned = now
	s.b.opts.Logger.Warn("lsm backend: a TTL cleanup pass took longer than the shortest TTL, so expired entries pile up; "+
		"raise state.backend.lsm.ttl-cleanup-rate above the rate at which entries expire",
		"operator", s.b.opID, "pass", took.Round(time.Millisecond), "ttl", shortest, "rate", s.rate)
}

func (s *sweeper) publish() {
	s.total.visited.Add(s.stats.Visited)
	s.total.seeks.Add(s.stats.Seeks)
	s.total.deleted.Add(s.stats.Deleted)
	s.total.rewritten.Add(s.stats.Rewritten)
	s.total.passes.Add(s.stats.Passes)
	s.total.corrupt.Add(s.stats.Corrupt)
}

// corrupt counts the corrupt entry k of state st that the sweep skips, and logs it at level
// Error, once per key while at most maxCorruptReported keys are remembered.
func (s *sweeper) corrupt(st sweepState, k []byte, err error) {
	s.stats.Corrupt++
	if _, ok := s.reported[string(k)]; ok {
		return
	}
	if s.reported == nil {
		s.reported = map[string]struct{}{}
	}
	if len(s.reported) < maxCorruptReported {
		s.reported[string(k)] = struct{}{}
	}
	s.b.opts.Logger.Error("lsm backend: TTL cleanup skips a corrupt entry; reading its key fails the same way",
		"operator", s.b.opID, "state", st.name, "keyGroup", s.kg, "err", err)
}

// TTLCleanupStats returns the work of the backend's TTL cleanup so far. It may be called from
// any goroutine (a metrics collector).
func (b *Backend) TTLCleanupStats() SweepStats {
	t := &b.sweep.total
	return SweepStats{Visited: t.visited.Load(), Seeks: t.seeks.Load(), Deleted: t.deleted.Load(),
		Rewritten: t.rewritten.Load(), Passes: t.passes.Load(), Corrupt: t.corrupt.Load()}
}

// entry deletes the stored entry k (value v) of state st if it expired (judged by x), drops
// a list's expired elements, and stamps NoStamp values with the time once it is known.
// corrupt says why v does not decode (the entry is left as it is); err is a failed write.
func (s *sweeper) entry(st sweepState, x ttlview.Expiry, k, v []byte) (corrupt, err error) {
	if st.kind != backend.KindList {
		at, _, err := backend.StampOf(v)
		if err != nil {
			return s.b.corruptKey(k, err), nil
		}
		expired, restamp, keep := x.Judge(at)
		switch {
		case expired:
			s.stats.Deleted++
			return nil, s.b.del(k)
		case restamp:
			s.stats.Rewritten++
			s.buf = append(backend.AppendStamp(s.buf[:0], keep), v[backend.StampLen:]...)
			return nil, s.b.set(k, s.buf)
		}
		return nil, nil
	}
	if s.elems, err = splitList(s.elems[:0], v); err != nil {
		return s.b.corruptKey(k, err), nil
	}
	s.buf = s.buf[:0]
	changed := false
	for _, e := range s.elems {
		at, _, err := backend.StampOf(e)
		if err != nil {
			return s.b.corruptKey(k, err), nil
		}
		expired, restamp, keep := x.Judge(at)
		switch {
		case expired:
			changed = true
			continue
		case restamp:
			changed = true
			s.buf = appendListElement(s.buf, e)
			start := len(s.buf) - len(e)
			backend.AppendStamp(s.buf[start:start], keep) // overwrites the element's stamp in place
		default:
			s.buf = appendListElement(s.buf, e)
		}
	}
	switch {
	case !changed:
		return nil, nil
	case len(s.buf) == 0:
		s.stats.Deleted++
		return nil, s.b.del(k)
	default:
		s.stats.Rewritten++
		return nil, s.b.set(k, s.buf)
	}
}

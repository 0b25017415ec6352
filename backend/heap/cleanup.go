package heap

import (
	"iter"
	"math"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/state/ttl"
)

// cleanable is implemented by the states a TTL descriptor can have (value, list and map
// states, boxed or of stamped words: ttlview.RawWordSpec): the incremental cleanup walks them.
type cleanable interface {
	// eachIn calls fn for every (key, namespace) of key group index kg with state.
	eachIn(kg int, fn func(key, ns []byte))
	// clean removes the expired values, elements or entries of k in key group index kg at
	// now, stamps NoStamp ones with now when now is known, and returns how many it checked
	// (at least 1) and the earliest stamp of those left (math.MaxInt64 for none).
	clean(kg int, k *tkey, x ttlview.Expiry) (checked int, earliest int64)
	// iterations counts the iterations of the state that run (Map.All, Backend.Keys): the
	// cleanup does not write to a state while it is iterated.
	iterations() *int
}

// cleanup is a TTL state's incremental cleanup (Flink's cleanupIncrementally): every access
// of the state checks up to size of its entries and removes the expired ones, going on from
// where the last access stopped, so that entries that are written once and never read again
// still leave memory.
//
// Go maps have no stable cursor (iteration order is random and restarts on every range), so
// the cursor is the position in a copy of the keys of one key group at a time: when the copy
// is used up, the keys of the next key group (wrapping around after the last) are copied into
// the same arena. A copy costs O(keys of the group) once for that many checks, so an access
// costs O(size) amortized, and in steady state the arena and offsets are reused: nothing is
// allocated. A key written after its group was copied is seen on the next lap; one deleted
// meanwhile is not found and skipped. Copying every cell's (key, namespace) rather than an
// index kept up to date by every write keeps the write paths, and the state that has no TTL,
// exactly as fast as before. Each key is looked up again and changed through the state's
// normal write paths, so a running snapshot's frozen tables and cells stay as they were.
//
// A list or map cell is checked whole, its elements or entries counting against size (as
// Flink does); switching to the next key group counts as one check, so empty key groups cost
// a bounded amount too.
//
// Horizon: when a whole lap finds nothing that expires before some time h (the earliest stamp
// it left, or the time the lap began if earlier, plus the TTL), nothing can expire before h
// except entries stamped with a time earlier than the lap began (a clock set back, or an
// event-time record older than the watermark). Until the clock reaches h, an access then only
// reads the clock: no key is checked. Such early-stamped entries are cleaned one lap later;
// expiry itself is never late, since reads and snapshots judge every entry by the clock.
type cleanup struct {
	s     cleanable
	b     *Backend
	clock *backend.Clock
	cfg   ttl.Config
	ms    int64 // the TTL in milliseconds
	size  int   // entries checked per access
	kgs   int   // key groups of the backend
	iter  *int  // s.iterations()

	next  int      // the key group index whose keys are copied next
	kg    int      // the key group index of the copied keys
	arena []byte   // the copied keys and namespaces
	ends  []keyEnd // where each copied key and namespace ends in arena
	pos   int      // the next copied key to check
	k     tkey     // the key being checked
	kbuf  []byte   // buffer of k's general form

	lapStart int64 // the time the current lap began
	earliest int64 // the earliest stamp the current lap left
	settled  bool  // a whole lap ran: horizon holds
	horizon  int64 // no entry stamped since the last lap began expires before it
}

// keyEnd locates one copied key and namespace: arena[prev.ns:key] and arena[key:ns].
type keyEnd struct{ key, ns int32 }

func newCleanup(b *Backend, s cleanable, cfg ttl.Config) *cleanup {
	return &cleanup{s: s, b: b, clock: b.clock, cfg: cfg, ms: cfg.Millis(), size: cfg.Cleanup(),
		kgs: b.rng.Len(), iter: s.iterations(), earliest: math.MaxInt64}
}

// access is the hook ttlview.With calls on every access of the state.
func (c *cleanup) access() {
	if c.b.closed || *c.iter > 0 {
		return
	}
	x := ttlview.ExpiryAt(&c.cfg, c.clock)
	now := x.Now()
	if c.settled && now < c.horizon {
		return
	}
	for steps := 0; steps < c.size; {
		if c.pos == len(c.ends) {
			if c.next == c.kgs { // a lap ended
				c.next = 0
				c.settled = true
				c.horizon = satAdd(min(c.earliest, c.lapStart), c.ms)
				if now < c.horizon {
					return
				}
			}
			c.load(now)
			steps++
			continue
		}
		e, start := c.ends[c.pos], int32(0)
		if c.pos > 0 {
			start = c.ends[c.pos-1].ns
		}
		c.pos++
		c.k.setKey(c.arena[start:e.key], c.arena[e.key:e.ns], &c.kbuf)
		n, earliest := c.s.clean(c.kg, &c.k, x)
		c.earliest = min(c.earliest, earliest)
		steps += n
	}
}

// load copies the keys of key group index c.next and moves the cursor to its first.
func (c *cleanup) load(now int64) {
	if c.next == 0 {
		c.lapStart, c.earliest = now, math.MaxInt64
	}
	c.kg, c.next = c.next, c.next+1
	c.arena, c.ends, c.pos = c.arena[:0], c.ends[:0], 0
	c.s.eachIn(c.kg, func(key, ns []byte) {
		c.arena = append(c.arena, key...)
		k := int32(len(c.arena))
		c.arena = append(c.arena, ns...)
		c.ends = append(c.ends, keyEnd{key: k, ns: int32(len(c.arena))})
	})
}

// survey judges the stamps of one list's elements or one map's entries: whether any expired
// or takes a new stamp (then the cell is rewritten), and the earliest stamp that stays.
func survey(x ttlview.Expiry, stamps iter.Seq[int64]) (change bool, earliest int64) {
	earliest = math.MaxInt64
	for st := range stamps {
		expired, restamp, at := x.Judge(st)
		change = change || expired || restamp
		if !expired {
			earliest = min(earliest, at)
		}
	}
	return change, earliest
}

// satAdd returns a+b for b >= 0, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func (s *stateBase) iterations() *int { return &s.iterating }

func eachIn[C any](ts []*kgTable[C], kg int, fn func(key, ns []byte)) {
	ts[kg].each(func(key, ns []byte, _ C) bool { fn(key, ns); return true })
}

func (s *valueState) eachIn(kg int, fn func(key, ns []byte))   { eachIn(s.tables, kg, fn) }
func (s *listState[E]) eachIn(kg int, fn func(key, ns []byte)) { eachIn(s.tables, kg, fn) }
func (s *mapState) eachIn(kg int, fn func(key, ns []byte))     { eachIn(s.tables, kg, fn) }

// clean implements cleanable. A restamped value that a running snapshot holds is copied
// first if mutable (as a read would), so that the task never changes the snapshot's copy.
func (s *valueState) clean(kg int, k *tkey, x ttlview.Expiry) (int, int64) {
	c, ok, frozen := readable(s.b, s.tables, kg).find(k)
	if !ok || !s.stamped {
		return 1, math.MaxInt64
	}
	expired, restamp, at := x.Judge(c.at)
	switch {
	case expired:
		writableKey(&s.stateBase, s.tables, kg, k).del(k)
		return 1, math.MaxInt64
	case restamp:
		v := c.v
		if frozen && s.mutable && s.b.sharing() {
			var err error
			if v, err = s.copyValue(v); err != nil {
				return 1, math.MaxInt64 // the next read reports it; a later lap retries
			}
		}
		writableKey(&s.stateBase, s.tables, kg, k).put(k, valueCell{v: v, at: at})
	}
	return 1, at
}

// clean implements cleanable: the live elements are written as a new list of the current
// layer (never in place: the old one's memory may be a snapshot's).
func (s *listState[E]) clean(kg int, k *tkey, x ttlview.Expiry) (int, int64) {
	c, _ := readable(s.b, s.tables, kg).get(k)
	if c == nil {
		return 1, math.MaxInt64
	}
	if s.stamp == nil {
		return max(1, len(c.items)), math.MaxInt64
	}
	change, earliest := survey(x, func(yield func(int64) bool) {
		for _, e := range c.items {
			if st, ok := s.stamp(e); ok && !yield(st) {
				return
			}
		}
	})
	checked := max(1, len(c.items))
	if !change {
		return checked, earliest
	}
	wc, err := s.cell(kg, k) // copies the elements a running snapshot holds if mutable
	if err != nil {
		return checked, math.MaxInt64
	}
	keep := make([]E, 0, len(wc.items))
	for _, e := range wc.items {
		st, ok := s.stamp(e)
		if !ok {
			keep = append(keep, e)
			continue
		}
		expired, restamp, at := x.Judge(st)
		if expired {
			continue
		}
		if restamp {
			e = s.restamp(e, at)
		}
		keep = append(keep, e)
	}
	if len(keep) == 0 {
		writableKey(&s.stateBase, s.tables, kg, k).del(k)
	} else {
		wc.items = keep
	}
	return checked, earliest
}

// clean implements cleanable: the entries are removed from (and restamped in) the current
// layer's copy of the map (mapState.cell).
func (s *mapState) clean(kg int, k *tkey, x ttlview.Expiry) (int, int64) {
	c, _ := readable(s.b, s.tables, kg).get(k)
	if c == nil {
		return 1, math.MaxInt64
	}
	change, earliest := survey(x, func(yield func(int64) bool) {
		for _, e := range c.m {
			if st, ok := e.Value.(ttlview.Stamped); ok && !yield(st.At) {
				return
			}
		}
	})
	checked := max(1, len(c.m))
	if !change {
		return checked, earliest
	}
	wc, err := s.cell(kg, k)
	if err != nil {
		return checked, math.MaxInt64
	}
	for uk, e := range wc.m {
		st, ok := e.Value.(ttlview.Stamped)
		if !ok {
			continue
		}
		switch expired, restamp, at := x.Judge(st.At); {
		case expired:
			delete(wc.m, uk)
		case restamp:
			wc.m[uk] = backend.MapEntry{Key: e.Key, Value: ttlview.Stamped{At: at, V: st.V}}
		}
	}
	if len(wc.m) == 0 {
		writableKey(&s.stateBase, s.tables, kg, k).del(k)
	}
	return checked, earliest
}

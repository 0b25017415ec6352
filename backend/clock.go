package backend

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/state/ttl"
)

// Clock is the time a keyed backend judges TTL states by (package state/ttl): the processing
// time, and for event-time TTL the timestamp of the record being processed and the operator's
// current watermark, which the runtime sets. The zero Clock reads the wall clock (coarsely, see
// ProcessingTime) and knows no event time yet. A Clock may be read from any goroutine; the
// runtime sets it from the task's. A Clock must not be copied after its first use.
type Clock struct {
	// ProcessingTime returns the processing time in milliseconds since the epoch. Tests set
	// a manual clock here, before the Clock is first read. Default: the wall clock, read by
	// a goroutine of the Clock once per coarseTick for coarseLife, after which the next read
	// starts a new one (so an idle Clock has none), so that a read, which TTL states do
	// several times per access, is one atomic load instead of a clock read of tens of
	// nanoseconds. The time it returns lags the wall clock by up to a tick (more while the
	// process is starved of CPU); TTL stamps and expiry read the same clock, so an entry
	// lives its TTL give or take that lag, the precision Flink's System.currentTimeMillis has.
	ProcessingTime func() int64
	// Both are stored as uint64(v) ^ 1<<63, so that the zero value is math.MinInt64: unknown.
	watermark atomic.Uint64
	timestamp atomic.Uint64
	// wall is the wall clock (ms) as the ticking goroutine last read it; 0 while none runs.
	// It is set only while ProcessingTime is nil.
	wall atomic.Int64
}

// coarseTick is how often the default processing time is read from the wall clock, and
// coarseLife how long one ticking goroutine runs.
const (
	coarseTick = time.Millisecond
	coarseLife = time.Second
)

func flip(v int64) uint64 { return uint64(v) ^ 1<<63 }

// AdvanceWatermark sets the current watermark (ms); a smaller one than the current is ignored.
func (c *Clock) AdvanceWatermark(wm int64) {
	for {
		old := c.watermark.Load()
		if flip(wm) <= old || c.watermark.CompareAndSwap(old, flip(wm)) {
			return
		}
	}
}

// Watermark returns the current watermark, math.MinInt64 before the first.
func (c *Clock) Watermark() int64 { return int64(c.watermark.Load() ^ 1<<63) }

// SnapshotWatermark is what a keyed snapshot records as its handle's TTLWatermark at its
// synchronous phase: the watermark, nil while there is none.
func (c *Clock) SnapshotWatermark() *int64 {
	if wm := c.Watermark(); wm != math.MinInt64 {
		return &wm
	}
	return nil
}

// Restore advances the watermark to the least TTLWatermark of the handles whose key groups
// overlap rng, the ones a backend restores; nothing when one of them recorded none. A
// backend calls it when it restores, so that event-time TTL judges restored entries at least
// as the snapshot did: an entry that had expired is not returned again by a replay that
// starts before the job's first watermark. At the parallelism of the snapshot that is the
// subtask's own watermark; after a rescale, the least of those whose state it takes, so
// nothing expires earlier than it did.
func (c *Clock) Restore(handles []*snapshot.KeyedStateHandle, rng keygroup.Range) {
	least, found := int64(math.MaxInt64), false
	for _, h := range handles {
		if h == nil || h.KeyGroupRange.Intersect(rng).Len() == 0 {
			continue
		}
		if h.TTLWatermark == nil {
			return
		}
		least, found = min(least, *h.TTLWatermark), true
	}
	if found {
		c.AdvanceWatermark(least)
	}
}

// SetTimestamp sets the event timestamp of the record or timer being processed (ms), which
// event-time TTL stamps entries with; math.MinInt64 when it has none.
func (c *Clock) SetTimestamp(ts int64) { c.timestamp.Store(flip(ts)) }

// Now returns the time entries are judged by under t: the processing time, or the watermark
// (math.MinInt64, before which nothing expires, when there is none yet).
func (c *Clock) Now(t ttl.TimeCharacteristic) int64 {
	if t == ttl.EventTime {
		return c.Watermark()
	}
	return c.processing()
}

// Stamp returns the time an entry written now is stamped with under t: the processing time,
// or the timestamp of the record being processed (the watermark when it has none). It is
// NoStamp when event time is not known yet.
func (c *Clock) Stamp(t ttl.TimeCharacteristic) int64 {
	if t != ttl.EventTime {
		return c.processing()
	}
	if ts := int64(c.timestamp.Load() ^ 1<<63); ts != math.MinInt64 {
		return ts
	}
	return c.Watermark() // NoStamp (math.MinInt64) before the first watermark
}

// processing is the processing time. Its common case, the coarse wall clock running, is one
// load and inlines into the TTL views; the rest is processingSlow.
func (c *Clock) processing() int64 {
	if ms := c.wall.Load(); ms != 0 { // set only while ProcessingTime is nil
		return ms
	}
	return c.processingSlow()
}

func (c *Clock) processingSlow() int64 {
	if c.ProcessingTime != nil {
		return c.ProcessingTime()
	}
	now := time.Now().UnixMilli()
	if c.wall.CompareAndSwap(0, max(now, 1)) { // only the reader that finds no goroutine starts one
		go c.tick(coarseTick, coarseLife)
	}
	return now
}

// tick keeps c.wall the wall clock, read every tick, for life; it then sets c.wall to 0,
// which makes the next read start a new tick (wall is 0 only while none runs, so at most one
// runs at a time, and a Clock nobody reads has none after life).
func (c *Clock) tick(tick, life time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	end := time.Now().Add(life)
	for now := range t.C {
		if now.After(end) {
			c.wall.Store(0)
			return
		}
		c.wall.Store(max(time.Now().UnixMilli(), 1)) // 1 ms after the epoch at the earliest: 0 means none
	}
}

// NoStamp is the stamp of an entry whose time is not known yet: one restored into a state
// that had no TTL, while the event time is still unknown. It never expires; the first time
// the entry is seen with the time known (a read, an incremental cleanup, a sweep) it is
// stamped with that time, so it lives one TTL from then.
const NoStamp = math.MinInt64

// Expired reports whether an entry stamped at lives no longer at now under a TTL of ttlMillis.
// A NoStamp entry never expires; the arithmetic saturates instead of overflowing.
func Expired(stamp, ttlMillis, now int64) bool {
	if stamp == NoStamp {
		return false
	}
	if stamp > math.MaxInt64-ttlMillis {
		return false
	}
	return stamp+ttlMillis <= now
}

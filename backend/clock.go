package backend

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/state/ttl"
)

// Clock is the time a keyed backend judges TTL states by (package state/ttl): the processing
// time, and for event-time TTL the timestamp of the record being processed and the operator's
// current watermark, which the runtime sets. The zero Clock reads the wall clock and knows no
// event time yet. A Clock may be read from any goroutine; the runtime sets it from the task's.
type Clock struct {
	// ProcessingTime returns the processing time in milliseconds since the epoch. Default:
	// the wall clock. Tests set a manual clock here.
	ProcessingTime func() int64
	// Both are stored as uint64(v) ^ 1<<63, so that the zero value is math.MinInt64: unknown.
	watermark atomic.Uint64
	timestamp atomic.Uint64
}

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

func (c *Clock) processing() int64 {
	if c == nil || c.ProcessingTime == nil {
		return time.Now().UnixMilli()
	}
	return c.ProcessingTime()
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

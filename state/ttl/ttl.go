package ttl

import (
	"fmt"
	"time"
)

// Config is a state's time-to-live. The zero Config (TTL 0) means the state never expires.
type Config struct {
	// TTL is how long an entry lives after its last update. Zero disables TTL; it must not
	// be negative, and is kept to the millisecond.
	TTL time.Duration
	// Update says which accesses restart an entry's TTL. Default: OnCreateAndWrite.
	Update UpdateType
	// Visibility says whether an expired entry not yet cleaned up may still be returned.
	// Default: NeverReturnExpired.
	Visibility Visibility
	// Time is the clock entries are judged by. Default: ProcessingTime.
	Time TimeCharacteristic
	// CleanupSize is how many entries the hashmap backend checks for expiry, and removes if
	// expired, on each access of the state (Flink's cleanupIncrementally). Default (0): 5;
	// -1 turns incremental cleanup off (expired entries then leave memory when read, or
	// when a full snapshot or restore drops them).
	CleanupSize int
}

// UpdateType says when an entry's TTL restarts (Flink's StateTtlConfig.UpdateType).
type UpdateType uint8

const (
	// OnCreateAndWrite restarts the TTL when the entry is written.
	OnCreateAndWrite UpdateType = iota
	// OnReadAndWrite restarts it when the entry is read too (a read then writes the stamp).
	OnReadAndWrite
)

// Visibility says what a read of an expired entry returns (Flink's StateVisibility).
type Visibility uint8

const (
	// NeverReturnExpired returns nothing for an expired entry.
	NeverReturnExpired Visibility = iota
	// ReturnExpiredIfNotCleanedUp returns an expired entry if it is still stored; the read
	// then removes it.
	ReturnExpiredIfNotCleanedUp
)

// TimeCharacteristic is the clock of a TTL.
type TimeCharacteristic uint8

const (
	// ProcessingTime judges entries by the wall clock of the machine running the task.
	ProcessingTime TimeCharacteristic = iota
	// EventTime stamps an entry with the timestamp of the record (or timer) being processed
	// and judges it by the operator's current watermark.
	EventTime
)

// DefaultCleanupSize is the CleanupSize used when Config leaves it 0 (Flink's default).
const DefaultCleanupSize = 5

// Enabled reports whether c makes a state expire.
func (c Config) Enabled() bool { return c.TTL != 0 }

// Millis returns the TTL in milliseconds, at least 1 when enabled.
func (c Config) Millis() int64 {
	ms := c.TTL.Milliseconds()
	if ms < 1 && c.TTL > 0 {
		return 1
	}
	return ms
}

// Validate reports a Config whose values are out of range, naming the field and the fix.
func (c Config) Validate() error {
	switch {
	case c.TTL < 0:
		return fmt.Errorf("ttl: TTL %v is negative; use a positive duration, or 0 for no TTL", c.TTL)
	case c.Update > OnReadAndWrite:
		return fmt.Errorf("ttl: unknown Update %d; use ttl.OnCreateAndWrite or ttl.OnReadAndWrite", c.Update)
	case c.Visibility > ReturnExpiredIfNotCleanedUp:
		return fmt.Errorf("ttl: unknown Visibility %d; use ttl.NeverReturnExpired or ttl.ReturnExpiredIfNotCleanedUp", c.Visibility)
	case c.Time > EventTime:
		return fmt.Errorf("ttl: unknown Time %d; use ttl.ProcessingTime or ttl.EventTime", c.Time)
	case c.CleanupSize < -1:
		return fmt.Errorf("ttl: CleanupSize %d; use a count of entries, 0 for the default or -1 for none", c.CleanupSize)
	}
	return nil
}

// Cleanup returns the number of entries to check per access: CleanupSize with its default
// applied, 0 when incremental cleanup is off.
func (c Config) Cleanup() int {
	switch c.CleanupSize {
	case 0:
		return DefaultCleanupSize
	case -1:
		return 0
	}
	return c.CleanupSize
}

// String names a time characteristic as checkpoints record it ("processing", "event").
func (t TimeCharacteristic) String() string {
	switch t {
	case ProcessingTime:
		return "processing"
	case EventTime:
		return "event"
	}
	return fmt.Sprintf("TimeCharacteristic(%d)", uint8(t))
}

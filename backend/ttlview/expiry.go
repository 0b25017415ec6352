package ttlview

import (
	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state/ttl"
)

// Expiry judges the stored entries of one TTL state at one moment, as a full snapshot's
// synchronous phase (which leaves expired entries out, as Flink's cleanupFullSnapshot does)
// or a cleanup step does, by the rule the TTL view applies to reads (Expired). The zero Expiry, a state without TTL, expires and restamps nothing.
type Expiry struct {
	on      bool
	ms, now int64
}

// ExpiryAt returns the Expiry of a state whose TTL is cfg (nil or disabled: the zero Expiry)
// at the clock's current time in cfg's time characteristic.
func ExpiryAt(cfg *ttl.Config, c *backend.Clock) Expiry {
	if cfg == nil || !cfg.Enabled() {
		return Expiry{}
	}
	return Expiry{on: true, ms: cfg.Millis(), now: c.Now(cfg.Time)}
}

// On reports whether x judges a state with TTL.
func (x Expiry) On() bool { return x.on }

// Now is the time x judges at.
func (x Expiry) Now() int64 { return x.now }

// Judge decides about an entry stamped at: whether it expired, and the stamp it keeps — now
// for a NoStamp entry once the time is known (restamp is then true), at otherwise.
func (x Expiry) Judge(at int64) (expired, restamp bool, keep int64) {
	switch {
	case !x.on:
		return false, false, at
	case backend.Expired(at, x.ms, x.now):
		return true, false, at
	case at == backend.NoStamp && x.now != backend.NoStamp:
		return false, true, x.now
	}
	return false, false, at
}

// Expired reports whether an entry stamped at expired.
func (x Expiry) Expired(at int64) bool { return x.on && backend.Expired(at, x.ms, x.now) }

// ExpiredStamped reports whether v, a stored value of the state (a Stamped), expired.
func (x Expiry) ExpiredStamped(v any) bool {
	st, ok := v.(Stamped)
	return ok && x.Expired(st.At)
}

// ExpiredBytes reports whether the encoded stamped value v expired; it fails, without
// judging, when v has no stamp.
func (x Expiry) ExpiredBytes(v []byte) (bool, error) {
	if !x.on {
		return false, nil
	}
	at, _, err := backend.StampOf(v)
	return err == nil && backend.Expired(at, x.ms, x.now), err
}

// LiveBytes returns the encoded stamped elements of elems that have not expired, in place.
func (x Expiry) LiveBytes(elems [][]byte) ([][]byte, error) {
	if !x.on {
		return elems, nil
	}
	out := elems[:0]
	for _, e := range elems {
		expired, err := x.ExpiredBytes(e)
		if err != nil {
			return elems, err
		}
		if !expired {
			out = append(out, e)
		}
	}
	return out, nil
}

package backend_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state/ttl"
)

// TestClock: the zero Clock knows no event time; the watermark only advances; event-time
// stamps are the record's timestamp, or the watermark without one.
func TestClock(t *testing.T) {
	var c backend.Clock
	if got := c.Now(ttl.EventTime); got != backend.NoStamp {
		t.Fatalf("zero clock event time = %d, want NoStamp", got)
	}
	if got := c.Stamp(ttl.EventTime); got != backend.NoStamp {
		t.Fatalf("zero clock event stamp = %d, want NoStamp", got)
	}
	c.AdvanceWatermark(100)
	c.AdvanceWatermark(50)
	if got := c.Watermark(); got != 100 {
		t.Fatalf("watermark = %d, want 100 (it never goes back)", got)
	}
	c.AdvanceWatermark(-5)
	if got := c.Now(ttl.EventTime); got != 100 {
		t.Fatalf("event now = %d, want 100", got)
	}
	c.SetTimestamp(70)
	if got := c.Stamp(ttl.EventTime); got != 70 {
		t.Fatalf("event stamp = %d, want the record's 70", got)
	}
	c.SetTimestamp(math.MinInt64)
	if got := c.Stamp(ttl.EventTime); got != 100 {
		t.Fatalf("event stamp without a record timestamp = %d, want the watermark", got)
	}
	c.ProcessingTime = func() int64 { return 42 }
	if c.Now(ttl.ProcessingTime) != 42 || c.Stamp(ttl.ProcessingTime) != 42 {
		t.Fatal("processing time does not come from ProcessingTime")
	}
}

func TestExpired(t *testing.T) {
	for _, tc := range []struct {
		stamp, ttl, now int64
		want            bool
	}{
		{0, 10, 9, false},
		{0, 10, 10, true}, // Flink: expired when lastAccess + ttl <= now
		{backend.NoStamp, 1, math.MaxInt64, false},
		{math.MaxInt64 - 5, 10, math.MaxInt64, false}, // saturates, never overflows into the past
		{-20, 10, -10, true},
	} {
		if got := backend.Expired(tc.stamp, tc.ttl, tc.now); got != tc.want {
			t.Errorf("Expired(%d, %d, %d) = %v, want %v", tc.stamp, tc.ttl, tc.now, got, tc.want)
		}
	}
}

// TestStampOrder: encoded stamps sort as the times do, negative ones included, and decode back.
func TestStampOrder(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	times := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	for range 200 {
		times = append(times, int64(r.Uint64()))
	}
	slices.Sort(times)
	var prev []byte
	for _, at := range times {
		enc := backend.AppendStamp(nil, at)
		if prev != nil && bytes.Compare(prev, enc) > 0 {
			t.Fatalf("stamp %d sorts before its predecessor", at)
		}
		prev = enc
		got, rest, err := backend.StampOf(append(enc, 'x'))
		if err != nil || got != at || string(rest) != "x" {
			t.Fatalf("StampOf(AppendStamp(%d)) = %d, %q, %v", at, got, rest, err)
		}
	}
	if _, _, err := backend.StampOf([]byte{1, 2, 3}); err == nil {
		t.Fatal("a 3-byte value has a stamp")
	}
}

// TestStampSerializer: Stamped values round-trip, keep the inner ID, and anything else is refused.
func TestStampSerializer(t *testing.T) {
	s := ttlview.StampSerializer(serde.Erase[string](serde.String{}))
	if s.ID() != (serde.String{}).ID() {
		t.Fatalf("ID %q, want the inner serializer's", s.ID())
	}
	b, err := s.AppendAny(nil, ttlview.Stamped{At: 7, V: "v"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.DecodeAny(b)
	if err != nil || v != (ttlview.Stamped{At: 7, V: "v"}) {
		t.Fatalf("decoded %v, %v", v, err)
	}
	if _, err := s.AppendAny(nil, "plain"); err == nil {
		t.Fatal("an unstamped value was encoded")
	}
	if _, err := s.DecodeAny([]byte{1}); err == nil {
		t.Fatal("a value without a stamp decoded")
	}
}

package backend

import (
	"testing"
	"time"

	"github.com/streamstate/streamstate/state/ttl"
)

// TestCoarseProcessingTime: the zero Clock's processing time is never ahead of the wall
// clock, lags it by little, and advances.
func TestCoarseProcessingTime(t *testing.T) {
	var c Clock
	const lag = 500 // ms: far above the tick, for a starved test machine
	first := c.Now(ttl.ProcessingTime)
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
		before := time.Now().UnixMilli()
		got := c.Now(ttl.ProcessingTime)
		after := time.Now().UnixMilli()
		if got > after || got < before-lag {
			t.Fatalf("processing time %d outside [%d-%d, %d]", got, before, lag, after)
		}
		if s := c.Stamp(ttl.ProcessingTime); s > time.Now().UnixMilli() {
			t.Fatalf("stamp %d ahead of the wall clock", s)
		}
	}
	if last := c.Now(ttl.ProcessingTime); last <= first {
		t.Fatalf("processing time did not advance in 50 ms: %d then %d", first, last)
	}
}

// TestCoarseTickerEndsWhenIdle: the goroutine that reads the wall clock ends after its life,
// and the next read starts it again.
func TestCoarseTickerEndsWhenIdle(t *testing.T) {
	var c Clock
	c.wall.Store(time.Now().UnixMilli())
	done := make(chan struct{})
	go func() { c.tick(time.Millisecond, 20*time.Millisecond); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the ticking goroutine runs on after its life")
	}
	if w := c.wall.Load(); w != 0 {
		t.Fatalf("wall = %d after the goroutine ended, want 0", w)
	}
	if got := c.Now(ttl.ProcessingTime); got < time.Now().UnixMilli()-500 {
		t.Fatalf("read after idle = %d", got)
	}
	if c.wall.Load() == 0 {
		t.Fatal("a read after idle started no goroutine")
	}
}

// TestManualProcessingTime: a Clock with ProcessingTime set reads only it.
func TestManualProcessingTime(t *testing.T) {
	c := Clock{ProcessingTime: func() int64 { return 42 }}
	if got := c.Now(ttl.ProcessingTime); got != 42 || c.wall.Load() != 0 {
		t.Fatalf("Now = %d (wall %d), want 42 and no goroutine", got, c.wall.Load())
	}
}

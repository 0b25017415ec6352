package stream

import (
	"sync"
	"testing"
)

// readGate paces the readers of a test source by events instead of time: once limit records
// have been read in all, its readers report NoData until the test allows more, and a test
// waits for a number of records read (reached) instead of polling a counter. So a checkpoint,
// a savepoint or a crash falls at a point of the input the test chooses, whatever the speed
// of the machine. It counts every record read, a replay after a restore included.
type readGate struct {
	mu      sync.Mutex
	read    int64
	limit   int64 // below 0: none
	waiters []readWaiter
}

type readWaiter struct {
	n    int64
	done chan struct{}
}

// newReadGate returns a gate that lets limit records be read (below 0: all of them).
func newReadGate(limit int64) *readGate { return &readGate{limit: limit} }

// take counts one record read; false means the limit is reached and the reader must report
// NoData.
func (g *readGate) take() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.limit >= 0 && g.read >= g.limit {
		return false
	}
	g.read++
	kept := g.waiters[:0]
	for _, w := range g.waiters {
		if g.read >= w.n {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	g.waiters = kept
	return true
}

// allow lets n more records be read.
func (g *readGate) allow(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.limit >= 0 {
		g.limit += n
	}
}

// open lifts the limit for good.
func (g *readGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.limit = -1
}

// count returns the number of records read.
func (g *readGate) count() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.read
}

// reached is closed once n records have been read in all.
func (g *readGate) reached(n int64) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	done := make(chan struct{})
	if g.read >= n {
		close(done)
	} else {
		g.waiters = append(g.waiters, readWaiter{n: n, done: done})
	}
	return done
}

// perCheckpoint returns an OnCheckpoint hook that lets step more records be read after every
// checkpoint, completed or failed: with a gate that starts at step, a run of n records then
// spans at least n/step checkpoints however fast the machine reads.
func (g *readGate) perCheckpoint(step int64) func(CheckpointStats) {
	return func(CheckpointStats) { g.allow(step) }
}

// awaitRead waits until the gate has counted n records, failing the test if the job ends
// first.
func awaitRead(t *testing.T, j *Job, g *readGate, n int64) {
	t.Helper()
	select {
	case <-g.reached(n):
	case <-j.Done():
		t.Fatalf("the job ended (%v) after %d of the %d records the test waits for", j.Wait(), g.count(), n)
	}
}

func TestReadGate(t *testing.T) {
	g := newReadGate(2)
	r3 := g.reached(3)
	for i, want := range []bool{true, true, false} {
		if got := g.take(); got != want {
			t.Fatalf("take %d = %v at a limit of 2", i+1, got)
		}
	}
	select {
	case <-r3:
		t.Fatal("reached(3) after 2 records")
	default:
	}
	g.allow(1)
	if !g.take() || g.take() {
		t.Fatal("allow(1) did not let exactly one more record through")
	}
	<-r3
	<-g.reached(1)
	g.open()
	for range 10 {
		if !g.take() {
			t.Fatal("an open gate held a record back")
		}
	}
	if g.count() != 13 {
		t.Fatalf("count() = %d, want 13", g.count())
	}
}

package stream

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
)

// failingHeap is a hashmap backend with the failure signal of a failingBackend, made to fail
// and to stall on demand: the runtime's watchdog tested without Pebble.
type failingHeap struct {
	*heap.Backend
	failed  chan struct{}
	err     error
	stalled atomic.Bool
	closed  atomic.Bool
}

func (f *failingHeap) Failed() <-chan struct{} { return f.failed }

func (f *failingHeap) Err() error {
	select {
	case <-f.failed:
		return f.err
	default:
		return nil
	}
}

func (f *failingHeap) Stalled() bool { return f.stalled.Load() }

func (f *failingHeap) Close() error {
	f.closed.Store(true)
	return f.Backend.Close()
}

// blockingFn blocks in its first record until release is closed, as a task blocked inside
// its state backend (or busy in user code) does.
type blockingFn struct {
	entered chan struct{}
	release chan struct{}
	first   bool
}

func (f *blockingFn) Open(*RuntimeContext[string]) error { return nil }

func (f *blockingFn) ProcessElement(e event, ctx *Context[string, string]) error {
	if !f.first {
		f.first = true
		close(f.entered)
		<-f.release
	}
	return nil
}

func (f *blockingFn) OnTimer(int64, *Context[string, string]) error { return nil }

// TestWatchdog: a keyed backend that fails on its own goroutines fails the job even while the
// task's goroutine is blocked. If the task stays stalled in the failed backend past the grace,
// the job ends without it and does not close its backend (Close would block on the stall); a
// task that is blocked elsewhere (not stalled in the backend) is waited for and closed as usual.
func TestWatchdog(t *testing.T) {
	for _, stalled := range []bool{true, false} {
		name := map[bool]string{true: "stalled-in-backend", false: "busy-elsewhere"}[stalled]
		t.Run(name, func(t *testing.T) {
			fb := &failingHeap{failed: make(chan struct{}), err: errors.New("the backend failed in its working directory")}
			fb.stalled.Store(stalled)
			backend := keyedFunc(func(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
				b, err := heap.New(ctx, opts)
				if err != nil {
					return nil, err
				}
				fb.Backend = b
				return fb, nil
			})
			fn := &blockingFn{entered: make(chan struct{}), release: make(chan struct{})}
			released := false
			release := func() {
				if !released {
					released = true
					close(fn.release)
				}
			}
			t.Cleanup(release)
			g := NewGraph()
			s := FromSource(g, "source", &sliceSource{events: testEvents(100, 4), splits: 1}, WatermarkStrategy{})
			out := Process(KeyBy(s, func(e event) string { return e.Key }, nil), "stuck",
				func() KeyedProcessFunction[string, event, string] { return fn })
			Sink(out, func(string, int64) error { return nil })
			j, err := Execute(context.Background(), g, Options{StateBackend: backend})
			if err != nil {
				t.Fatal(err)
			}
			<-fn.entered
			j.stuckGrace = 100 * time.Millisecond // before the failure: the watchdog reads it after
			close(fb.failed)

			done := make(chan error, 1)
			go func() { done <- j.Wait() }()
			if stalled {
				select {
				case err = <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the job waits for a task stalled in its failed backend")
				}
				if fb.closed.Load() {
					t.Error("the backend of the abandoned task was closed under it")
				}
			} else {
				select {
				case err = <-done:
					t.Fatalf("the job ended (%v) without waiting for a task that is not stalled in its backend", err)
				case <-time.After(10 * j.stuckGrace):
				}
				release()
				select {
				case err = <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the job does not end once the task returned")
				}
				if !fb.closed.Load() {
					t.Error("the backend of a task that returned was not closed")
				}
			}
			if !errors.Is(err, fb.err) {
				t.Fatalf("job error = %v; want the backend's failure", err)
			}
		})
	}
}

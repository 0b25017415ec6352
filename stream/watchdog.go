package stream

import (
	"fmt"
	"time"
)

// failingBackend is implemented by a keyed state backend that can fail on goroutines of its
// own, and whose failure can leave the task's goroutine blocked inside it for good: the lsm
// backend (lsm.Backend.Failed, Err, Stalled), whose Pebble database fails in background
// flushes and compactions, and whose write stall nothing ends once a MANIFEST write failed.
type failingBackend interface {
	// Failed is closed when the backend has failed for good; Err then returns the failure.
	Failed() <-chan struct{}
	Err() error
	// Stalled reports whether a call of the task's goroutine waits inside the backend for work
	// that may never finish.
	Stalled() bool
}

// stuckTaskGrace is how long a task whose state backend has failed may take to return before
// the job ends without it, if it is then still stalled inside that backend. A task returns the
// failure at its next state access, and a stall the backend can end (lsm: Pebble's next flush
// after a failure succeeds) ends within milliseconds: the grace is only spent on a stall that
// never ends.
const stuckTaskGrace = 3 * time.Second

// watchBackends starts, for every keyed state backend of t that can fail on its own
// goroutines, a watchdog that fails the job as soon as the backend fails, even while t's
// goroutine is blocked inside it, and abandons t's goroutine if it is still stalled in the
// failed backend after stuckTaskGrace. Call it once, when the job starts.
func (t *task) watchBackends() {
	for _, m := range t.members {
		if b, ok := m.keyed.(failingBackend); ok {
			go t.watchBackend(m.uid, b)
		}
	}
}

func (t *task) watchBackend(uid string, b failingBackend) {
	j := t.job
	select {
	case <-b.Failed():
	case <-t.exited:
		return
	case <-j.ctx.Done():
		return
	}
	j.fail(fmt.Errorf("%s: %w", t, b.Err()))
	grace := time.NewTimer(j.stuckGrace)
	defer grace.Stop()
	select {
	case <-t.exited:
		return
	case <-j.ctx.Done():
		return
	case <-grace.C:
	}
	if !b.Stalled() {
		// Busy elsewhere (a user function, a sink): it returns the failure at its next state
		// access, or errJobStopped from its next blocking operation.
		return
	}
	// Pebble cannot end this stall, nor close the database under it (lsm.Backend.Stalled): the
	// goroutine stays blocked until the process exits. The job ends without it, and without
	// closing its members, which it may still hold: its working directory is left for the
	// sweep of the next start to remove.
	j.log.Error("stream: a subtask is stuck in its failed state backend; the job ends without it, "+
		"and its goroutine and working state are left until the process exits",
		"task", t.String(), "operator", uid, "err", b.Err())
	t.abandonOnce.Do(func() { close(t.abandoned) })
}

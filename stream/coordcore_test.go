package stream

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestCoordinatorCore runs the scripts in testdata/coordinator against coordinatorCore: every
// command is an event (at= moves the clock, in time since the script's start), and the output
// lists the actions the core returned, in order. Time is only what the script says: nothing
// sleeps and nothing depends on the machine's speed.
//
//	init tasks=<n> sources=<n> [interval=<d>] [timeout=<d>] [max-concurrent=<n>] [min-pause=<d>] [tolerable=<n>] [next-id=<n>] [periodic=false]
//	tick at=<d>
//	ack id=<n> subtask=<n> [at=<d>]
//	decline id=<n> err=<word> [at=<d>]
//	source-finished [at=<d>]
//	savepoint name=<word> [stop] [at=<d>]
//	checkpoint name=<word> [at=<d>]   a requested checkpoint (Job.TriggerCheckpoint)
//	begin-failed id=<n> err=<word> [at=<d>]
//	committed id=<n> [err=<word>] [at=<d>]
//	retained [at=<d>]
//	stop
//	wakeup       the next time the driver must tick
//	state        what the core holds
//
// After every command the harness checks the invariants a driver relies on: never more
// checkpoints in flight than max-concurrent, a savepoint only alone, ids strictly increasing.
func TestCoordinatorCore(t *testing.T) {
	datadriven.Walk(t, "testdata/coordinator", func(t *testing.T, path string) {
		var h coreHarness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.run(t, d)
		})
	})
}

type coreHarness struct {
	c         *coordinatorCore
	epoch     time.Time
	now       time.Time
	lastID    int64
	triggered map[int64]*savepointRequest // savepoints by id, to name them in the output
}

func (h *coreHarness) run(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "init" && h.c == nil {
		d.Fatalf(t, "init first")
	}
	if d.HasArg("at") {
		var at string
		d.ScanArgs(t, "at", &at)
		dur, err := time.ParseDuration(at)
		if err != nil {
			d.Fatalf(t, "at=%s: %v", at, err)
		}
		next := h.epoch.Add(dur)
		if next.Before(h.now) {
			d.Fatalf(t, "at=%s goes back in time", at)
		}
		h.now = next
	}
	id := func() int64 {
		var id int64
		d.ScanArgs(t, "id", &id)
		return id
	}
	cause := func() error {
		var s string
		d.ScanArgs(t, "err", &s)
		return errors.New(s)
	}
	var acts []coordAction
	switch d.Cmd {
	case "init":
		cfg := CheckpointConfig{Interval: h.dur(t, d, "interval"), Timeout: h.dur(t, d, "timeout"), MinPause: h.dur(t, d, "min-pause"), MaxConcurrent: 1}
		d.MaybeScanArgs(t, "max-concurrent", &cfg.MaxConcurrent)
		d.MaybeScanArgs(t, "tolerable", &cfg.TolerableFailures)
		var tasks, sources int
		d.ScanArgs(t, "tasks", &tasks)
		d.ScanArgs(t, "sources", &sources)
		nextID := int64(1)
		d.MaybeScanArgs(t, "next-id", &nextID)
		periodic := cfg.Interval > 0
		d.MaybeScanArgs(t, "periodic", &periodic)
		h.epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		h.now, h.lastID, h.triggered = h.epoch, nextID-1, map[int64]*savepointRequest{}
		h.c = newCoordinatorCore(cfg, periodic, tasks, sources, nextID, h.now)
		return h.wakeup()
	case "tick":
		acts = h.c.tick(h.now)
	case "ack":
		var subtask int
		d.ScanArgs(t, "subtask", &subtask)
		acts = h.c.ack(id(), subtask, h.now)
	case "decline":
		acts = h.c.decline(id(), cause(), h.now)
	case "source-finished":
		acts = h.c.sourceFinished(h.now)
	case "savepoint":
		var name string
		d.ScanArgs(t, "name", &name)
		acts = h.c.requestSavepoint(&savepointRequest{path: name, stop: d.HasArg("stop")}, h.now)
	case "checkpoint":
		var name string
		d.ScanArgs(t, "name", &name)
		acts = h.c.requestSavepoint(&savepointRequest{path: name, checkpoint: true}, h.now)
	case "begin-failed":
		acts = h.c.beginFailed(id(), cause(), h.now)
	case "committed":
		var err error
		if d.HasArg("err") {
			err = cause()
		}
		acts = h.c.committed(id(), err, h.now)
	case "retained":
		acts = h.c.retained(h.now)
	case "stop":
		acts = h.c.stop()
	case "wakeup":
		return h.wakeup()
	case "state":
		return h.state()
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	h.check(t, d, acts)
	return h.format(acts)
}

func (h *coreHarness) dur(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var s string
	if !d.MaybeScanArgs(t, key, &s) {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%s=%s: %v", key, s, err)
	}
	return v
}

// check asserts what every driver relies on, whatever the script.
func (h *coreHarness) check(t *testing.T, d *datadriven.TestData, acts []coordAction) {
	for _, a := range acts {
		if a.kind == actTrigger {
			if a.id != h.lastID+1 {
				d.Fatalf(t, "triggered checkpoint %d after %d", a.id, h.lastID)
			}
			h.lastID = a.id
			if a.savepoint != nil {
				h.triggered[a.id] = a.savepoint
			}
		}
	}
	n := len(h.c.inflight)
	if n > max(h.c.cfg.MaxConcurrent, 1) {
		d.Fatalf(t, "%d checkpoints in flight, max-concurrent is %d", n, h.c.cfg.MaxConcurrent)
	}
	for _, p := range h.c.inflight {
		if p.savepoint != nil && n > 1 {
			d.Fatalf(t, "savepoint %d in flight with %d others", p.id, n-1)
		}
	}
}

func (h *coreHarness) since(at time.Time) time.Duration { return at.Sub(h.epoch) }

func (h *coreHarness) format(acts []coordAction) string {
	if len(acts) == 0 {
		return "ok\n"
	}
	var b strings.Builder
	for _, a := range acts {
		sp := h.triggered[a.id]
		switch a.kind {
		case actTrigger:
			fmt.Fprintf(&b, "trigger %d at %v", a.id, h.since(a.started))
			if a.savepoint != nil && a.savepoint.checkpoint {
				fmt.Fprintf(&b, " requested %s", a.savepoint.path)
			} else if a.savepoint != nil {
				fmt.Fprintf(&b, " savepoint %s", a.savepoint.path)
				if a.savepoint.stop {
					b.WriteString(" stop")
				}
			}
			if a.final {
				b.WriteString(" final")
			}
			if !a.deadline.IsZero() {
				fmt.Fprintf(&b, " expires %v", h.since(a.deadline))
			}
		case actCommit:
			fmt.Fprintf(&b, "commit %d", a.id)
		case actAbortFiles:
			fmt.Fprintf(&b, "abort-files %d: %v", a.id, a.err)
		case actRecord:
			fmt.Fprintf(&b, "record %d after %v", a.id, a.duration)
			if a.err != nil {
				fmt.Fprintf(&b, " failed: %v", a.err)
			}
		case actNotifyComplete:
			fmt.Fprintf(&b, "notify-complete %d", a.id)
		case actNotifyAbort:
			fmt.Fprintf(&b, "notify-abort %d", a.id)
		case actReply:
			fmt.Fprintf(&b, "reply %s", sp.path)
			if a.err != nil {
				fmt.Fprintf(&b, ": %v", a.err)
			}
		case actStopJob:
			b.WriteString("stop-job")
		case actFailJob:
			fmt.Fprintf(&b, "fail-job: %v", a.err)
		case actRetain:
			b.WriteString("retain")
		case actFinish:
			b.WriteString("finish")
		case actRejectSavepoint:
			fmt.Fprintf(&b, "reject-savepoint %s: %v", a.savepoint.path, a.err)
		default:
			fmt.Fprintf(&b, "unknown action %d", a.kind)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (h *coreHarness) wakeup() string {
	t, ok := h.c.nextWakeup()
	if !ok {
		return "wakeup: none\n"
	}
	return fmt.Sprintf("wakeup: %v\n", h.since(t))
}

func (h *coreHarness) state() string {
	var b strings.Builder
	ids := h.c.sortedInflight()
	fmt.Fprintf(&b, "inflight:")
	for _, id := range ids {
		p := h.c.inflight[id]
		acked := make([]int, 0, len(p.acked))
		for s := range p.acked {
			acked = append(acked, s)
		}
		slices.Sort(acked)
		fmt.Fprintf(&b, " %d%v", id, acked)
		if p.committing {
			b.WriteString("(committing)")
		}
	}
	fmt.Fprintf(&b, "\nqueued:")
	for _, r := range h.c.queued {
		fmt.Fprintf(&b, " %s", r.path)
	}
	fmt.Fprintf(&b, "\nfailures: %d\nsources left: %d\n", h.c.failures, h.c.sources)
	for _, f := range []struct {
		on   bool
		name string
	}{{h.c.finishing, "finishing"}, {h.c.finalDone, "final done"}, {h.c.retaining, "retaining"}, {h.c.retainAgain, "retain again"}} {
		if f.on {
			b.WriteString(f.name + "\n")
		}
	}
	return b.String()
}

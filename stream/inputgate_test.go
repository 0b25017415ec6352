package stream

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestInputGate runs the scripts in testdata/inputgate against inputGate: every command is
// an event on one input (at= moves the clock, in time since the script's start), and the
// output lists the actions the gate returned, in order. Nothing sleeps and nothing runs
// concurrently: alignment, overtaking checkpoints, ends of input and idleness are replayed
// exactly.
//
//	init inputs=<n>
//	barrier ch=<n> id=<n> [at=<d>]
//	watermark ch=<n> ts=<n|max>
//	idle ch=<n>
//	active ch=<n>
//	end ch=<n> [at=<d>]
//	abort id=<n>
//	state        what the gate holds
//
// After every command the harness checks the invariants the driver relies on: an input is
// blocked only while a checkpoint aligns and never once ended, the count of blocked inputs
// is right and below the live inputs while aligning, the combined watermark only rises, and
// the gate reports the end exactly when every input has ended.
func TestInputGate(t *testing.T) {
	datadriven.Walk(t, "testdata/inputgate", func(t *testing.T, path string) {
		var h gateHarness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.run(t, d)
		})
	})
}

type gateHarness struct {
	g      *inputGate
	epoch  time.Time
	now    time.Time
	lastWM int64
	ended  bool
}

func (h *gateHarness) run(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "init" && h.g == nil {
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
	ch := func() int {
		var ch int
		d.ScanArgs(t, "ch", &ch)
		if ch < 0 || ch >= len(h.g.inputs) {
			d.Fatalf(t, "ch=%d: the gate has %d inputs", ch, len(h.g.inputs))
		}
		return ch
	}
	id := func() int64 {
		var id int64
		d.ScanArgs(t, "id", &id)
		return id
	}
	var acts []gateAction
	switch d.Cmd {
	case "init":
		var n int
		d.ScanArgs(t, "inputs", &n)
		h.epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		h.now, h.lastWM, h.ended = h.epoch, MinWatermark, false
		h.g = newInputGate(n)
		return "ok\n"
	case "barrier":
		acts = h.g.barrier(ch(), id(), h.now)
	case "watermark":
		c := ch()
		var s string
		d.ScanArgs(t, "ts", &s)
		ts := int64(MaxWatermark)
		if s != "max" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				d.Fatalf(t, "ts=%s: %v", s, err)
			}
			ts = v
		}
		acts = h.g.watermark(c, ts)
	case "idle":
		acts = h.g.status(ch(), true)
	case "active":
		acts = h.g.status(ch(), false)
	case "end":
		acts = h.g.end(ch(), h.now)
	case "abort":
		acts = h.g.abort(id())
	case "state":
		return h.state()
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	h.check(t, d, acts)
	if len(acts) == 0 {
		return "ok\n"
	}
	var b strings.Builder
	for _, a := range acts {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// check asserts what the driver relies on, whatever the script.
func (h *gateHarness) check(t *testing.T, d *datadriven.TestData, acts []gateAction) {
	g := h.g
	blocked := 0
	for i, in := range g.inputs {
		if in.blocked {
			blocked++
			if in.ended {
				d.Fatalf(t, "input %d is blocked and ended", i)
			}
			if g.aligning == 0 {
				d.Fatalf(t, "input %d is blocked while no checkpoint aligns", i)
			}
		}
	}
	if blocked != g.nBlocked {
		d.Fatalf(t, "%d inputs blocked, the gate counts %d", blocked, g.nBlocked)
	}
	if g.aligning != 0 && g.nBlocked >= g.live {
		d.Fatalf(t, "checkpoint %d still aligning with %d of %d live inputs blocked", g.aligning, g.nBlocked, g.live)
	}
	for _, a := range acts {
		switch a.kind {
		case gateWatermark:
			if a.ts <= h.lastWM {
				d.Fatalf(t, "watermark went from %d to %d", h.lastWM, a.ts)
			}
			h.lastWM = a.ts
		case gateEnded:
			if h.ended {
				d.Fatalf(t, "ended twice")
			}
			h.ended = true
		}
	}
	if h.ended != g.done() {
		d.Fatalf(t, "gate done %v, ended reported %v", g.done(), h.ended)
	}
}

func (h *gateHarness) state() string {
	var b strings.Builder
	for i, in := range h.g.inputs {
		fmt.Fprintf(&b, "input %d: watermark %s", i, fmtWatermark(in.watermark))
		for _, f := range []struct {
			on   bool
			name string
		}{{in.idle, "idle"}, {in.ended, "ended"}, {in.blocked, "blocked"}} {
			if f.on {
				b.WriteString(" " + f.name)
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "combined: %s", fmtWatermark(h.g.combined))
	if h.g.idleOut {
		b.WriteString(" (idle)")
	}
	fmt.Fprintf(&b, "\naligning: %d\nlast taken or aborted: %d\n", h.g.aligning, h.g.last)
	return b.String()
}

package stream

import (
	"fmt"
	"time"
)

// inputGate is the input side of a subtask with inputs as a pure state machine, after
// etcd/raft's RawNode: it takes the control events that arrive on the subtask's input
// channels (a barrier, a watermark, an idle or active status, the end of an input) and the
// coordinator's abort, and returns the steps the driver (runInputs) must take, in order. It
// has no goroutines, reads no clock (time comes in with the barriers) and does no IO:
// records do not pass through it, the driver reads the channels, holds what follows a
// barrier on a blocked input, and calls the operators. It is not safe for concurrent use.
//
// Alignment: the first barrier of checkpoint n blocks its input; every live input that
// delivers barrier n is blocked until all live (not ended) inputs have, then the gate asks
// for the snapshot of n and unblocks every input. A barrier of a checkpoint older than the
// one being aligned, of one already taken, or of one aborted while it aligned, is ignored; a
// barrier of a newer checkpoint overtakes: the older alignment is given up (its inputs are
// unblocked, the subtask never acknowledges it and the coordinator times it out) and the
// newer one aligns. An input that ends during an alignment no longer counts, so the
// alignment may complete on its end. A savepoint barrier aligns exactly like a checkpoint
// barrier: the gate sees only its id (the driver keeps the barrier, whose options the
// snapshot needs).
//
// Watermarks (Flink's StatusWatermarkValve): the combined watermark is the minimum over the
// inputs that are not idle (an ended input counts with MaxWatermark); it is emitted when it
// rises. When every input that has not ended is idle and none has ended, the subtask tells
// downstream it is idle, and active again on the first input that is.
type inputGate struct {
	inputs   []gateInput
	live     int   // inputs that have not ended
	combined int64 // the last combined watermark emitted
	idleOut  bool  // downstream was told this subtask is idle

	aligning   int64 // checkpoint being aligned, 0 if none
	alignStart time.Time
	nBlocked   int   // live inputs blocked for aligning
	last       int64 // the last checkpoint snapshotted, or aborted while it aligned
}

// gateInput is the gate's view of one input channel.
type gateInput struct {
	watermark int64
	idle      bool
	ended     bool
	blocked   bool // delivered the barrier of the checkpoint being aligned
}

// gateAction is one step the driver must take.
type gateAction struct {
	kind gateActionKind
	ch   int   // gateBlock, gateUnblock: the input
	id   int64 // gateSnapshot: the checkpoint
	ts   int64 // gateWatermark: the combined watermark
	// gateSnapshot: the time from the first barrier of id to the last.
	alignment time.Duration
}

type gateActionKind uint8

const (
	// gateBlock: read nothing more from input ch (hold what follows its barrier) until
	// gateUnblock.
	gateBlock gateActionKind = iota
	// gateUnblock: process what was held of input ch, then read it again.
	gateUnblock
	// gateSnapshot: take checkpoint id and send its barrier downstream.
	gateSnapshot
	// gateWatermark: the combined watermark rose to ts; hand it to the operators.
	gateWatermark
	// gateIdle, gateActive: tell downstream this subtask is idle, or active again.
	gateIdle
	gateActive
	// gateEnded: every input has ended; end the subtask's input.
	gateEnded
)

func (a gateAction) String() string {
	switch a.kind {
	case gateBlock:
		return fmt.Sprintf("block %d", a.ch)
	case gateUnblock:
		return fmt.Sprintf("unblock %d", a.ch)
	case gateSnapshot:
		return fmt.Sprintf("snapshot %d after %s", a.id, a.alignment)
	case gateWatermark:
		return fmt.Sprintf("watermark %s", fmtWatermark(a.ts))
	case gateIdle:
		return "idle"
	case gateActive:
		return "active"
	case gateEnded:
		return "ended"
	}
	return fmt.Sprintf("gateAction(%d)", a.kind)
}

func fmtWatermark(ts int64) string {
	switch ts {
	case MinWatermark:
		return "min"
	case MaxWatermark:
		return "max"
	}
	return fmt.Sprint(ts)
}

// newInputGate returns the gate of a subtask with n inputs, none ended, idle or blocked.
func newInputGate(n int) *inputGate {
	g := &inputGate{inputs: make([]gateInput, n), live: n, combined: MinWatermark}
	for i := range g.inputs {
		g.inputs[i].watermark = MinWatermark
	}
	return g
}

// blocked reports whether input ch must not be read: it is blocked for an alignment, or it
// has ended.
func (g *inputGate) blocked(ch int) bool { return g.inputs[ch].blocked || g.inputs[ch].ended }

// ended reports whether input ch has ended.
func (g *inputGate) ended(ch int) bool { return g.inputs[ch].ended }

// done reports whether every input has ended.
func (g *inputGate) done() bool { return g.live == 0 }

// barrier is the barrier of checkpoint id arriving on input ch at now.
func (g *inputGate) barrier(ch int, id int64, now time.Time) []gateAction {
	in := &g.inputs[ch]
	if in.ended || in.blocked || id <= g.last || (g.aligning != 0 && id < g.aligning) {
		return nil // a barrier of a checkpoint already taken or given up
	}
	var acts []gateAction
	if g.aligning != 0 && id > g.aligning { // a newer checkpoint overtook: give up the old one
		acts = g.unblockAll(acts)
	}
	if g.aligning == 0 {
		g.aligning, g.alignStart = id, now
	}
	in.blocked = true
	g.nBlocked++
	acts = append(acts, gateAction{kind: gateBlock, ch: ch})
	return g.alignmentDone(acts, now)
}

// abort is the coordinator giving checkpoint id up: if it is being aligned, every input is
// unblocked, and its barriers still to come are ignored rather than starting an alignment
// that could only end when the next checkpoint's barriers overtake it.
func (g *inputGate) abort(id int64) []gateAction {
	if id == 0 || id != g.aligning {
		return nil
	}
	g.last = id
	return g.unblockAll(nil)
}

// watermark is watermark ts arriving on input ch; a watermark below one already seen on ch
// is ignored.
func (g *inputGate) watermark(ch int, ts int64) []gateAction {
	in := &g.inputs[ch]
	if in.ended {
		return nil
	}
	if ts > in.watermark {
		in.watermark = ts
	}
	return g.updateWatermark(nil)
}

// status is input ch becoming idle (true) or active again (false).
func (g *inputGate) status(ch int, idle bool) []gateAction {
	in := &g.inputs[ch]
	if in.ended {
		return nil
	}
	in.idle = idle
	return g.updateWatermark(nil)
}

// end is the end of input ch: nothing more arrives on it.
func (g *inputGate) end(ch int, now time.Time) []gateAction {
	in := &g.inputs[ch]
	if in.ended {
		return nil
	}
	in.ended, in.watermark = true, MaxWatermark
	g.live--
	var acts []gateAction
	if in.blocked {
		in.blocked = false
		g.nBlocked--
	}
	acts = g.updateWatermark(acts)
	acts = g.alignmentDone(acts, now)
	if g.live == 0 {
		acts = append(acts, gateAction{kind: gateEnded})
	}
	return acts
}

func (g *inputGate) updateWatermark(acts []gateAction) []gateAction {
	minWM, active := int64(MaxWatermark), false
	for i := range g.inputs {
		in := &g.inputs[i]
		if in.idle && !in.ended {
			continue
		}
		active = true
		minWM = min(minWM, in.watermark)
	}
	if !active {
		if !g.idleOut {
			g.idleOut = true
			acts = append(acts, gateAction{kind: gateIdle})
		}
		return acts
	}
	if g.idleOut {
		g.idleOut = false
		acts = append(acts, gateAction{kind: gateActive})
	}
	if minWM > g.combined {
		g.combined = minWM
		acts = append(acts, gateAction{kind: gateWatermark, ts: minWM})
	}
	return acts
}

func (g *inputGate) alignmentDone(acts []gateAction, now time.Time) []gateAction {
	if g.aligning == 0 || g.nBlocked < g.live {
		return acts
	}
	id := g.aligning
	g.last = id
	acts = append(acts, gateAction{kind: gateSnapshot, id: id, alignment: now.Sub(g.alignStart)})
	return g.unblockAll(acts)
}

func (g *inputGate) unblockAll(acts []gateAction) []gateAction {
	g.aligning, g.nBlocked = 0, 0
	for i := range g.inputs {
		if g.inputs[i].blocked {
			g.inputs[i].blocked = false
			acts = append(acts, gateAction{kind: gateUnblock, ch: i})
		}
	}
	return acts
}

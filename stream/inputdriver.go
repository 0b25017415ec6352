package stream

import (
	"fmt"
	"reflect"
	"slices"
	"time"
)

// inputDriver owns the IO of runInputs: the select over the task's control channel, the
// job's end, the processing-time timer and the inputs the gate does not block.
type inputDriver[T any] struct {
	t     *task
	e     *edge[T]
	h     inputHandler[T]
	gate  *inputGate
	cases []reflect.SelectCase
	ins   []reflect.Value
	// held is the rest of a batch after the barrier that blocked its input, processed when
	// the gate unblocks it and before the input is read again.
	held []batch[T]
	// newest is the barrier of the highest checkpoint id seen on any input. The gate aligns
	// the newest checkpoint it has seen (an older one is overtaken or already done), so this
	// is the barrier its gateSnapshot asks for.
	newest *checkpointBarrier
	timer  *time.Timer
}

const (
	caseCtrl = iota
	caseDone
	caseTimer
	caseDefault
	numFixedCases
)

func newInputDriver[T any](t *task, e *edge[T], h inputHandler[T]) *inputDriver[T] {
	ins := e.chans[t.index]
	d := &inputDriver[T]{t: t, e: e, h: h, gate: newInputGate(len(ins)),
		cases: make([]reflect.SelectCase, numFixedCases+len(ins)), ins: make([]reflect.Value, len(ins)),
		held: make([]batch[T], len(ins))}
	d.cases[caseCtrl] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.ctrl)}
	d.cases[caseDone] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.job.done)}
	d.cases[caseTimer] = reflect.SelectCase{Dir: reflect.SelectRecv}
	d.cases[caseDefault] = reflect.SelectCase{Dir: reflect.SelectDefault}
	for i, c := range ins {
		d.ins[i] = reflect.ValueOf(c)
		d.cases[numFixedCases+i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: d.ins[i]}
	}
	return d
}

func (d *inputDriver[T]) stopTimer() {
	if d.timer != nil {
		d.timer.Stop()
	}
}

// setReadable enables or disables the select case of input i.
func (d *inputDriver[T]) setReadable(i int) {
	if d.gate.blocked(i) || d.held[i].els != nil {
		d.cases[numFixedCases+i].Chan = reflect.Value{}
	} else {
		d.cases[numFixedCases+i].Chan = d.ins[i]
	}
}

// replayHeld processes the held rest of every input the gate has unblocked, in input order,
// before any of them is read again.
func (d *inputDriver[T]) replayHeld() error {
	for again := true; again; {
		again = false
		for i, rest := range d.held {
			if rest.els == nil || d.gate.blocked(i) {
				continue
			}
			d.held[i] = batch[T]{}
			if err := d.processBatch(i, rest); err != nil {
				return err
			}
			d.setReadable(i)
			again = true
		}
	}
	return nil
}

// step waits for one message (from the coordinator, the timer or an input) and handles it.
func (d *inputDriver[T]) step() error {
	chosen, recv, _ := reflect.Select(d.cases)
	if chosen == caseDefault {
		// Nothing ready: send what is buffered downstream, then wait.
		if err := d.t.flush(); err != nil {
			return err
		}
		next, ok, err := d.h.processingTime()
		if err != nil {
			return err
		}
		d.cases[caseTimer].Chan = reflect.Value{}
		if ok {
			dur := time.Duration(next-d.t.job.clock.Now()) * time.Millisecond
			if d.timer == nil {
				d.timer = time.NewTimer(dur)
			} else {
				d.timer.Reset(dur)
			}
			d.cases[caseTimer].Chan = reflect.ValueOf(d.timer.C)
		}
		d.cases[caseDefault].Dir = reflect.SelectRecv // no default: block
		chosen, recv, _ = reflect.Select(d.cases)
		d.cases[caseDefault].Dir = reflect.SelectDefault
	}
	switch chosen {
	case caseCtrl:
		c := recv.Interface().(control)
		if c.kind == ctrlAbort {
			if err := d.apply(d.gate.abort(c.id)); err != nil {
				return err
			}
		}
		return d.t.notify(c)
	case caseDone:
		return errJobStopped
	case caseTimer:
		_, _, err := d.h.processingTime()
		return err
	case caseDefault:
		return nil
	}
	i := chosen - numFixedCases
	b := recv.Interface().(batch[T])
	err := d.processBatch(i, b)
	d.e.recycle(b)
	if err != nil {
		return err
	}
	_, _, err = d.h.processingTime()
	return err
}

// processBatch processes batch b of input i up to its end, or up to a barrier that blocks
// i: then it keeps a copy of the rest, keys included, in held[i].
func (d *inputDriver[T]) processBatch(i int, b batch[T]) error {
	for k := range b.els {
		el := &b.els[k]
		var acts []gateAction
		switch el.kind {
		case kindRecord:
			if err := d.h.processRecord(el.v, el.ts, b.key(el), int(el.kg)); err != nil {
				return err
			}
			continue
		case kindWatermark:
			acts = d.gate.watermark(i, el.ts)
		case kindIdle, kindActive:
			acts = d.gate.status(i, el.kind == kindIdle)
		case kindBarrier:
			if d.newest == nil || el.barrier.id > d.newest.id {
				d.newest = el.barrier
			}
			acts = d.gate.barrier(i, el.barrier.id, time.Now())
		case kindEnd:
			acts = d.gate.end(i, time.Now())
		}
		if err := d.apply(acts); err != nil {
			return err
		}
		if d.gate.blocked(i) {
			if k+1 < len(b.els) && !d.gate.ended(i) {
				d.held[i] = batch[T]{els: append([]element[T](nil), b.els[k+1:]...), keys: slices.Clone(b.keys)}
			}
			d.setReadable(i)
			return nil
		}
	}
	return nil
}

// apply carries out the gate's actions in order. Unblocking only enables the input's case
// when nothing of it is held: replayHeld processes the held rest first.
func (d *inputDriver[T]) apply(acts []gateAction) error {
	for _, a := range acts {
		var err error
		switch a.kind {
		case gateBlock, gateUnblock:
			d.setReadable(a.ch)
		case gateSnapshot:
			if d.newest == nil || d.newest.id != a.id {
				return fmt.Errorf("stream: %s: the input gate asked for checkpoint %d, whose barrier it has not seen", d.t, a.id)
			}
			err = d.t.snapshot(d.newest, a.alignment)
		case gateWatermark:
			err = d.h.processWatermark(a.ts)
		case gateIdle:
			err = d.t.broadcast(kindIdle, 0)
		case gateActive:
			err = d.t.broadcast(kindActive, 0)
		case gateEnded:
		}
		if err != nil {
			return err
		}
	}
	return nil
}

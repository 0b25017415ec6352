package stream

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// driverLog records, in order, what runInputs did: the records and watermarks it handed to
// the operator and the elements it sent downstream.
type driverLog struct{ entries []string }

// processRecord logs v, which parseBatch gave itself as serialized key and its length as
// key group: what a record carries must reach the operator, held or not.
func (l *driverLog) processRecord(v string, _ int64, key []byte, kg int) error {
	if string(key) != v || kg != len(v) {
		return fmt.Errorf("record %q carries key %q and key group %d", v, key, kg)
	}
	l.entries = append(l.entries, v)
	return nil
}
func (l *driverLog) processWatermark(wm int64) error {
	l.entries = append(l.entries, fmt.Sprintf("wm %d", wm))
	return nil
}
func (l *driverLog) processingTime() (int64, bool, error) { return 0, false, nil }
func (l *driverLog) flush() error                         { return nil }
func (l *driverLog) broadcastBarrier(b *checkpointBarrier) error {
	l.entries = append(l.entries, fmt.Sprintf("barrier %d", b.id))
	return nil
}
func (l *driverLog) broadcast(kind elemKind, ts int64) error {
	switch kind {
	case kindEnd:
		l.entries = append(l.entries, "end")
	default:
		l.entries = append(l.entries, fmt.Sprintf("kind %d", kind))
	}
	return nil
}

// parseBatch turns "a1 |1 a2 wm5 ." into a batch: a record, barrier 1, a record,
// watermark 5, end of input. A record carries itself as serialized key and its length as key
// group. Every barrier of one id is the same *checkpointBarrier, as when the coordinator makes
// it, kept in barriers.
func parseBatch(t *testing.T, s string, barriers map[int64]*checkpointBarrier) batch[string] {
	var b batch[string]
	for _, f := range strings.Fields(s) {
		var n int64
		switch {
		case f == ".":
			b.els = append(b.els, element[string]{kind: kindEnd})
		case strings.HasPrefix(f, "|"):
			if _, err := fmt.Sscanf(f, "|%d", &n); err != nil {
				t.Fatal(err)
			}
			if barriers[n] == nil {
				barriers[n] = &checkpointBarrier{id: n, ctx: context.Background()}
			}
			b.els = append(b.els, element[string]{kind: kindBarrier, barrier: barriers[n]})
		case strings.HasPrefix(f, "wm"):
			if _, err := fmt.Sscanf(f, "wm%d", &n); err != nil {
				t.Fatal(err)
			}
			b.els = append(b.els, element[string]{kind: kindWatermark, ts: n})
		default:
			b.addRecord(f, 0, []byte(f), len(f))
		}
	}
	return b
}

// TestRunInputsHoldsWhatFollowsABarrier drives runInputs over two inputs whose batches
// carry records behind barriers of two concurrent checkpoints, many times so the select
// interleaves the inputs differently. Whatever the interleaving, a record is handed to the
// operator after the barrier of every checkpoint it follows on its input and before the
// barrier of every checkpoint it precedes, each input keeps its order, each barrier goes
// downstream once, each checkpoint is acknowledged once with the barrier its inputs carried,
// and the end goes last. Watermark 10 is always emitted: barrier 2 blocks
// input 0 behind it, so input 0 cannot end before input 1's watermark 20 arrives.
func TestRunInputsHoldsWhatFollowsABarrier(t *testing.T) {
	inputs := [][]string{
		{"a1 |1 a2 a3", "wm10 |2 a4 .", ""},
		{"b1 b2 |1 b3", "wm20 b4 |2", "b5 ."},
	}
	// epoch[r] is the checkpoint interval a record belongs to: 0 before barrier 1, 1 between
	// 1 and 2, 2 after 2.
	epochs := map[string]int{"a1": 0, "b1": 0, "b2": 0, "a2": 1, "a3": 1, "b3": 1, "b4": 1, "a4": 2, "b5": 2}
	for run := range 200 {
		barriers := map[int64]*checkpointBarrier{}
		e := &edge[string]{free: make(chan batch[string], 8)}
		e.chans = [][]chan batch[string]{make([]chan batch[string], len(inputs))}
		for i, batches := range inputs {
			c := make(chan batch[string], len(batches))
			for _, s := range batches {
				if s != "" {
					c <- parseBatch(t, s, barriers)
				}
			}
			e.chans[0][i] = c
		}
		log := &driverLog{}
		j := &Job{clock: &ManualClock{}, coord: &coordinator{acks: make(chan taskAck, 4)}, done: make(chan struct{})}
		j.coord.job = j
		tk := &task{job: j, ctrl: make(chan control, 1), flushers: []flusher{log}}
		if err := runInputs[string](tk, e, log); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		tk.async.Wait()
		close(j.coord.acks)
		var acked []int64
		for a := range j.coord.acks {
			if a.err != nil || a.task != tk {
				t.Fatalf("run %d: ack %+v", run, a)
			}
			acked = append(acked, a.id)
		}
		slices.Sort(acked) // the asynchronous phases ack in any order
		if !slices.Equal(acked, []int64{1, 2}) {
			t.Fatalf("run %d: acknowledged %v, want [1 2]", run, acked)
		}
		got := log.entries
		epoch := maps.Clone(epochs)
		b1, b2 := slices.Index(got, "barrier 1"), slices.Index(got, "barrier 2")
		if b1 < 0 || b2 < b1 || strings.Count(strings.Join(got, ","), "barrier") != 2 {
			t.Fatalf("run %d: barriers out of order or repeated: %v", run, got)
		}
		if got[len(got)-1] != "end" || slices.Index(got, "wm 10") < 0 {
			t.Fatalf("run %d: want watermark 10 and the end last: %v", run, got)
		}
		last := map[byte]string{}
		for k, v := range got {
			ep, ok := epoch[v]
			if !ok {
				continue
			}
			bounds := []int{-1, b1, b2, len(got)}
			if k < bounds[ep] || k > bounds[ep+1] {
				t.Fatalf("run %d: record %s (after barrier %d) at %d: %v", run, v, ep, k, got)
			}
			if prev := last[v[0]]; prev != "" && prev > v {
				t.Fatalf("run %d: input order broken, %s after %s: %v", run, v, prev, got)
			}
			last[v[0]] = v
			delete(epoch, v)
		}
		for v := range epoch {
			t.Fatalf("run %d: record %s never processed: %v", run, v, got)
		}
	}
}

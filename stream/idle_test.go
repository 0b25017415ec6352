package stream

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// stallingSource has two splits: split 0 serves n events a second apart and then has no data
// (it never ends); split 1 never has data.
type stallingSource struct{ n int }

func (s stallingSource) NumSplits() int { return 2 }

func (s stallingSource) OpenSplit(split int, pos int64) (SplitReader[event], error) {
	return &stallingReader{n: s.n, split: split, pos: pos}, nil
}

type stallingReader struct {
	n, split int
	pos      int64
}

func (r *stallingReader) Next() (event, int64, ReadStatus, error) {
	if r.split == 1 || r.pos >= int64(r.n) {
		return event{}, 0, NoData, nil
	}
	r.pos++
	ts := r.pos * 1000
	return event{Key: "k", Val: 1, TS: ts}, ts, Record, nil
}

func (r *stallingReader) Position() int64 { return r.pos }

// TestIdleSplitDoesNotHoldBackWatermarks: a split without data holds the watermark back until
// it is idle for WatermarkStrategy.Idleness; then windows fire on the other split's time.
func TestIdleSplitDoesNotHoldBackWatermarks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		idleness time.Duration
		fires    bool
	}{{"idleness", 50 * time.Millisecond, true}, {"no idleness", 0, false}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGraph()
			s := FromSource(g, "source", stallingSource{n: 100}, WatermarkStrategy{Idleness: tc.idleness}).SetParallelism(2)
			res := Reduce(Window(KeyBy(s, func(e event) string { return e.Key }, nil), TumblingEventTimeWindows(10*time.Second, 0)),
				"window", sumEvents, emitSum)
			var fired atomic.Int64
			Sink(res, func(string, int64) error { fired.Add(1); return nil })
			j, err := Execute(context.Background(), g, Options{StateBackend: heapBackend, Parallelism: 2, AutoWatermarkInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { j.Cancel(); _ = j.Wait() }()
			deadline := time.Now().Add(3 * time.Second)
			if !tc.fires {
				deadline = time.Now().Add(500 * time.Millisecond)
			}
			for time.Now().Before(deadline) && fired.Load() == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			if got := fired.Load() > 0; got != tc.fires {
				t.Fatalf("windows fired: %v, want %v", got, tc.fires)
			}
		})
	}
}

package stream

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// stallingSource has two splits: split 0 serves n events a second apart and ends; split 1
// never has data and never ends.
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
	if r.split == 1 {
		return event{}, 0, NoData, nil
	}
	if r.pos >= int64(r.n) {
		return event{}, 0, Done, nil
	}
	r.pos++
	ts := r.pos * 1000
	return event{Key: "k", Val: 1, TS: ts}, ts, Record, nil
}

func (r *stallingReader) Position() int64 { return r.pos }

// TestIdleSplitDoesNotHoldBackWatermarks: end to end, a source subtask whose split has no data
// stops holding the watermark back once the split is idle for WatermarkStrategy.Idleness; then
// windows fire on the other subtask's time. The other subtask's split ends, so its watermark is
// MaxWatermark and it is never idle: were it to run dry instead, both subtasks could turn idle
// at once under load, and the input gate emits no watermark when its last active input turns
// idle (a run under load failed so). The test waits for the first window to fire; how long the
// idleness takes on the wall clock does not matter (the minute is a bound on a hang). That a
// split without data holds the watermark back for as long as no Idleness is set is shown by
// TestSourceIdleness, with time as data, and the input gate's valve by its scripts
// (testdata/inputgate).
func TestIdleSplitDoesNotHoldBackWatermarks(t *testing.T) {
	g := NewGraph()
	s := FromSource(g, "source", stallingSource{n: 100}, WatermarkStrategy{Idleness: 50 * time.Millisecond}).SetParallelism(2)
	res := Reduce(Window(KeyBy(s, func(e event) string { return e.Key }, nil), TumblingEventTimeWindows(10*time.Second, 0)),
		"window", sumEvents, emitSum)
	fired := make(chan struct{})
	var once sync.Once
	Sink(res, func(string, int64) error { once.Do(func() { close(fired) }); return nil })
	j, err := Execute(context.Background(), g, Options{StateBackend: heapBackend, Parallelism: 2, AutoWatermarkInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { j.Cancel(); _ = j.Wait() }()
	select {
	case <-fired:
	case <-j.Done():
		t.Fatalf("the job ended (%v) before a window fired", j.Wait())
	case <-time.After(time.Minute):
		t.Fatal("no window fired: the split without data still holds the watermark back")
	}
}

// TestSourceIdleness drives a source subtask's periodic watermarks with time as data: split 0
// has data at every period, split 1 none. Without Idleness split 1 holds the subtask's
// watermark at MinWatermark however long it waits; with it, split 1 turns idle once it has had
// no data from one periodic watermark to one Idleness later, and stops holding it back until it
// has data again. When every split is idle, so is the subtask.
func TestSourceIdleness(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newSource := func(idleness time.Duration) *sourceTask[event] {
		return &sourceTask[event]{ws: WatermarkStrategy{Idleness: idleness}, splits: []*sourceSplit[event]{
			{splitState: splitState{Split: 0, MaxTS: 5000}},
			{splitState: splitState{Split: 1, MaxTS: MinWatermark}},
		}}
	}
	// at is one periodic watermark at t0+d; split 0 read data since the last one if data.
	at := func(s *sourceTask[event], d time.Duration, data bool) (int64, bool) {
		if data {
			s.splits[0].active = true // as read does
		}
		s.markIdleSplits(t0.Add(d))
		return s.watermark()
	}
	check := func(what string, wm int64, idle bool, wantWM int64, wantIdle bool) {
		t.Helper()
		if wm != wantWM || idle != wantIdle {
			t.Errorf("%s: watermark %s idle %v, want %s idle %v", what, fmtWatermark(wm), idle, fmtWatermark(wantWM), wantIdle)
		}
	}

	s := newSource(0)
	for _, d := range []time.Duration{0, time.Second, time.Hour, 1000 * time.Hour} {
		wm, idle := at(s, d, true)
		check(fmt.Sprintf("no idleness, after %v", d), wm, idle, MinWatermark, false)
	}

	s = newSource(50 * time.Millisecond)
	wm, idle := at(s, 0, true) // split 1's inactivity is measured from here
	check("first period", wm, idle, MinWatermark, false)
	wm, idle = at(s, 49*time.Millisecond, true)
	check("just short of the idleness", wm, idle, MinWatermark, false)
	wm, idle = at(s, 50*time.Millisecond, true)
	check("idleness reached", wm, idle, 4999, false)

	// Split 1 has data again: it holds the watermark back from its own time.
	s.splits[1].MaxTS, s.splits[1].idle, s.splits[1].active = 3000, false, true
	wm, idle = at(s, 60*time.Millisecond, true)
	check("split 1 active again", wm, idle, 2999, false)

	// Neither split has data from here: both turn idle, and with them the subtask.
	at(s, 70*time.Millisecond, false)
	wm, idle = at(s, 119*time.Millisecond, false)
	check("both inactive, short of the idleness", wm, idle, 2999, false)
	wm, idle = at(s, 120*time.Millisecond, false)
	check("both idle", wm, idle, MaxWatermark, true)
}

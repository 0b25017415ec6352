package stream

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// ttlEvent is the record type of the TTL tests: Now is the processing time the record
// carries (processing-time TTL).
type ttlEvent struct {
	Key string
	TS  int64
	Now int64
}

// stepSource serves records from a slice in one split, one record per read: every record is
// followed by the watermark it makes (its timestamp - 1, with no out-of-orderness) when the
// job's AutoWatermarkInterval is tiny. So the place of every watermark in the stream is
// fixed, and an event-time job's output does not depend on the machine's speed. gate, if
// set, paces the reads as in sliceSource.
type stepSource struct {
	events []ttlEvent
	gate   *readGate
}

func (s *stepSource) NumSplits() int { return 1 }

func (s *stepSource) OpenSplit(_ int, pos int64) (SplitReader[ttlEvent], error) {
	return &stepReader{s: s, pos: pos}, nil
}

type stepReader struct {
	s     *stepSource
	pos   int64
	given bool // a record was returned by the last call: this one reports NoData
}

func (r *stepReader) Next() (ttlEvent, int64, ReadStatus, error) {
	if r.given { // also after the last record, so that its watermark comes before the end's
		r.given = false
		return ttlEvent{}, 0, NoData, nil
	}
	if r.pos >= int64(len(r.s.events)) {
		return ttlEvent{}, 0, Done, nil
	}
	if r.s.gate != nil && !r.s.gate.take() {
		return ttlEvent{}, 0, NoData, nil
	}
	e := r.s.events[r.pos]
	r.pos++
	r.given = true
	return e, e.TS, Record, nil
}

func (r *stepReader) Position() int64 { return r.pos }

// ttlEventTime is the TTL of eventTTLTracker's state, in ms.
const ttlEventTime = 45

// eventTTLTracker keeps each key's last timestamp in a value state with event-time TTL and
// reports what it sees: at every record the last timestamp still alive (or none), and at an
// event-time timer registered TTL after every record whether the state is still alive.
type eventTTLTracker struct{ last state.ValueState[int64] }

func (f *eventTTLTracker) Open(ctx *RuntimeContext[string]) error {
	var err error
	f.last, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int64]{Name: "last",
		TTL: ttl.Config{TTL: ttlEventTime * time.Millisecond, Time: ttl.EventTime}})
	return err
}

func (f *eventTTLTracker) ProcessElement(e ttlEvent, ctx *Context[string, string]) error {
	prev, ok, err := f.last.Value()
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%s %d record none", e.Key, e.TS)
	if ok {
		line = fmt.Sprintf("%s %d record last=%d", e.Key, e.TS, prev)
	}
	if err := f.last.Update(e.TS); err != nil {
		return err
	}
	if err := ctx.RegisterEventTimeTimer(e.TS + ttlEventTime); err != nil {
		return err
	}
	return ctx.Collect(line)
}

func (f *eventTTLTracker) OnTimer(ts int64, ctx *Context[string, string]) error {
	v, ok, err := f.last.Value()
	if err != nil {
		return err
	}
	if !ok {
		return ctx.Collect(fmt.Sprintf("%s %d timer expired", ctx.Key(), ts))
	}
	return ctx.Collect(fmt.Sprintf("%s %d timer last=%d", ctx.Key(), ts, v))
}

// wantEventTTL is the model of eventTTLTracker's output over evs as stepSource serves them
// (every record followed by the watermark ts-1, and the last watermark at the end): a
// state stamped at ts is gone from the moment the watermark reaches ts + TTL.
func wantEventTTL(evs []ttlEvent) []string {
	type timer struct {
		key string
		ts  int64
	}
	stamps := map[string]int64{}
	timers := map[timer]bool{}
	wm := int64(math.MinInt64)
	var lines []string
	read := func(key string) (int64, bool) {
		s, ok := stamps[key]
		if ok && s+ttlEventTime <= wm {
			delete(stamps, key)
			return 0, false
		}
		return s, ok
	}
	advance := func(to int64) {
		wm = max(wm, to)
		var due []timer
		for tm := range timers {
			if tm.ts <= wm {
				due = append(due, tm)
			}
		}
		slices.SortFunc(due, func(a, b timer) int { return cmp.Compare(a.ts, b.ts) })
		for _, tm := range due {
			delete(timers, tm)
			if s, ok := read(tm.key); ok {
				lines = append(lines, fmt.Sprintf("%s %d timer last=%d", tm.key, tm.ts, s))
			} else {
				lines = append(lines, fmt.Sprintf("%s %d timer expired", tm.key, tm.ts))
			}
		}
	}
	for _, e := range evs {
		if s, ok := read(e.Key); ok {
			lines = append(lines, fmt.Sprintf("%s %d record last=%d", e.Key, e.TS, s))
		} else {
			lines = append(lines, fmt.Sprintf("%s %d record none", e.Key, e.TS))
		}
		stamps[e.Key] = e.TS
		timers[timer{e.Key, e.TS + ttlEventTime}] = true
		advance(e.TS - 1)
	}
	advance(MaxWatermark)
	slices.Sort(lines)
	return lines
}

// ttlEvents returns n records, 10 ms apart, over keys keys picked at random, so that the gap
// between two records of a key is sometimes shorter and sometimes longer than the TTL.
func ttlEvents(n, keys int, seed uint64) []ttlEvent {
	rng := rand.New(rand.NewPCG(seed, seed))
	evs := make([]ttlEvent, n)
	for i := range evs {
		evs[i] = ttlEvent{Key: fmt.Sprintf("k%d", rng.IntN(keys)), TS: int64(i+1) * 10}
	}
	return evs
}

func ttlGraph(src Source[ttlEvent], out string, newFn func() KeyedProcessFunction[string, ttlEvent, string]) *Graph {
	g := NewGraph()
	s := FromSource(g, "source", src, WatermarkStrategy{})
	lines := Process(KeyBy(s, func(e ttlEvent) string { return e.Key }, nil), "ttl", newFn)
	SinkToFiles(lines, "out", out, func(dst []byte, v string) []byte { return append(dst, v...) })
	return g
}

// TestEventTimeTTLInJob runs a keyed function with an event-time TTL value state in a real
// job, crashed twice and resumed from its latest checkpoint (at parallelism 1: with more
// source subtasks the place of a watermark among the records depends on their speed):
// each key's state is gone exactly when the watermark reaches its last record's timestamp +
// TTL — in records and in the timers at that time — and the replay after each restore gives
// the output of the model's single uninterrupted run, on both backends.
func TestEventTimeTTLInJob(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	evs := ttlEvents(1200, 6, seed)
	want := wantEventTTL(evs)
	if n, m := countSuffix(want, "timer expired"), countContains(want, "timer last="); n == 0 || m == 0 {
		t.Fatalf("the model's timers see %d expired and %d live states: the test needs both", n, m)
	}
	for _, tc := range []struct {
		name    string
		backend backend.StateBackend
	}{{"hashmap", heapBackend}, {"lsm", lsmBackend}} {
		t.Run(tc.name, func(t *testing.T) {
			out, cpDir := t.TempDir(), t.TempDir()
			gate := newReadGate(0)
			src := &stepSource{events: evs, gate: gate}
			crashAndResume(t, []int{1, 1, 1}, gate, len(evs), func(p int, onCheckpoint func(CheckpointStats)) (*Job, error) {
				return Execute(context.Background(), ttlGraph(src, out, func() KeyedProcessFunction[string, ttlEvent, string] { return &eventTTLTracker{} }),
					Options{Parallelism: p, StateBackend: tc.backend, Checkpoints: openCheckpoints(t, cpDir),
						Checkpointing: CheckpointConfig{Interval: 15 * time.Millisecond}, AutoWatermarkInterval: time.Nanosecond,
						Restore: Restore{Latest: true}, OnCheckpoint: onCheckpoint})
			})
			compareLines(t, readOutput(t, out), want)
		})
	}
}

func countSuffix(lines []string, suffix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasSuffix(l, suffix) {
			n++
		}
	}
	return n
}

func countContains(lines []string, sub string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// atomicClock is a job Clock that moves only when told to, safe across goroutines.
type atomicClock struct{ ms atomic.Int64 }

func (c *atomicClock) Now() int64 { return c.ms.Load() }

// ttlProcTime is the TTL of procTTLTracker's state, in ms.
const ttlProcTime = 100

// procTTLTracker keeps each key's last processing time in a value state with processing-time
// TTL. It moves the job's clock to the time each record carries before it reads the state,
// so that the processing time of every access is fixed by the input (one subtask).
type procTTLTracker struct {
	clock *atomicClock
	last  state.ValueState[int64]
}

func (f *procTTLTracker) Open(ctx *RuntimeContext[string]) error {
	var err error
	f.last, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int64]{Name: "last",
		TTL: ttl.Config{TTL: ttlProcTime * time.Millisecond}})
	return err
}

func (f *procTTLTracker) ProcessElement(e ttlEvent, ctx *Context[string, string]) error {
	f.clock.ms.Store(e.Now)
	if got := ctx.CurrentProcessingTime(); got != e.Now {
		return fmt.Errorf("the context's processing time is %d, want the job clock's %d", got, e.Now)
	}
	prev, ok, err := f.last.Value()
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%s %d none", e.Key, e.Now)
	if ok {
		line = fmt.Sprintf("%s %d last=%d", e.Key, e.Now, prev)
	}
	if err := f.last.Update(e.Now); err != nil {
		return err
	}
	return ctx.Collect(line)
}

func (f *procTTLTracker) OnTimer(int64, *Context[string, string]) error { return nil }

// TestProcessingTimeTTLInJob: a processing-time TTL state in a job is judged by the job's
// Clock (Options.Clock), not the wall clock: a key's state is gone from the moment the job's
// processing time reaches its last write + TTL, while the event timestamps (which would keep
// it alive under event time) play no part.
func TestProcessingTimeTTLInJob(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	evs := make([]ttlEvent, 600)
	now := int64(1_000_000) // far from the wall clock: a backend reading it would expire everything
	for i := range evs {
		now += int64(rng.IntN(60))
		evs[i] = ttlEvent{Key: fmt.Sprintf("k%d", rng.IntN(4)), TS: int64(i), Now: now}
	}
	last := map[string]int64{}
	var want []string
	for _, e := range evs {
		if s, ok := last[e.Key]; ok && s+ttlProcTime > e.Now {
			want = append(want, fmt.Sprintf("%s %d last=%d", e.Key, e.Now, s))
		} else {
			want = append(want, fmt.Sprintf("%s %d none", e.Key, e.Now))
		}
		last[e.Key] = e.Now
	}
	slices.Sort(want)
	for _, tc := range []struct {
		name    string
		backend backend.StateBackend
	}{{"hashmap", heapBackend}, {"lsm", lsmBackend}} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			clock := &atomicClock{}
			j, err := Execute(context.Background(), ttlGraph(&stepSource{events: evs}, out, func() KeyedProcessFunction[string, ttlEvent, string] {
				return &procTTLTracker{clock: clock}
			}), Options{Parallelism: 1, StateBackend: tc.backend, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			compareLines(t, readOutput(t, out), want)
		})
	}
}

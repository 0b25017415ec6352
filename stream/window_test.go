package stream

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

func TestTimeWindowNamespaceOrder(t *testing.T) {
	vals := []int64{math.MinInt64, -1 << 40, -10, -1, 0, 1, 9, 1 << 40, math.MaxInt64}
	var ws []TimeWindow
	for _, s := range vals {
		for _, e := range vals {
			ws = append(ws, TimeWindow{Start: s, End: e})
		}
	}
	for _, a := range ws {
		na := a.AppendNamespace(nil)
		got, err := DecodeTimeWindow(na)
		if err != nil || got != a {
			t.Fatalf("DecodeTimeWindow(%v) = %v, %v", a, got, err)
		}
		for _, b := range ws {
			want := cmp.Compare(a.Start, b.Start)
			if want == 0 {
				want = cmp.Compare(a.End, b.End)
			}
			if got := bytes.Compare(na, b.AppendNamespace(nil)); got != want {
				t.Fatalf("namespace order of %v and %v is %d, want %d", a, b, got, want)
			}
		}
	}
	if _, err := DecodeTimeWindow(make([]byte, 15)); !errors.Is(err, ErrBadWindowNamespace) {
		t.Fatalf("15 bytes: %v", err)
	}
}

func FuzzDecodeTimeWindow(f *testing.F) {
	f.Add(TimeWindow{Start: -5, End: 10}.AppendNamespace(nil))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := DecodeTimeWindow(b)
		if err != nil {
			return
		}
		if !bytes.Equal(w.AppendNamespace(nil), b) {
			t.Fatalf("%x decodes to %v, which encodes differently", b, w)
		}
	})
}

func FuzzDecodeMergingWindowSet(f *testing.F) {
	s := windowMappingSerializer{}
	seed, _ := s.Append(nil, []windowMapping{{TimeWindow{0, 10}, TimeWindow{5, 10}}})
	f.Add(seed)
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := s.Decode(b)
		if err != nil {
			if !errors.Is(err, serde.ErrDecode) {
				t.Fatalf("error %v does not wrap serde.ErrDecode", err)
			}
			return
		}
		again, _ := s.Append(nil, m)
		if !bytes.Equal(again, b) {
			t.Fatalf("%x does not round-trip", b)
		}
	})
}

// bruteWindows returns the windows of length size starting at offset + k*slide that hold ts.
func bruteWindows(ts, size, slide, offset int64) []TimeWindow {
	var out []TimeWindow
	for start := ts - size - 2*slide; start <= ts; start++ {
		if (start-offset)%slide == 0 && start <= ts && ts < start+size {
			out = append(out, TimeWindow{Start: start, End: start + size})
		}
	}
	return out
}

func TestTimeWindowAssigners(t *testing.T) {
	sortW := func(ws []TimeWindow) []TimeWindow {
		slices.SortFunc(ws, func(a, b TimeWindow) int { return cmp.Compare(a.Start, b.Start) })
		return ws
	}
	for _, tc := range []struct {
		a                   WindowAssigner
		size, slide, offset int64
	}{
		{TumblingEventTimeWindows(10*time.Millisecond, 0), 10, 10, 0},
		{TumblingEventTimeWindows(10*time.Millisecond, 3*time.Millisecond), 10, 10, 3},
		{TumblingEventTimeWindows(10*time.Millisecond, -3*time.Millisecond), 10, 10, -3},
		{SlidingEventTimeWindows(10*time.Millisecond, 5*time.Millisecond, 0), 10, 5, 0},
		{SlidingEventTimeWindows(10*time.Millisecond, 3*time.Millisecond, time.Millisecond), 10, 3, 1},
		{SlidingEventTimeWindows(5*time.Millisecond, 10*time.Millisecond, 0), 5, 10, 0}, // gaps between windows
	} {
		for ts := int64(-40); ts <= 40; ts++ {
			got, err := tc.a.AssignWindows(nil, ts, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteWindows(ts, tc.size, tc.slide, tc.offset)
			if !slices.Equal(sortW(got), want) {
				t.Fatalf("%+v at %d: %v, want %v", tc, ts, got, want)
			}
		}
	}
	p := TumblingProcessingTimeWindows(10*time.Millisecond, 0)
	if got, _ := p.AssignWindows(nil, NoTimestamp, 1234); p.IsEventTime() || !slices.Equal(got, []TimeWindow{{1230, 1240}}) {
		t.Fatalf("processing time windows: %v", got)
	}
	if _, err := TumblingEventTimeWindows(time.Second, 0).AssignWindows(nil, NoTimestamp, 0); err == nil {
		t.Fatal("a record without timestamp was assigned to an event-time window")
	}
}

func TestMergeTimeWindows(t *testing.T) {
	ws := []TimeWindow{{30, 40}, {0, 10}, {20, 30}, {15, 25}, {50, 60}, {9, 12}, {70, 80}, {70, 80}}
	var got []string
	MergeTimeWindows(ws, func(merged []TimeWindow, result TimeWindow) {
		got = append(got, fmt.Sprint(merged, "->", result))
	})
	want := []string{
		"[TimeWindow{start=0, end=10} TimeWindow{start=9, end=12}]->TimeWindow{start=0, end=12}",
		"[TimeWindow{start=15, end=25} TimeWindow{start=20, end=30} TimeWindow{start=30, end=40}]->TimeWindow{start=15, end=40}",
		"[TimeWindow{start=70, end=80} TimeWindow{start=70, end=80}]->TimeWindow{start=70, end=80}",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("merges %q, want %q", got, want)
	}
}

// stamped is a record with its timestamp, as an operator emitted it.
type stamped[T any] struct {
	v  T
	ts int64
}

// collector is an output that keeps what it gets.
type collector[T any] struct{ items []stamped[T] }

func (c *collector[T]) collect(v T, ts int64) error {
	c.items = append(c.items, stamped[T]{v, ts})
	return nil
}

func (c *collector[T]) watermark(int64) error { return nil }

// windowHarness drives the window logic of one subtask directly, as Flink's
// KeyedOneInputStreamOperatorTestHarness: records, watermarks and processing time are
// given one by one, so lateness is deterministic.
type windowHarness[OUT any] struct {
	t     testing.TB
	op    *keyedOp[string, event, OUT]
	route *keyRouter[string, event] // routes records as a keyed edge does
	out   *collector[OUT]
	late  *collector[event]
	clock *ManualClock
}

// keyedEvents returns a keyed stream of events of a graph that is never run.
func keyedEvents() *KeyedStream[string, event] {
	return KeyBy(newStream[event](NewGraph(), nil), func(e event) string { return e.Key }, nil)
}

func newWindowHarness[OUT any](t testing.TB, factory backend.StateBackend, ws *WindowedStream[string, event],
	contents func(op *keyedOp[string, event, OUT]) (windowContents[string, event], error)) *windowHarness[OUT] {
	t.Helper()
	if factory == nil {
		factory = heapBackend
	}
	b, err := factory.CreateKeyedBackend(context.Background(), backend.Options{OperatorID: "window", MaxParallelism: 128,
		KeyGroupRange: keygroup.RangeFor(128, 1, 0), KeySerializerID: serde.String{}.ID()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	kb, err := state.NewKeyedBackend(b, serde.String{})
	if err != nil {
		t.Fatal(err)
	}
	h := &windowHarness[OUT]{t: t, out: &collector[OUT]{}, late: &collector[event]{}, clock: &ManualClock{},
		route: newKeyRouter(ws.ks.key, ws.ks.ser, 128)}
	op := &keyedOp[string, event, OUT]{kb: kb, key: ws.ks.key, out: h.out,
		sides: map[string]output[any]{"late": anyOutput[event]{h.late}}}
	op.timers, err = NewInternalTimerService("window", kb, h.clock, TriggerFunc[string](func(ft FiredTimer[string]) error { return op.logic.onTimer(ft) }))
	if err != nil {
		t.Fatal(err)
	}
	if op.logic, err = windowLogicFactory(ws, contents)(op); err != nil {
		t.Fatal(err)
	}
	h.op = op
	return h
}

func (h *windowHarness[OUT]) add(key string, val, ts int64) {
	h.t.Helper()
	if err := h.process(event{Key: key, Val: val, TS: ts}, ts); err != nil {
		h.t.Fatal(err)
	}
}

// process routes v as a keyed edge does and hands it to the operator.
func (h *windowHarness[OUT]) process(v event, ts int64) error {
	raw, kg, err := h.route.keyGroup(v)
	if err != nil {
		return err
	}
	return h.op.processRecord(v, ts, raw, kg)
}

func (h *windowHarness[OUT]) watermark(wm int64) {
	h.t.Helper()
	if err := h.op.processWatermark(wm); err != nil {
		h.t.Fatal(err)
	}
}

func (h *windowHarness[OUT]) processingTime(now int64) {
	h.t.Helper()
	h.clock.T = now
	if err := h.op.timers.AdvanceProcessingTime(); err != nil {
		h.t.Fatal(err)
	}
}

// results returns what was emitted since the last call, checking each record's timestamp
// with check.
func (h *windowHarness[OUT]) results() []OUT {
	var out []OUT
	for _, s := range h.out.items {
		out = append(out, s.v)
	}
	h.out.items = nil
	return out
}

// lateRecords returns the records sent to the late side output since the last call.
func (h *windowHarness[OUT]) lateRecords() []string {
	var out []string
	for _, s := range h.late.items {
		out = append(out, fmt.Sprintf("%s@%d", s.v.Key, s.ts))
	}
	h.late.items = nil
	return out
}

// stateLeft reports the timers and window state the harness's operator still holds.
func (h *windowHarness[OUT]) stateLeft(ws ...TimeWindow) string {
	var left []string
	if ev, pr := h.op.timers.NumTimers(); ev+pr > 0 {
		left = append(left, fmt.Sprintf("%d event and %d processing timers", ev, pr))
	}
	for _, w := range ws {
		for k, err := range h.op.kb.Keys(windowContentsState, w.AppendNamespace(nil)) {
			if err != nil {
				h.t.Fatal(err)
			}
			left = append(left, fmt.Sprintf("contents of %q in %v", k, w))
		}
	}
	for k, err := range h.op.kb.Keys(mergingWindowsState, nil) {
		if err == nil {
			left = append(left, fmt.Sprintf("merging window set of %q", k))
		}
	}
	return strings.Join(left, "; ")
}

func sumEvents(a, b event) event {
	a.Val += b.Val
	return a
}

// windowLine is the result the tests emit for a window: key, window and sum.
func windowLine(key string, w TimeWindow, sum int64) string {
	return fmt.Sprintf("%s [%d,%d) %d", key, w.Start, w.End, sum)
}

func emitSum(key string, w TimeWindow, v event, emit func(string)) error {
	emit(windowLine(key, w, v.Val))
	return nil
}

// sumHarness is a harness of windowed sums with the Reduce function.
func sumHarness(t testing.TB, backend backend.StateBackend, ws *WindowedStream[string, event]) *windowHarness[string] {
	return newWindowHarness(t, backend, ws, reduceContentsFactory(ws, sumEvents, emitSum))
}

func checkResults(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// randomEvents returns n events of keys keys in arrival order: timestamps out of order by
// less than bound, in bursts separated by pauses (so that sessions end).
func randomEvents(r *rand.Rand, n, keys int, bound int64) []event {
	evs := make([]event, n)
	base := int64(1000)
	for i := range evs {
		base += r.Int64N(8)
		if r.IntN(60) == 0 {
			base += 300
		}
		evs[i] = event{Key: fmt.Sprintf("k%d", r.IntN(keys)), Val: r.Int64N(100), TS: base - r.Int64N(bound)}
	}
	return evs
}

// modelWindows computes the windowed sums of evs: every event goes to the windows assign
// gives it, or, with gap > 0, into the key's sessions of that gap.
func modelWindows(evs []event, assign WindowAssigner, gap int64) []string {
	type kw struct {
		key string
		w   TimeWindow
	}
	sums := map[kw]int64{}
	if gap == 0 {
		for _, e := range evs {
			ws, _ := assign.AssignWindows(nil, e.TS, 0)
			for _, w := range ws {
				sums[kw{e.Key, w}] += e.Val
			}
		}
	} else {
		byKey := map[string][]event{}
		for _, e := range evs {
			byKey[e.Key] = append(byKey[e.Key], e)
		}
		for key, es := range byKey {
			slices.SortFunc(es, func(a, b event) int { return cmp.Compare(a.TS, b.TS) })
			cur, sum := TimeWindow{es[0].TS, es[0].TS + gap}, int64(0)
			for _, e := range es {
				if e.TS > cur.End { // [ts, ts+gap) touches cur when ts <= cur.End
					sums[kw{key, cur}] = sum
					cur, sum = TimeWindow{e.TS, e.TS + gap}, 0
				}
				cur.End = max(cur.End, e.TS+gap)
				sum += e.Val
			}
			sums[kw{key, cur}] = sum
		}
	}
	var out []string
	for k, s := range sums {
		out = append(out, windowLine(k.key, k.w, s))
	}
	slices.Sort(out)
	return out
}

var windowKinds = []struct {
	name     string
	assigner WindowAssigner
	gap      int64
}{
	{"tumbling", TumblingEventTimeWindows(50*time.Millisecond, 7*time.Millisecond), 0},
	{"sliding", SlidingEventTimeWindows(60*time.Millisecond, 20*time.Millisecond, 0), 0},
	{"session", EventTimeSessionWindows(30 * time.Millisecond), 30},
}

var windowBackends = []struct {
	name    string
	backend backend.StateBackend
}{{"hashmap", heapBackend}, {"lsm", lsmBackend}}

// TestWindowsAgainstModel feeds random out-of-order events (within the watermark bound, so
// none is late) through each kind of window and compares the results with the model. Every
// result carries its window's MaxTimestamp, and no state or timer is left at the end.
func TestWindowsAgainstModel(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	const bound = 40
	for _, kind := range windowKinds {
		for _, be := range windowBackends {
			t.Run(kind.name+"/"+be.name, func(t *testing.T) {
				evs := randomEvents(rand.New(rand.NewPCG(uint64(seed), 0)), 3000, 7, bound)
				ws := Window(keyedEvents(), kind.assigner)
				h := sumHarness(t, be.backend, ws)
				maxTS := int64(math.MinInt64)
				for _, e := range evs {
					h.add(e.Key, e.Val, e.TS)
					maxTS = max(maxTS, e.TS)
					h.watermark(maxTS - bound - 1)
				}
				h.watermark(MaxWatermark)
				var got []string
				for _, s := range h.out.items {
					var key string
					var w TimeWindow
					if _, err := fmt.Sscanf(s.v, "%s [%d,%d)", &key, &w.Start, &w.End); err != nil {
						t.Fatal(err)
					}
					if s.ts != w.MaxTimestamp() {
						t.Fatalf("%q emitted at %d", s.v, s.ts)
					}
					got = append(got, s.v)
				}
				slices.Sort(got)
				compareLines(t, got, modelWindows(evs, kind.assigner, kind.gap))
				if late := h.lateRecords(); len(late) > 0 {
					t.Errorf("late records: %q", late)
				}
				if left := h.stateLeft(); left != "" {
					t.Errorf("left behind: %s", left)
				}
			})
		}
	}
}

func TestLateDataToSideOutput(t *testing.T) {
	h := sumHarness(t, nil, Window(keyedEvents(), TumblingEventTimeWindows(10*time.Millisecond, 0)).SideOutputLateData("late"))
	h.add("a", 1, 1)
	h.add("a", 2, 5)
	h.add("a", 4, 12)
	h.watermark(9)
	checkResults(t, h.results(), "a [0,10) 3")
	h.add("a", 8, 3) // window [0,10) is gone
	h.add("a", 16, 10)
	checkResults(t, h.lateRecords(), "a@3")
	h.watermark(19)
	checkResults(t, h.results(), "a [10,20) 20")
	if left := h.stateLeft(TimeWindow{0, 10}, TimeWindow{10, 20}); left != "" {
		t.Errorf("left behind: %s", left)
	}

	// Without a side output, late records are dropped and counted.
	h = sumHarness(t, nil, Window(keyedEvents(), TumblingEventTimeWindows(10*time.Millisecond, 0)))
	h.watermark(100)
	h.add("a", 1, 50)
	if h.op.logic.(*windowLogic[string, event, string]).dropped != 1 || len(h.lateRecords()) != 0 {
		t.Fatal("late record not dropped")
	}
	h.watermark(MaxWatermark)
	checkResults(t, h.results())
}

func TestSlidingLateRecordOnlyWhenEveryWindowIsLate(t *testing.T) {
	h := sumHarness(t, nil, Window(keyedEvents(), SlidingEventTimeWindows(20*time.Millisecond, 10*time.Millisecond, 0)).SideOutputLateData("late"))
	h.watermark(19)
	h.add("a", 1, 15) // [0,20) is late, [10,30) is not: not a late record
	checkResults(t, h.lateRecords())
	h.watermark(29)
	checkResults(t, h.results(), "a [10,30) 1")
	h.add("a", 1, 15)
	checkResults(t, h.lateRecords(), "a@15")
}

func TestAllowedLatenessRefires(t *testing.T) {
	for _, be := range windowBackends {
		t.Run(be.name, func(t *testing.T) {
			h := sumHarness(t, be.backend, Window(keyedEvents(), TumblingEventTimeWindows(10*time.Millisecond, 0)).
				AllowedLateness(20*time.Millisecond).SideOutputLateData("late"))
			h.add("a", 1, 1)
			h.add("b", 100, 2)
			h.watermark(9)
			checkResults(t, h.results(), "a [0,10) 1", "b [0,10) 100")
			h.add("a", 2, 2) // late but within the lateness: fires at once with everything
			checkResults(t, h.results(), "a [0,10) 3")
			h.watermark(28)
			h.add("a", 4, 3)
			checkResults(t, h.results(), "a [0,10) 7")
			h.watermark(29) // cleanup time: state and timers go, nothing fires
			checkResults(t, h.results())
			if left := h.stateLeft(TimeWindow{0, 10}); left != "" {
				t.Errorf("left behind after cleanup: %s", left)
			}
			h.add("a", 8, 4)
			checkResults(t, h.lateRecords(), "a@4")
			checkResults(t, h.results())
		})
	}
}

func TestSessionMergingOutOfOrder(t *testing.T) {
	for _, be := range windowBackends {
		t.Run(be.name, func(t *testing.T) {
			h := sumHarness(t, be.backend, Window(keyedEvents(), EventTimeSessionWindows(10*time.Millisecond)))
			h.add("a", 1, 0)   // [0,10)
			h.add("a", 2, 30)  // [30,40)
			h.add("a", 4, 15)  // [15,25)
			h.add("b", 64, 17) // another key's session
			h.add("a", 8, 20)  // [20,30) joins [15,25) and [30,40): [15,40)
			h.watermark(10)    // [0,10) ends
			checkResults(t, h.results(), "a [0,10) 1")
			h.add("a", 16, 9) // late for [0,10), whose state is gone, but [9,19) starts a session that merges into [9,40)
			h.watermark(38)
			checkResults(t, h.results(), "b [17,27) 64")
			h.watermark(39)
			checkResults(t, h.results(), "a [9,40) 30")
			if left := h.stateLeft(TimeWindow{0, 10}, TimeWindow{15, 25}, TimeWindow{30, 40}, TimeWindow{9, 19}, TimeWindow{20, 30}); left != "" {
				t.Errorf("left behind: %s", left)
			}
		})
	}
}

func TestSessionWithAllowedLateness(t *testing.T) {
	h := sumHarness(t, nil, Window(keyedEvents(), EventTimeSessionWindows(10*time.Millisecond)).
		AllowedLateness(100*time.Millisecond).SideOutputLateData("late"))
	h.add("a", 1, 0)
	h.add("a", 2, 12)
	h.watermark(50)
	checkResults(t, h.results(), "a [0,10) 1", "a [12,22) 2")
	h.add("a", 4, 8) // bridges both sessions after they fired: they merge and fire again
	checkResults(t, h.results(), "a [0,22) 7")
	h.watermark(121)
	if left := h.stateLeft(TimeWindow{0, 10}, TimeWindow{12, 22}); left != "" {
		t.Errorf("left behind: %s", left)
	}
	h.add("a", 8, 5)
	checkResults(t, h.lateRecords(), "a@5")
}

func TestCountTrigger(t *testing.T) {
	h := sumHarness(t, nil, Window(keyedEvents(), TumblingEventTimeWindows(10*time.Millisecond, 0)).Trigger(CountTrigger[event](2)))
	h.add("a", 1, 1)
	h.add("a", 2, 2)
	checkResults(t, h.results(), "a [0,10) 3")
	h.add("a", 4, 3)
	checkResults(t, h.results())
	h.add("a", 8, 4)
	checkResults(t, h.results(), "a [0,10) 15")
	h.add("a", 16, 5)
	h.watermark(100) // a count trigger never fires on time; cleanup removes the window
	checkResults(t, h.results())
	if left := h.stateLeft(TimeWindow{0, 10}); left != "" {
		t.Errorf("left behind: %s", left)
	}
	for k, err := range h.op.kb.Keys(countTriggerDescriptor.Name, TimeWindow{0, 10}.AppendNamespace(nil)) {
		t.Errorf("count trigger state of %q left behind (%v)", k, err)
	}

	// In session windows the counts merge.
	h = sumHarness(t, nil, Window(keyedEvents(), EventTimeSessionWindows(10*time.Millisecond)).Trigger(CountTrigger[event](3)))
	h.add("a", 1, 0)
	h.add("a", 2, 30)
	h.add("a", 4, 15) // three windows, one record each
	checkResults(t, h.results())
	h.add("a", 8, 24) // merges [15,25) and [30,40) into [15,40): count 3
	checkResults(t, h.results(), "a [15,40) 14")
}

func TestProcessingTimeWindows(t *testing.T) {
	ws := Window(keyedEvents(), TumblingProcessingTimeWindows(100*time.Millisecond, 0))
	h := sumHarness(t, nil, ws)
	h.processingTime(1005)
	h.add("a", 1, NoTimestamp)
	h.processingTime(1050)
	h.add("a", 2, 7) // event time is ignored
	h.add("b", 4, 7)
	h.watermark(MaxWatermark) // and so are watermarks
	checkResults(t, h.results())
	h.processingTime(1098)
	checkResults(t, h.results())
	h.processingTime(1100)
	h.add("a", 8, 0)
	checkResults(t, h.results(), "a [1000,1100) 3", "b [1000,1100) 4")
	if next, ok, _ := h.op.timers.NextProcessingTime(); !ok || next != 1199 {
		t.Fatalf("next processing timer %d %v", next, ok)
	}
	h.processingTime(1300)
	checkResults(t, h.results(), "a [1100,1200) 8")
	if left := h.stateLeft(TimeWindow{1000, 1100}, TimeWindow{1100, 1200}); left != "" {
		t.Errorf("left behind: %s", left)
	}

	h = sumHarness(t, nil, Window(keyedEvents(), ProcessingTimeSessionWindows(10*time.Millisecond)))
	h.processingTime(0)
	h.add("a", 1, 0)
	h.processingTime(5)
	h.add("a", 2, 0)
	h.processingTime(13)
	checkResults(t, h.results())
	h.processingTime(14)
	checkResults(t, h.results(), "a [0,15) 3")
}

// avg is an AggregateFunction: the mean of the values.
type avg struct{}

func (avg) CreateAccumulator() [2]int64                       { return [2]int64{} }
func (avg) Add(e event, a [2]int64) ([2]int64, error)         { return [2]int64{a[0] + e.Val, a[1] + 1}, nil }
func (avg) GetResult(a [2]int64) (float64, error)             { return float64(a[0]) / float64(a[1]), nil }
func (avg) Merge(a, b [2]int64) ([2]int64, error)             { return [2]int64{a[0] + b[0], a[1] + b[1]}, nil }
func (avg) AccumulatorSerializer() serde.Serializer[[2]int64] { return serde.JSON[[2]int64]{} }

func TestAggregateAndProcessWindow(t *testing.T) {
	ws := Window(keyedEvents(), EventTimeSessionWindows(10*time.Millisecond))
	h := newWindowHarness(t, lsmBackend, ws, aggregateContentsFactory(avg{}, func(key string, w TimeWindow, v float64, emit func(string)) error {
		emit(fmt.Sprintf("%s %v %.2f", key, w, v))
		return nil
	}))
	h.add("a", 1, 0)
	h.add("a", 2, 30)
	h.add("a", 4, 20)
	h.add("a", 10, 3)
	h.watermark(MaxWatermark)
	checkResults(t, h.results(), "a TimeWindow{start=0, end=13} 5.50", "a TimeWindow{start=20, end=40} 3.00")

	ws = Window(keyedEvents(), EventTimeSessionWindows(10*time.Millisecond))
	p := newWindowHarness(t, nil, ws, listContentsFactory(ws, func(key string, w TimeWindow, elems iter.Seq[event], emit func(string)) error {
		var vals []string
		for e := range elems {
			vals = append(vals, fmt.Sprint(e.Val))
		}
		emit(fmt.Sprintf("%s %v %s", key, w, strings.Join(vals, ",")))
		emit("second")
		return nil
	}))
	p.add("a", 1, 0)
	p.add("a", 2, 30)
	p.add("a", 4, 20) // merges [20,30) and [30,40): the list of [30,40) moves
	p.add("a", 10, 3)
	p.watermark(MaxWatermark)
	got := p.results()
	if len(got) != 4 || got[1] != "second" || got[3] != "second" {
		t.Fatalf("results %q", got)
	}
	// Merging appends the moved list: within a session, the order is not the arrival order.
	for i, want := range []string{"a TimeWindow{start=0, end=13} 1,10", "a TimeWindow{start=20, end=40} 2,4"} {
		prefix, list, _ := strings.Cut(got[2*i], "} ")
		vals := strings.Split(list, ",")
		slices.Sort(vals)
		if prefix+"} "+strings.Join(vals, ",") != want {
			t.Fatalf("result %q, want %q in any order", got[2*i], want)
		}
	}
}

func TestWindowFunctionError(t *testing.T) {
	ws := Window(keyedEvents(), TumblingEventTimeWindows(10*time.Millisecond, 0))
	boom := errors.New("boom")
	h := newWindowHarness(t, nil, ws, reduceContentsFactory(ws, sumEvents, func(string, TimeWindow, event, func(string)) error { return boom }))
	h.add("a", 1, 1)
	if err := h.op.processWatermark(100); !errors.Is(err, boom) {
		t.Fatalf("watermark: %v", err)
	}
}

// BenchmarkTumblingWindow measures the per-record cost of a tumbling window sum.
func BenchmarkTumblingWindow(b *testing.B) {
	for _, be := range windowBackends {
		b.Run(be.name, func(b *testing.B) {
			h := sumHarness(b, be.backend, Window(keyedEvents(), TumblingEventTimeWindows(time.Second, 0)))
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = fmt.Sprint("k", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ts := int64(i)
				_ = h.process(event{Key: keys[i%len(keys)], Val: 1, TS: ts}, ts)
				if i%1000 == 999 {
					_ = h.op.processWatermark(ts - 100)
					h.out.items = h.out.items[:0]
				}
			}
		})
	}
}

// windowEvents returns n random events in source order for a sliceSource of splits splits:
// within a split, timestamps are out of order by less than 50 ms, so with an
// out-of-orderness of 100 ms no record is late.
func windowEvents(seed uint64, n int) []event {
	return randomEvents(rand.New(rand.NewPCG(seed, 1)), n, 13, 50)
}

func windowGraph(src Source[event], out string, assigner WindowAssigner) *Graph {
	g := NewGraph()
	s := FromSource(g, "source", src, WatermarkStrategy{OutOfOrderness: 100 * time.Millisecond})
	res := Reduce(Window(KeyBy(s, func(e event) string { return e.Key }, nil), assigner), "window", sumEvents, emitSum)
	SinkToFiles(res, "out", out, func(dst []byte, v string) []byte { return append(dst, v...) })
	return g
}

// TestWindowJob runs window jobs at parallelism 1 and 3 on both backends; results equal the
// model's.
func TestWindowJob(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	evs := windowEvents(seed, 3000)
	for _, kind := range windowKinds {
		want := modelWindows(evs, kind.assigner, kind.gap)
		for _, be := range windowBackends {
			for _, p := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/%s/p%d", kind.name, be.name, p), func(t *testing.T) {
					out := t.TempDir()
					j, err := Execute(context.Background(), windowGraph(&sliceSource{events: evs, splits: 4}, out, kind.assigner),
						Options{Parallelism: p, StateBackend: be.backend})
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
	}
}

// TestWindowJobLateData sends a record far behind the watermark through a job; it reaches
// the late side output. One split read in bursts makes its lateness deterministic.
func TestWindowJobLateData(t *testing.T) {
	var evs []event
	for i := range 1000 {
		evs = append(evs, event{Key: fmt.Sprint("k", i%5), Val: 1, TS: int64(i) * 10})
	}
	evs = append(evs, event{Key: "k0", Val: 1, TS: 5}) // more than a read burst after ts 5000
	out, late := t.TempDir(), t.TempDir()
	g := NewGraph()
	s := FromSource(g, "source", &sliceSource{events: evs, splits: 1}, WatermarkStrategy{OutOfOrderness: 100 * time.Millisecond}).SetParallelism(1)
	res := Reduce(Window(KeyBy(s, func(e event) string { return e.Key }, nil), TumblingEventTimeWindows(time.Second, 0)).
		SideOutputLateData("late"), "window", sumEvents, emitSum)
	SinkToFiles(res, "out", out, func(dst []byte, v string) []byte { return append(dst, v...) })
	SinkToFiles(SideOutput[event](res, "late"), "late", late, func(dst []byte, e event) []byte {
		return fmt.Appendf(dst, "%s %d", e.Key, e.TS)
	})
	j, err := Execute(context.Background(), g, Options{StateBackend: heapBackend, Parallelism: 3, AutoWatermarkInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	compareLines(t, readOutput(t, out), modelWindows(evs[:1000], TumblingEventTimeWindows(time.Second, 0), 0))
	compareLines(t, readOutput(t, late), []string{"k0 5"})
}

// TestWindowStopWithSavepointRescale stops window jobs with a savepoint in the middle and
// restores them at another parallelism on the other backend; the exactly-once file sink's
// output equals the model's.
func TestWindowStopWithSavepointRescale(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	evs := windowEvents(seed, 3000)
	for _, kind := range windowKinds {
		if kind.name == "sliding" {
			continue
		}
		t.Run(kind.name, func(t *testing.T) {
			out, cpDir, spDir := t.TempDir(), t.TempDir(), t.TempDir()
			// The source stops at a third of its events until the savepoint has stopped the job.
			gate := newReadGate(int64(len(evs) / 3))
			src := &sliceSource{events: evs, splits: 4, gate: gate}
			j, err := Execute(context.Background(), windowGraph(src, out, kind.assigner), Options{StateBackend: heapBackend, Parallelism: 2,
				Checkpoints: openCheckpoints(t, cpDir), Checkpointing: CheckpointConfig{Interval: 10 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			awaitRead(t, j, gate, int64(len(evs)/3))
			st, err := blobstore.OpenURL(context.Background(), "file://"+spDir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := j.TriggerSavepoint(context.Background(), st, spDir, true); err != nil {
				t.Fatal(err)
			}
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			m, r, err := checkpoint.LoadSavepoint(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			j, err = Execute(context.Background(), windowGraph(&sliceSource{events: evs, splits: 4}, out, kind.assigner),
				Options{Parallelism: 3, StateBackend: lsmBackend, Restore: Restore{Metadata: m, Reader: r}})
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			compareLines(t, readOutput(t, out), modelWindows(evs, kind.assigner, kind.gap))
		})
	}
}

// miniBatchKinds are the windows MiniBatch takes: by window, and sliding windows by slice
// (the slice is the slide, or the gcd of size and slide).
var miniBatchKinds = []struct {
	name     string
	assigner WindowAssigner
	slicing  bool
}{
	{"tumbling", windowKinds[0].assigner, false},
	{"sliding", windowKinds[1].assigner, false},
	{"sliding-sliced", windowKinds[1].assigner, true},
	{"sliding-gcd-sliced", SlidingEventTimeWindows(50*time.Millisecond, 20*time.Millisecond, 5*time.Millisecond), true},
}

// miniBatchWindow is the windowed sum of the mini-batch tests.
func miniBatchWindow(s *Stream[event], assigner WindowAssigner, size int, slicing bool) *Stream[string] {
	ws := Window(KeyBy(s, func(e event) string { return e.Key }, nil), assigner).MiniBatch(size)
	if slicing {
		ws = ws.Slicing()
	}
	return Reduce(ws, "window", sumEvents, emitSum)
}

// TestWindowMiniBatch: pre-aggregating in memory gives the results of the plain operator, on
// both backends, with a batch small enough to spill between watermarks and one that never
// spills.
func TestWindowMiniBatch(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	evs := windowEvents(seed, 3000)
	for _, kind := range miniBatchKinds {
		want := modelWindows(evs, kind.assigner, 0)
		for _, be := range windowBackends {
			for _, size := range []int{3, 10000} {
				t.Run(fmt.Sprintf("%s/%s/size%d", kind.name, be.name, size), func(t *testing.T) {
					out := t.TempDir()
					g := NewGraph()
					s := FromSource(g, "source", &sliceSource{events: evs, splits: 4}, WatermarkStrategy{OutOfOrderness: 100 * time.Millisecond})
					SinkToFiles(miniBatchWindow(s, kind.assigner, size, kind.slicing), "out", out, func(dst []byte, v string) []byte { return append(dst, v...) })
					j, err := Execute(context.Background(), g, Options{Parallelism: 2, StateBackend: be.backend})
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
	}
}

// TestWindowMiniBatchCrash cancels a mini-batch window job mid-run several times and resumes
// it from its checkpoints at another parallelism, on both backends: each checkpoint must hold
// the pending batch, and a restored subtask must take back exactly its key groups' values.
func TestWindowMiniBatchCrash(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	evs := windowEvents(seed, 4000)
	for _, kind := range miniBatchKinds[1:3] {
		for _, be := range windowBackends {
			for _, size := range []int{50, 1000} { // spills to state between checkpoints, or not
				t.Run(fmt.Sprintf("%s/%s/size%d", kind.name, be.name, size), func(t *testing.T) {
					out, cpDir := t.TempDir(), t.TempDir()
					gate := newReadGate(0)
					crashAndResume(t, []int{2, 3, 1, 2}, gate, len(evs), func(p int, onCheckpoint func(CheckpointStats)) (*Job, error) {
						g := NewGraph()
						s := FromSource(g, "source", &sliceSource{events: evs, splits: 4, gate: gate}, WatermarkStrategy{OutOfOrderness: 100 * time.Millisecond})
						SinkToFiles(miniBatchWindow(s, kind.assigner, size, kind.slicing), "out", out, func(dst []byte, v string) []byte { return append(dst, v...) })
						return Execute(context.Background(), g, Options{Parallelism: p, StateBackend: be.backend, Checkpoints: openCheckpoints(t, cpDir),
							Checkpointing: CheckpointConfig{Interval: 15 * time.Millisecond}, Restore: Restore{Latest: true}, OnCheckpoint: onCheckpoint})
					})
					compareLines(t, readOutput(t, out), modelWindows(evs, kind.assigner, 0))
				})
			}
		}
	}
}

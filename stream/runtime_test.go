package stream

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
)

// event is the record type of the runtime tests.
type event struct {
	Key string
	Val int64
	TS  int64
}

// sliceSource serves records from a slice, split round robin into n splits; each split's
// timestamps are ascending when the slice's are. gate, if set, paces the reads so that
// checkpoints, savepoints and crashes fall in the middle of a run.
type sliceSource struct {
	events []event
	splits int
	gate   *readGate
}

func (s *sliceSource) NumSplits() int { return s.splits }

func (s *sliceSource) OpenSplit(split int, pos int64) (SplitReader[event], error) {
	return &sliceReader{s: s, split: split, pos: pos}, nil
}

type sliceReader struct {
	s     *sliceSource
	split int
	pos   int64 // index of the next record within the split
}

func (r *sliceReader) Next() (event, int64, ReadStatus, error) {
	i := int(r.pos)*r.s.splits + r.split
	if i >= len(r.s.events) {
		return event{}, 0, Done, nil
	}
	if r.s.gate != nil && !r.s.gate.take() {
		return event{}, 0, NoData, nil
	}
	r.pos++
	e := r.s.events[i]
	return e, e.TS, Record, nil
}

func (r *sliceReader) Position() int64 { return r.pos }

// testEvents returns n events over keys keys; with keys a multiple of the splits, all events
// of a key are in one split, in order, so per-key results do not depend on interleaving.
func testEvents(n, keys int) []event {
	evs := make([]event, n)
	for i := range evs {
		evs[i] = event{Key: "k" + strconv.Itoa(i*7%keys), Val: int64(i % 13), TS: int64(i) * 10}
	}
	return evs
}

// runningSum emits, for every record, the key's running sum so far: its output depends on
// exactly-once state.
type runningSum struct{ sum state.ValueState[int64] }

func (f *runningSum) Open(ctx *RuntimeContext[string]) error {
	var err error
	f.sum, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int64]{Name: "sum"})
	return err
}

func (f *runningSum) ProcessElement(e event, ctx *Context[string, string]) error {
	s, _, err := f.sum.Value()
	if err != nil {
		return err
	}
	s += e.Val
	if err := f.sum.Update(s); err != nil {
		return err
	}
	return ctx.Collect(fmt.Sprintf("%s %d %d", e.Key, e.TS, s))
}

func (f *runningSum) OnTimer(int64, *Context[string, string]) error { return nil }

func sumGraph(src *sliceSource, out string) *Graph {
	g := NewGraph()
	s := FromSource(g, "source", src, WatermarkStrategy{})
	sums := Process(KeyBy(s, func(e event) string { return e.Key }, nil), "sums",
		func() KeyedProcessFunction[string, event, string] { return &runningSum{} })
	SinkToFiles(sums, "out", out, func(dst []byte, v string) []byte { return append(dst, v...) })
	return g
}

// wantSums is the model of sumGraph's output.
func wantSums(evs []event) []string {
	sums := map[string]int64{}
	var lines []string
	for _, e := range evs {
		sums[e.Key] += e.Val
		lines = append(lines, fmt.Sprintf("%s %d %d", e.Key, e.TS, sums[e.Key]))
	}
	slices.Sort(lines)
	return lines
}

// readOutput returns the lines of the published files in dir, sorted.
func readOutput(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := CommittedLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

func compareLines(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("output has %d lines, want %d", len(got), len(want))
	gm := map[string]int{}
	for _, l := range got {
		gm[l]++
	}
	shown := 0
	for _, l := range want {
		if gm[l] == 0 && shown < 5 {
			t.Errorf("missing: %q", l)
			shown++
		}
		gm[l]--
	}
	for l, n := range gm {
		if n > 0 && shown < 10 {
			t.Errorf("extra (%d×): %q", n, l)
			shown++
		}
	}
}

// heapBackend and lsmBackend are the state backends of the tests: the hashmap backend, and
// the lsm backend with its default options (full checkpoints, memory of its own).
var (
	heapBackend backend.StateBackend = &heap.StateBackend{}
	lsmBackend                       = newLSMBackend(lsm.Options{})
)

// keyedFunc is a state backend whose keyed backends come from a function, for tests that
// wrap or capture the backends; its operator backends are the operator package's.
type keyedFunc func(ctx context.Context, opts backend.Options) (backend.Keyed, error)

func (keyedFunc) Name() string { return "test" }
func (f keyedFunc) CreateKeyedBackend(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
	return f(ctx, opts)
}
func (keyedFunc) CreateOperatorBackend(ctx context.Context, opts backend.OperatorOptions) (backend.Operator, error) {
	return operator.Create(ctx, opts, nil)
}
func (keyedFunc) Close() error { return nil }

// newLSMBackend returns an lsm state backend whose keyed backends have the settings of o.
func newLSMBackend(o lsm.Options) backend.StateBackend {
	f, err := lsm.NewStateBackend(lsm.Config{Options: o}, 0, 0)
	if err != nil {
		panic(err) // without a memory budget there is nothing that can fail
	}
	return f
}

func TestRunWithoutCheckpoints(t *testing.T) {
	evs := testEvents(5000, 48)
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprint("p", p), func(t *testing.T) {
			out := t.TempDir()
			j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, out), Options{StateBackend: heapBackend, Parallelism: p})
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			compareLines(t, readOutput(t, out), wantSums(evs))
			if got := j.Records(); got != int64(len(evs)) {
				t.Errorf("Records() = %d, want %d", got, len(evs))
			}
		})
	}
}

func openCheckpoints(t *testing.T, dir string) *checkpoint.Checkpoints {
	t.Helper()
	st, err := blobstore.OpenURL(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cps, err := checkpoint.Open(context.Background(), st, "job", checkpoint.Options{NumRetained: 2})
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// crashAndResume starts a job at each parallelism in turn; every run but the last is
// cancelled (as a crash would stop it) in the middle: once its source has read another twelfth
// of the total events, a checkpoint has completed after that, and the source has read another
// twelfth beyond it. So every run restores a checkpoint of the one before and replays what
// followed it, however fast the machine is. gate paces the source and starts closed
// (newReadGate(0)); start must call onCheckpoint from Options.OnCheckpoint. The last run
// reads to the end.
func crashAndResume(t *testing.T, parallelisms []int, gate *readGate, total int, start func(p int, onCheckpoint func(CheckpointStats)) (*Job, error)) {
	t.Helper()
	step := int64(max(total/12, 1))
	for attempt, p := range parallelisms {
		checkpointed := make(chan struct{}, 1)
		j, err := start(p, func(s CheckpointStats) {
			if s.Failed == nil {
				select {
				case checkpointed <- struct{}{}:
				default:
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if attempt == len(parallelisms)-1 {
			gate.open()
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			return
		}
		target := gate.count() + step
		gate.allow(step)
		awaitRead(t, j, gate, target)
		select {
		case <-checkpointed: // completed while the source read
		default:
		}
		select {
		case <-checkpointed:
		case <-j.Done():
			t.Fatalf("attempt %d: the job ended (%v) before a checkpoint completed", attempt, j.Wait())
		}
		target = gate.count() + step
		gate.allow(step)
		awaitRead(t, j, gate, target)
		j.Cancel()
		if err := j.Wait(); err != context.Canceled {
			t.Fatalf("attempt %d: Wait after Cancel = %v", attempt, err)
		}
	}
}

// TestCrashAndResume cancels a checkpointing job several times in the middle (as a crash
// would stop it: in-progress files and uncommitted state left behind) and resumes it from
// its latest checkpoint each time, at changing parallelism; the published output equals the
// model's.
func TestCrashAndResume(t *testing.T) {
	evs := testEvents(6000, 40)
	for _, tc := range []struct {
		name    string
		backend backend.StateBackend
	}{{"hashmap", heapBackend}, {"lsm", lsmBackend}} {
		t.Run(tc.name, func(t *testing.T) {
			out, cpDir := t.TempDir(), t.TempDir()
			gate := newReadGate(0)
			src := &sliceSource{events: evs, splits: 4, gate: gate}
			var completed atomic.Int64
			crashAndResume(t, []int{2, 3, 1, 2}, gate, len(evs), func(p int, onCheckpoint func(CheckpointStats)) (*Job, error) {
				opts := Options{Parallelism: p, StateBackend: tc.backend, Checkpoints: openCheckpoints(t, cpDir),
					Checkpointing: CheckpointConfig{Interval: 15 * time.Millisecond},
					Restore:       Restore{Latest: true},
					OnCheckpoint: func(s CheckpointStats) {
						if s.Failed == nil {
							completed.Add(1)
						}
						onCheckpoint(s)
					}}
				return Execute(context.Background(), sumGraph(src, out), opts)
			})
			// At least one per crashed run, and the last run's final checkpoint.
			if completed.Load() < 4 {
				t.Errorf("only %d checkpoints completed", completed.Load())
			}
			compareLines(t, readOutput(t, out), wantSums(evs))
		})
	}
}

// TestStopWithSavepointRescale stops a job with a savepoint, restores it at another
// parallelism and on the other backend, and gets the uninterrupted run's output.
func TestStopWithSavepointRescale(t *testing.T) {
	evs := testEvents(4000, 32)
	out := t.TempDir()
	j, stats, st := stopWithSavepoint(t, evs, out, heapBackend, backend.SavepointFormatCanonical)
	if !j.Stopped() || !stats.Savepoint {
		t.Fatalf("Stopped() = %v, stats %+v", j.Stopped(), stats)
	}
	// The savepoint's completion reached the sink before the job ended: what the savepoint
	// holds is published, without a restore.
	published, pending := readOutput(t, out), 0
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pending") {
			pending++
		}
	}
	if len(published) == 0 || pending != 0 {
		t.Errorf("after stop-with-savepoint: %d lines published, %d files still pending", len(published), pending)
	}
	m, r, err := checkpoint.LoadSavepoint(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if err := runSum(evs, out, lsmBackend, 3, m, r); err != nil {
		t.Fatal(err)
	}
	compareLines(t, readOutput(t, out), wantSums(evs))
}

// stopWithSavepoint runs the sum job over evs into out at parallelism 2 on sb, with
// checkpoints every 20 ms, and when a third of the events are read stops it with a savepoint
// of format. It returns the stopped job, the savepoint's stats and its storage.
func stopWithSavepoint(t *testing.T, evs []event, out string, sb backend.StateBackend, format backend.SavepointFormatType) (*Job, CheckpointStats, checkpoint.Storage) {
	t.Helper()
	cpDir, spDir := t.TempDir(), t.TempDir()
	// The source stops at a third of its events until the savepoint has stopped the job.
	gate := newReadGate(int64(len(evs) / 3))
	src := &sliceSource{events: evs, splits: 4, gate: gate}
	j, err := Execute(context.Background(), sumGraph(src, out), Options{StateBackend: sb, Parallelism: 2, Checkpoints: openCheckpoints(t, cpDir),
		Checkpointing: CheckpointConfig{Interval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	awaitRead(t, j, gate, int64(len(evs)/3))
	st, err := blobstore.OpenURL(context.Background(), "file://"+spDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	stats, err := j.TriggerSavepointFormat(context.Background(), st, spDir, true, format)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	return j, stats, st
}

// runSum runs the sum job over evs into out at parallelism p on sb, restored from m and r,
// to its end.
func runSum(evs []event, out string, sb backend.StateBackend, p int, m *snapshot.Metadata, r snapshot.Reader) error {
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, out), Options{Parallelism: p, StateBackend: sb,
		Restore: Restore{Metadata: m, Reader: r}})
	if err != nil {
		return err
	}
	return j.Wait()
}

package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// faultyCheckpoints opens the checkpoints of a job over a FaultStorage on a temp directory.
func faultyCheckpoints(t *testing.T) (*checkpoint.Checkpoints, *checkpointtest.FaultStorage) {
	t.Helper()
	st, err := blobstore.OpenURL(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := checkpointtest.NewFaultStorage(st)
	t.Cleanup(func() { fs.Close() })
	cps, err := checkpoint.Open(context.Background(), fs, "job", checkpoint.Options{NumRetained: 2})
	if err != nil {
		t.Fatal(err)
	}
	return cps, fs
}

// statsLog collects the checkpoint stats of a job.
type statsLog struct {
	mu sync.Mutex
	s  []CheckpointStats
}

func (l *statsLog) add(s CheckpointStats) {
	l.mu.Lock()
	l.s = append(l.s, s)
	l.mu.Unlock()
}

func (l *statsLog) get() (completed, failed []CheckpointStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.s {
		if s.Failed == nil {
			completed = append(completed, s)
		} else {
			failed = append(failed, s)
		}
	}
	return completed, failed
}

// TestFailedCheckpointsAreTolerated fails the files of some checkpoints: they are given up,
// leave no directory behind, the job goes on, later checkpoints complete, and the output is
// exactly once. The source reads a tenth of its events per checkpoint, so the run spans ten
// checkpoints on any machine.
func TestFailedCheckpointsAreTolerated(t *testing.T) {
	evs := testEvents(4000, 40)
	cps, fs := faultyCheckpoints(t)
	fs.FailNth(checkpointtest.OpCommit, "chk-2/", 1)
	fs.FailNth(checkpointtest.OpCreate, "chk-3/", 1)
	var log statsLog
	out := t.TempDir()
	gate := newReadGate(400)
	paced := gate.perCheckpoint(400)
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4, gate: gate}, out),
		Options{StateBackend: heapBackend, Parallelism: 2, Checkpoints: cps, OnCheckpoint: func(s CheckpointStats) { log.add(s); paced(s) },
			Checkpointing: CheckpointConfig{Interval: 10 * time.Millisecond, TolerableFailures: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	completed, failed := log.get()
	if len(failed) != 2 || failed[0].ID != 2 || failed[1].ID != 3 {
		t.Errorf("failed checkpoints %+v, want 2 and 3", failed)
	}
	if len(completed) < 2 {
		t.Errorf("%d checkpoints completed", len(completed))
	}
	names, err := fs.Inner().List(context.Background(), "job/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n, "chk-2/") || strings.Contains(n, "chk-3/") {
			t.Errorf("a file of a failed checkpoint is left: %s", n)
		}
	}
	compareLines(t, readOutput(t, out), wantSums(evs))
}

// TestTooManyFailedCheckpointsFailTheJob: with no tolerance, a failed checkpoint fails the
// job with an error naming the setting. The source stops short of its end, so only the
// failure can end the job.
func TestTooManyFailedCheckpointsFailTheJob(t *testing.T) {
	cps, fs := faultyCheckpoints(t)
	fs.FailAlways(checkpointtest.OpCreate, "chk-")
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: testEvents(10000, 40), splits: 4, gate: newReadGate(1000)}, t.TempDir()),
		Options{StateBackend: heapBackend, Parallelism: 2, Checkpoints: cps, Checkpointing: CheckpointConfig{Interval: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	err = j.Wait()
	if err == nil || !strings.Contains(err.Error(), "tolerable-failed-checkpoints") || !errors.Is(err, checkpointtest.ErrInjected) {
		t.Fatalf("Wait = %v, want the tolerable-failed-checkpoints error wrapping the injected fault", err)
	}
}

// TestCheckpointTimeout: a checkpoint whose writes hang past the timeout is given up with an
// error naming the setting; once the storage recovers, checkpoints complete again. The timeout
// is long enough for a healthy checkpoint on a loaded machine under -race (50 ms was not: the
// checkpoints after the recovery expired too and exceeded the tolerance); the first one hangs
// until it expires, and the source reads a tenth of its events per checkpoint, so checkpoints
// follow the expired one whatever the machine's speed.
func TestCheckpointTimeout(t *testing.T) {
	evs := testEvents(6000, 40)
	cps, fs := faultyCheckpoints(t)
	fs.Slow(checkpointtest.OpCreate, "chk-", time.Hour)
	var log statsLog
	var expired atomic.Bool
	out := t.TempDir()
	gate := newReadGate(600)
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4, gate: gate}, out),
		Options{StateBackend: heapBackend, Parallelism: 2, Checkpoints: cps, OnCheckpoint: func(s CheckpointStats) {
			log.add(s)
			gate.allow(600)

			if s.Failed != nil && strings.Contains(s.Failed.Error(), "execution.checkpointing.timeout") && !expired.Swap(true) {
				fs.ClearFaults()
			}
		}, Checkpointing: CheckpointConfig{Interval: 10 * time.Millisecond, Timeout: time.Second, TolerableFailures: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	completed, failed := log.get()
	if !expired.Load() || len(failed) == 0 {
		t.Fatalf("no checkpoint expired: %+v", failed)
	}
	if len(completed) == 0 || completed[len(completed)-1].ID < failed[0].ID {
		t.Fatalf("no checkpoint completed after the timeout: completed %+v", completed)
	}
	compareLines(t, readOutput(t, out), wantSums(evs))
}

// TestMaxConcurrentCheckpoints: with several checkpoints in flight (their barriers align in
// order, completions arrive while later checkpoints run) and with one, the output stays
// exactly once across crashes. The concurrency rule itself is tested by the coordinator core's
// scripts (testdata/coordinator/concurrent); TestConcurrentCheckpointsBegin checks the driver
// lets checkpoints overlap.
func TestMaxConcurrentCheckpoints(t *testing.T) {
	evs := testEvents(6000, 40)
	for _, maxConcurrent := range []int{1, 3} {
		t.Run(fmt.Sprint(maxConcurrent), func(t *testing.T) {
			cps, fs := faultyCheckpoints(t)
			fs.Slow(checkpointtest.OpCreate, "chk-", 5*time.Millisecond)
			var completed atomic.Int64
			out := t.TempDir()
			gate := newReadGate(0)
			src := &sliceSource{events: evs, splits: 4, gate: gate}
			crashAndResume(t, []int{2, 3, 2}, gate, len(evs), func(p int, onCheckpoint func(CheckpointStats)) (*Job, error) {
				return Execute(context.Background(), sumGraph(src, out), Options{StateBackend: heapBackend, Parallelism: p, Checkpoints: cps,
					Restore: Restore{Latest: true},
					OnCheckpoint: func(s CheckpointStats) {
						if s.Failed == nil {
							completed.Add(1)
						}
						onCheckpoint(s)
					},
					Checkpointing: CheckpointConfig{Interval: 5 * time.Millisecond, MaxConcurrent: maxConcurrent}})
			})
			compareLines(t, readOutput(t, out), wantSums(evs))
			if completed.Load() == 0 {
				t.Fatal("no checkpoint completed")
			}
		})
	}
}

// gateStorage holds back the creates or deletes of the objects whose name contains a string
// until release is closed (or the caller's context ends), and reports every name created.
type gateStorage struct {
	checkpoint.Storage
	blockCreate, blockDelete string
	release                  chan struct{}
	created                  chan string
}

func newGateStorage(t *testing.T) *gateStorage {
	st, err := blobstore.OpenURL(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &gateStorage{Storage: st, release: make(chan struct{}), created: make(chan string, 1<<16)}
}

func (s *gateStorage) wait(ctx context.Context, name, block string) error {
	if block == "" || !strings.Contains(name, block) {
		return nil
	}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *gateStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	select {
	case s.created <- name:
	default:
	}
	if err := s.wait(ctx, name, s.blockCreate); err != nil {
		return nil, err
	}
	return s.Storage.Create(ctx, name, ifNotExist)
}

func (s *gateStorage) Delete(ctx context.Context, name string) error {
	if err := s.wait(ctx, name, s.blockDelete); err != nil {
		return err
	}
	return s.Storage.Delete(ctx, name)
}

// TestConcurrentCheckpointsBegin: with execution.checkpointing.max-concurrent-checkpoints 3,
// checkpoints 2 and 3 begin while checkpoint 1 cannot finish writing its files. The source
// stops short of its end, so the job runs until the test cancels it.
func TestConcurrentCheckpointsBegin(t *testing.T) {
	st := newGateStorage(t)
	st.blockCreate = "/chk-1/"
	cps, err := checkpoint.Open(context.Background(), st, "job", checkpoint.Options{NumRetained: 2})
	if err != nil {
		t.Fatal(err)
	}
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: testEvents(10000, 40), splits: 4, gate: newReadGate(1000)}, t.TempDir()),
		Options{StateBackend: heapBackend, Parallelism: 2, Checkpoints: cps, Checkpointing: CheckpointConfig{Interval: 5 * time.Millisecond, MaxConcurrent: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		j.Cancel()
		j.Wait()
	}()
	begun := map[string]bool{}
	bound := time.NewTimer(30 * time.Second) // a bound on a hang, not a timing assertion
	defer bound.Stop()
	for !begun["/chk-2/"] || !begun["/chk-3/"] {
		select {
		case name := <-st.created:
			for _, dir := range []string{"/chk-2/", "/chk-3/"} {
				if strings.Contains(name, dir) {
					begun[dir] = true
				}
			}
		case <-j.Done():
			t.Fatalf("the job ended (%v) before checkpoints 2 and 3 began", j.Wait())
		case <-bound.C:
			t.Fatalf("checkpoints 2 and 3 did not begin while 1 was held back: %v", begun)
		}
	}
	close(st.release)
}

// TestRetentionRunsOffTheEventLoop: while the deletes of retention hang, checkpoints go on
// completing; once they are released and the job stops, Wait returns with exactly the
// retained number of checkpoints left. The source stops short of its end, so the job runs
// until the test cancels it.
func TestRetentionRunsOffTheEventLoop(t *testing.T) {
	st := newGateStorage(t)
	st.blockDelete = "/chk-1/"
	cps, err := checkpoint.Open(context.Background(), st, "job", checkpoint.Options{NumRetained: 1})
	if err != nil {
		t.Fatal(err)
	}
	completed := make(chan int64, 1<<10)
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: testEvents(10000, 40), splits: 4, gate: newReadGate(1000)}, t.TempDir()),
		Options{StateBackend: heapBackend, Parallelism: 2, Checkpoints: cps, Checkpointing: CheckpointConfig{Interval: 5 * time.Millisecond},
			OnCheckpoint: func(s CheckpointStats) {
				if s.Failed == nil {
					select {
					case completed <- s.ID:
					default:
					}
				}
			}})
	if err != nil {
		t.Fatal(err)
	}
	bound := time.NewTimer(30 * time.Second) // a bound on a hang, not a timing assertion
	defer bound.Stop()
	for n := 0; n < 4; {
		select {
		case <-completed:
			n++
		case <-j.Done():
			t.Fatalf("the job ended (%v) before 4 checkpoints completed", j.Wait())
		case <-bound.C:
			close(st.release)
			j.Cancel()
			j.Wait()
			t.Fatalf("only %d checkpoints completed while the retention of checkpoint 1 hung", n)
		}
	}
	close(st.release)
	j.Cancel()
	if err := j.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	names, err := st.List(context.Background(), "job/chk-")
	if err != nil {
		t.Fatal(err)
	}
	var metas []string
	for _, n := range names {
		if strings.HasSuffix(n, "/"+snapshot.MetadataName) {
			metas = append(metas, n)
		}
	}
	if len(metas) != 1 {
		t.Errorf("%d complete checkpoints left after the job stopped, want 1 (state.checkpoints.num-retained): %v", len(metas), metas)
	}
}

// lateStorage makes a checkpoint's files outlive the checkpoint. The first create of a file of
// checkpoint dir fails (so its subtask declines the checkpoint and the coordinator gives it
// up) once another file of it is being written; the first write of every other file waits
// for release, past the asynchronous phase's checks of its context, as an upload already on
// its way would, and the write goes on with a context the give-up does not cancel.
type lateStorage struct {
	checkpoint.Storage
	dir      string
	creates  atomic.Int32
	held     atomic.Int32 // writes that waited for release
	heldOne  chan struct{}
	heldOnce sync.Once
	release  chan struct{}
}

func (s *lateStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	if !strings.Contains(name, s.dir) {
		return s.Storage.Create(ctx, name, ifNotExist)
	}
	if s.creates.Add(1) == 1 {
		<-s.heldOne
		return nil, fmt.Errorf("create %s: %w", name, checkpointtest.ErrInjected)
	}
	w, err := s.Storage.Create(context.WithoutCancel(ctx), name, ifNotExist)
	if err != nil {
		return nil, err
	}
	return &lateWriter{Writer: w, s: s}, nil
}

type lateWriter struct {
	checkpoint.Writer
	s     *lateStorage
	wrote bool
}

func (w *lateWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
		w.s.held.Add(1)
		w.s.heldOnce.Do(func() { close(w.s.heldOne) })
		<-w.s.release
	}
	return w.Writer.Write(b)
}

// TestGivenUpCheckpointIsSafe: subtasks still write their snapshots of checkpoint 1 after the
// coordinator gave it up (a subtask declined it). Those files never stay (the asynchronous
// phase sees its barrier's context done, and checkpoint.Pending discards a file committed after
// the abort), the late acknowledgements are ignored (checkpoint 1 is recorded once, as failed,
// and fails nothing else), later checkpoints complete, and the output is exactly once. No
// timeout is involved: the decline gives the checkpoint up, and the held writes go on when the
// test sees it recorded.
func TestGivenUpCheckpointIsSafe(t *testing.T) {
	base, err := blobstore.OpenURL(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close() })
	st := &lateStorage{Storage: base, dir: "/chk-1/", heldOne: make(chan struct{}), release: make(chan struct{})}
	cps, err := checkpoint.Open(context.Background(), st, "job", checkpoint.Options{NumRetained: 2})
	if err != nil {
		t.Fatal(err)
	}
	evs := testEvents(4000, 40)
	gate := newReadGate(400)
	var log statsLog
	givenUp := make(chan struct{})
	out := t.TempDir()
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4, gate: gate}, out),
		Options{StateBackend: heapBackend, Parallelism: 2, Checkpoints: cps, Checkpointing: CheckpointConfig{Interval: 5 * time.Millisecond, TolerableFailures: 1},
			OnCheckpoint: func(s CheckpointStats) {
				log.add(s)
				if s.ID == 1 {
					close(givenUp)
				}
				gate.allow(400)
			}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-givenUp:
		close(st.release)
	case <-time.After(time.Minute): // a bound on a hang, not a timing assertion
		close(st.release)
		j.Cancel()
		t.Fatalf("checkpoint 1 was not given up: %v", j.Wait())
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	completed, failed := log.get()
	if len(failed) != 1 || failed[0].ID != 1 || !errors.Is(failed[0].Failed, checkpointtest.ErrInjected) {
		t.Fatalf("failed checkpoints %+v, want checkpoint 1, declined with the injected fault", failed)
	}
	if len(completed) == 0 || completed[0].ID < 2 {
		t.Fatalf("completed checkpoints %+v, want some after checkpoint 1", completed)
	}
	if st.held.Load() == 0 {
		t.Fatal("no subtask wrote a file of checkpoint 1 after it was given up: the test did not reach its case")
	}
	names, err := base.List(context.Background(), "job/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n, "/chk-1/") {
			t.Errorf("a file of the given-up checkpoint 1 is left: %s", n)
		}
	}
	compareLines(t, readOutput(t, out), wantSums(evs))
}

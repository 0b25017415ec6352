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
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
)

// faultyCheckpoints opens the checkpoints of a job over a FaultStorage on a temp directory.
func faultyCheckpoints(t *testing.T) (*checkpoint.Checkpoints, *checkpointtest.FaultStorage) {
	t.Helper()
	st, err := checkpoint.OpenURL(context.Background(), "file://"+t.TempDir())
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
// exactly once.
func TestFailedCheckpointsAreTolerated(t *testing.T) {
	evs := testEvents(4000, 40)
	cps, fs := faultyCheckpoints(t)
	fs.FailNth(checkpointtest.OpCommit, "chk-2/", 1)
	fs.FailNth(checkpointtest.OpCreate, "chk-3/", 1)
	var log statsLog
	out := t.TempDir()
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4, delay: 20 * time.Microsecond}, out),
		Options{Parallelism: 2, Checkpoints: cps, OnCheckpoint: log.add,
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
// job with an error naming the setting.
func TestTooManyFailedCheckpointsFailTheJob(t *testing.T) {
	cps, fs := faultyCheckpoints(t)
	fs.FailAlways(checkpointtest.OpCreate, "chk-")
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: testEvents(100000, 40), splits: 4, delay: 20 * time.Microsecond}, t.TempDir()),
		Options{Parallelism: 2, Checkpoints: cps, Checkpointing: CheckpointConfig{Interval: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	err = j.Wait()
	if err == nil || !strings.Contains(err.Error(), "tolerable-failed-checkpoints") || !errors.Is(err, checkpointtest.ErrInjected) {
		t.Fatalf("Wait = %v, want the tolerable-failed-checkpoints error wrapping the injected fault", err)
	}
}

// TestCheckpointTimeout: a checkpoint whose writes hang past the timeout is given up with an
// error naming the setting; once the storage recovers, checkpoints complete again.
func TestCheckpointTimeout(t *testing.T) {
	evs := testEvents(6000, 40)
	cps, fs := faultyCheckpoints(t)
	fs.Slow(checkpointtest.OpCreate, "chk-", time.Hour)
	var log statsLog
	var expired atomic.Bool
	out := t.TempDir()
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4, delay: 30 * time.Microsecond}, out),
		Options{Parallelism: 2, Checkpoints: cps, OnCheckpoint: func(s CheckpointStats) {
			log.add(s)

			if s.Failed != nil && strings.Contains(s.Failed.Error(), "execution.checkpointing.timeout") && !expired.Swap(true) {
				fs.ClearFaults()
			}
		}, Checkpointing: CheckpointConfig{Interval: 10 * time.Millisecond, Timeout: 50 * time.Millisecond, TolerableFailures: 3}})
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

// TestMaxConcurrentCheckpoints: with slow checkpoint storage, up to
// execution.checkpointing.max-concurrent-checkpoints checkpoints overlap (and with 1, none
// does); barriers of overlapping checkpoints align in order, completions may arrive while a
// later checkpoint is in flight, and the output stays exactly once across crashes.
func TestMaxConcurrentCheckpoints(t *testing.T) {
	evs := testEvents(6000, 40)
	for _, maxConcurrent := range []int{1, 3} {
		t.Run(fmt.Sprint(maxConcurrent), func(t *testing.T) {
			cps, fs := faultyCheckpoints(t)
			fs.Slow(checkpointtest.OpCreate, "chk-", 25*time.Millisecond)
			type span struct{ start, end time.Time }
			var mu sync.Mutex
			var spans []span
			out := t.TempDir()
			var read atomic.Int64
			src := &sliceSource{events: evs, splits: 4, delay: 30 * time.Microsecond, read: &read}
			crashAndResume(t, []int{2, 3, 2}, &read, len(evs), func(p int) (*Job, error) {
				return Execute(context.Background(), sumGraph(src, out), Options{Parallelism: p, Checkpoints: cps,
					Restore: Restore{Latest: true},
					OnCheckpoint: func(s CheckpointStats) {
						if s.Failed == nil {
							now := time.Now()
							mu.Lock()
							spans = append(spans, span{now.Add(-s.Duration), now})
							mu.Unlock()
						}
					},
					Checkpointing: CheckpointConfig{Interval: 5 * time.Millisecond, MaxConcurrent: maxConcurrent}})
			})
			compareLines(t, readOutput(t, out), wantSums(evs))
			mu.Lock()
			defer mu.Unlock()
			overlaps := 0
			for i := 1; i < len(spans); i++ {
				if spans[i].start.Before(spans[i-1].end) {
					overlaps++
				}
			}
			t.Logf("%d checkpoints completed, %d overlapping the one before", len(spans), overlaps)
			if len(spans) < 3 {
				t.Fatalf("only %d checkpoints completed", len(spans))
			}
			if maxConcurrent == 1 && overlaps > 0 || maxConcurrent > 1 && overlaps == 0 {
				t.Errorf("max concurrent %d: %d of %d checkpoints overlapped the one before", maxConcurrent, overlaps, len(spans))
			}
		})
	}
}

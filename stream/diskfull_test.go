package stream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
)

// TestFullLSMDiskFailsJob: when the disk of the lsm working directories fills during a run
// with incremental checkpoints, the job fails with an error naming the working directory and
// the fix. Before, Pebble's failed flush was retried forever, its errors went to a discarded
// logger, and the checkpoint's synchronous flush held the task forever. The disk fills once
// the source has read 2000 records (it waits there until then); the minute is only a bound on
// a hang: the job fails as soon as the backend reports its failure (TestWatchdog tests how the
// runtime acts on that signal).
func TestFullLSMDiskFailsJob(t *testing.T) {
	var full atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if full.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
		return nil
	}))
	root := t.TempDir()
	backend := keyedFunc(func(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
		return lsm.New(ctx, lsm.Options{Options: opts, Dir: root, FS: fs, Incremental: true})
	})
	gate := newReadGate(2000)
	evs := testEvents(200_000, 40)
	src := &sliceSource{events: evs, splits: 4, gate: gate}
	j, err := Execute(context.Background(), sumGraph(src, t.TempDir()), Options{Parallelism: 2, StateBackend: backend,
		Checkpoints: openCheckpoints(t, t.TempDir()), Checkpointing: CheckpointConfig{Interval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	awaitRead(t, j, gate, 2000)
	full.Store(true)
	gate.open()
	done := make(chan error, 1)
	go func() { done <- j.Wait() }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the job hangs on a full disk")
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), root) || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("job error = %v; want ENOSPC naming a working directory in %s and the fix", err, root)
	}
}

// TestFullLSMManifestFailsJob: the full-disk case Pebble cannot end. The MANIFEST write of the
// first flush fails after the task has filled every memtable: Pebble stalls the task's commit
// for good (lsm.Backend.Stalled), and Close would block on it too. The job still fails with an
// error naming the working directory and the fix, from the backend's failure signal, and ends
// without the stuck task (its goroutine is left, logged) once the watchdog's grace has passed.
// Before, Job.Wait never returned: it waited for the task's goroutine. The order is made by
// events, not time: the disk fills once the source has read 2000 records, and the MANIFEST
// write is held until Pebble reports the task's write stall; the minute is only a bound on a
// hang.
func TestFullLSMManifestFailsJob(t *testing.T) {
	var full atomic.Bool
	stalled := make(chan struct{}) // closed at Pebble's first write stall after the disk filled
	var stallOnce sync.Once
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if full.Load() && strings.Contains(filepath.Base(op.Path), "MANIFEST") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			// The flush waits here while the task fills both memtables and stalls.
			select {
			case <-stalled:
			case <-time.After(time.Minute): // a bound on a hang: Stalled() is checked below
			}
			return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
		return nil
	}))
	stallHook := func(po *pebble.Options) {
		po.EventListener = new(pebble.TeeEventListener(*po.EventListener, pebble.EventListener{
			WriteStallBegin: func(pebble.WriteStallBeginInfo) {
				if full.Load() {
					stallOnce.Do(func() { close(stalled) })
				}
			},
		}))
	}
	root := t.TempDir()
	log := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	var mu sync.Mutex
	var backends []*lsm.Backend
	backend := keyedFunc(func(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
		b, err := lsm.New(ctx, lsm.Options{Options: opts, Dir: root, FS: fs, Logger: logger,
			WriteBufferSize: 64 << 10, WriteBufferCount: 2, OptionsHook: stallHook})
		if err == nil {
			mu.Lock()
			backends = append(backends, b)
			mu.Unlock()
		}
		return b, err
	})
	gate := newReadGate(2000)
	evs := testEvents(1_000_000, 40)
	src := &sliceSource{events: evs, splits: 1, gate: gate}
	j, err := Execute(context.Background(), sumGraph(src, t.TempDir()), Options{Parallelism: 1, StateBackend: backend,
		Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	awaitRead(t, j, gate, 2000)
	full.Store(true)
	gate.open()
	done := make(chan error, 1)
	go func() { done <- j.Wait() }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("the job hangs on a failed MANIFEST write; log:\n%.3000s", log)
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), root) ||
		!strings.Contains(err.Error(), "free space") || !strings.Contains(err.Error(), "MANIFEST") {
		t.Fatalf("job error = %v; want ENOSPC of the MANIFEST naming a working directory in %s and the fix", err, root)
	}
	// The case was reached: the task is still stuck in Pebble's stall, and the log says the job
	// ended without it.
	mu.Lock()
	b := backends[0]
	mu.Unlock()
	if !b.Stalled() {
		t.Fatalf("the backend is not stalled: the test did not reach the stall Pebble cannot end; log:\n%.5000s", log)
	}
	if !strings.Contains(log.String(), "stuck in its failed state backend") {
		t.Errorf("the log does not say the job ended without the stuck task:\n%.3000s", log)
	}
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

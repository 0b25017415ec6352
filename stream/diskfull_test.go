package stream

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/state"
)

// TestFullLSMDiskFailsJob: when the disk of the lsm working directories fills during a run
// with incremental checkpoints, the job fails within seconds with an error naming the working
// directory and the fix. Before, Pebble's failed flush was retried forever, its errors went to
// a discarded logger, and the checkpoint's synchronous flush held the task forever.
func TestFullLSMDiskFailsJob(t *testing.T) {
	var full atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if full.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
		return nil
	}))
	root := t.TempDir()
	backend := func(ctx context.Context, opts state.BackendOptions) (state.KeyedStateBackend, error) {
		return lsm.New(ctx, lsm.Options{BackendOptions: opts, Dir: root, FS: fs, Incremental: true})
	}
	var read atomic.Int64
	evs := testEvents(200_000, 40)
	src := &sliceSource{events: evs, splits: 4, delay: 20 * time.Microsecond, read: &read}
	j, err := Execute(context.Background(), sumGraph(src, t.TempDir()), Options{Parallelism: 2, Backend: backend,
		Checkpoints: openCheckpoints(t, t.TempDir()), Checkpointing: CheckpointConfig{Interval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	for read.Load() < 2000 {
		time.Sleep(time.Millisecond)
	}
	full.Store(true)
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- j.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the job hangs on a full disk")
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("the job failed %v after the disk filled", elapsed)
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), root) || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("job error = %v; want ENOSPC naming a working directory in %s and the fix", err, root)
	}
}

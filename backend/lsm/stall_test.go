package lsm_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// slowFullManifest is an errorfs injector: once on, every write of a MANIFEST fails with
// ENOSPC after delay, so that the task fills every memtable before Pebble sees the failure.
type slowFullManifest struct {
	on    atomic.Bool
	delay time.Duration
}

func (d *slowFullManifest) MaybeError(op errorfs.Op) error {
	if !d.on.Load() || !strings.Contains(filepath.Base(op.Path), "MANIFEST") {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpCreate:
		time.Sleep(d.delay)
		return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
	}
	return nil
}

func (d *slowFullManifest) String() string { return "slow full manifest" }

// TestManifestFailureStallsForGood: the one full-disk case the backend cannot end. A MANIFEST
// write fails after the task has filled every memtable: Pebble stalls the task's commit, fails
// every later flush (its MANIFEST writer keeps the error) and never ends the stall, and
// nothing in its API can (DB.Close would block too). The backend must still report the
// failure within seconds, from Pebble's goroutines (Failed, Err), and tell that the task is
// stuck in it (Stalled), so the runtime can fail the job without the task's goroutine
// (stream's TestFullLSMManifestFailsJob). The stalled goroutine and database are leaked until
// the test binary exits: Pebble gives no way to reclaim them. If the writes ever return, the
// test no longer reaches the stall (a Pebble that can end it) and says so.
func TestManifestFailureStallsForGood(t *testing.T) {
	disk := &slowFullManifest{delay: 200 * time.Millisecond}
	log := &syncBuffer{}
	opts := faultOptions(t, nil, nil)
	opts.WriteBufferSize = 64 << 10
	opts.WriteBufferCount = 2
	opts.FS = errorfs.Wrap(vfs.Default, disk)
	opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	b, err := lsm.New(context.Background(), opts) // never closed: Close would block on the stall
	must(t, err)
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[string]{Name: "v"})
	must(t, err)
	if b.Stalled() || b.Err() != nil {
		t.Fatalf("a fresh backend is stalled (%v) or failed (%v)", b.Stalled(), b.Err())
	}

	disk.on.Store(true)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		// Far more than the two 64 KiB memtables hold: the commits reach the stall before the
		// first flush's MANIFEST write fails (200 ms).
		val := strings.Repeat("y", 100)
		for k := int64(0); k < 1_000_000; k++ {
			if err := kb.SetCurrentKey(k); err != nil {
				done <- err
				return
			}
			if err := v.Update(val); err != nil {
				done <- err
				return
			}
		}
		done <- errors.New("a million writes went through a full disk")
	}()

	select {
	case <-b.Failed():
	case err := <-done:
		t.Fatalf("the writes returned (%v) before the backend failed: the test does not reach the stall", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("the backend did not report the failed MANIFEST write; log:\n%.3000s", log)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("the failure was reported after %v", elapsed)
	}
	err = b.Err()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), b.WorkingDir()) ||
		!strings.Contains(err.Error(), "free space") || !strings.Contains(err.Error(), "MANIFEST") {
		t.Fatalf("Err() = %v; want ENOSPC of the MANIFEST naming %s and the fix", err, b.WorkingDir())
	}
	// The task's goroutine is stuck in Pebble's stall, and stays there although Pebble keeps
	// retrying the flush.
	deadline := time.Now().Add(10 * time.Second)
	for !b.Stalled() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the writes returned (%v): the test no longer reaches Pebble's permanent stall", err)
	case <-time.After(time.Second):
	}
	if !b.Stalled() {
		t.Fatal("Stalled() = false while the task's commit waits in Pebble's write stall")
	}
	if !strings.Contains(log.String(), "no space left on device") {
		t.Errorf("the logger did not get Pebble's failure:\n%s", log)
	}
}

package lsm_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// TestFailedWriteSticks: when the disk fails a write of the database while the task's writes
// are batched, those writes are lost with the database, so the next read returns the
// failure, and every later call and every checkpoint fails with it, also once the disk works
// again; the last completed checkpoint still restores the state from before the failure.
// With the WAL off a commit does no IO (writes.go): the write the disk fails is a memtable
// flush, here the creation of its table file on a full disk, injected with errorfs on an
// in-memory filesystem.
func TestFailedWriteSticks(t *testing.T) {
	for _, incremental := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "incremental"}[incremental], func(t *testing.T) {
			j := newJob(t, 1)
			disk := &fullDisk{match: func(p string) bool { return strings.HasSuffix(p, ".sst") }}
			open := func(fs vfs.FS, restore []*snapshot.KeyedStateHandle) (*lsm.Backend, *state.KeyedBackend[int64], state.ValueState[string]) {
				opts := faultOptions(t, restore, j.cps.Reader())
				opts.Dir, opts.FS, opts.Incremental = "/lsm", fs, incremental
				b, kb, v, err := openValue(t, opts)
				must(t, err)
				return b, kb, v
			}
			update := func(kb *state.KeyedBackend[int64], v state.ValueState[string], from, to int64, val string) {
				for k := from; k < to; k++ {
					must(t, kb.SetCurrentKey(k))
					must(t, v.Update(val))
				}
			}
			b, kb, v := open(errorfs.Wrap(vfs.NewMem(), disk), nil)
			update(kb, v, 0, 10, "before")
			h := j.checkpoint(t, b, 1, true)
			update(kb, v, 10, 20, "in the memtable")
			must(t, b.CommitWrites())
			update(kb, v, 0, 10, "batched") // not yet committed

			disk.on.Store(true)
			if _, err := committed(t, b).AsyncFlush(); err != nil {
				t.Fatalf("starting a flush: %v", err)
			}
			select {
			case <-b.Failed():
			case <-time.After(30 * time.Second):
				t.Fatal("the failed flush was not recorded")
			}
			must(t, kb.SetCurrentKey(3))
			_, _, err := v.Value()
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "last completed checkpoint") {
				t.Fatalf("read after a failed write = %v, want the disk's error and the fix", err)
			}
			disk.on.Store(false) // the disk works again; the lost writes stay lost
			if err := v.Update("after"); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("write after a failed write = %v, want the disk's error", err)
			}
			if _, _, err := v.Value(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("second read after a failed write = %v, want the disk's error", err)
			}
			if _, err := b.Snapshot(2, backend.SnapshotOptions{}); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("checkpoint after a failed write = %v, want the disk's error", err)
			}
			must(t, b.Close())

			_, kb2, v2 := open(vfs.NewMem(), []*snapshot.KeyedStateHandle{h})
			for k := int64(0); k < 20; k++ {
				must(t, kb2.SetCurrentKey(k))
				got, ok, err := v2.Value()
				if want := k < 10; err != nil || ok != want || (want && got != "before") {
					t.Fatalf("key %d restored from checkpoint 1 = %q, %v, %v; want before: %v", k, got, ok, err, want)
				}
			}
		})
	}
}

// TestBatchBelowLargeBatchThreshold: a full batch stays below Pebble's large-batch threshold
// (half a memtable) even for the smallest memtables a slot gives a backend.
func TestBatchBelowLargeBatchThreshold(t *testing.T) {
	for _, size := range []int64{256 << 10, 1 << 20, 4 << 20, 64 << 20} {
		b, err := lsm.New(context.Background(), lsm.Options{Options: backend.Options{OperatorID: "op",
			MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID()},
			Dir: t.TempDir(), WriteBufferSize: size})
		must(t, err)
		if got := b.BatchBytes(); got <= 0 || int64(got) > size/4 || got > 256<<10 {
			t.Errorf("memtables of %d bytes: batches of %d bytes, want at most a quarter memtable and 256 KiB", size, got)
		}
		must(t, b.Close())
	}
}

package lsm_test

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

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// syncBuffer is a log destination safe for Pebble's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const faultKeys = 20000

// fillValues writes faultKeys values of 100 bytes under keys 0..faultKeys-1.
func fillValues(t *testing.T, kb *state.KeyedBackend[int64], v state.ValueState[string]) {
	t.Helper()
	val := strings.Repeat("x", 100)
	for k := int64(0); k < faultKeys; k++ {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(val))
	}
}

// readAll reads every value written by fillValues and returns the first error.
func readAll(kb *state.KeyedBackend[int64], v state.ValueState[string]) error {
	for k := int64(0); k < faultKeys; k++ {
		if err := kb.SetCurrentKey(k); err != nil {
			return err
		}
		if _, _, err := v.Value(); err != nil {
			return err
		}
	}
	return nil
}

// flipMiddle flips a byte in the middle of the largest SST file in dir (a data block:
// index, filter and properties are at the end) and returns its path.
func flipMiddle(t *testing.T, dir string) string {
	t.Helper()
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	must(t, err)
	var path string
	var size int64
	for _, p := range ssts {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			path, size = p, fi.Size()
		}
	}
	if size < 64<<10 {
		t.Fatalf("no SST with data blocks in %s: %v", dir, ssts)
	}
	b, err := os.ReadFile(path)
	must(t, err)
	b[len(b)/2] ^= 0xff
	must(t, os.WriteFile(path, b, 0o644))
	return path
}

func openValue(t *testing.T, opts lsm.Options) (*lsm.Backend, *state.KeyedBackend[int64], state.ValueState[string], error) {
	t.Helper()
	b, err := lsm.New(context.Background(), opts)
	if err != nil {
		return nil, nil, nil, err
	}
	t.Cleanup(func() { b.Close() })
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[string]{Name: "v"})
	must(t, err)
	return b, kb, v, nil
}

func faultOptions(t *testing.T, restore []*snapshot.KeyedStateHandle, r snapshot.Reader) lsm.Options {
	return lsm.Options{Options: backend.Options{OperatorID: "op", MaxParallelism: maxP,
		KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID(),
		Restore: restore, Reader: r}, Dir: t.TempDir()}
}

// TestCorruptSSTAtRunTime: a data block of the working directory damaged under a running
// backend makes the read that meets it fail with snapshot.ErrCorrupt naming the file (before:
// Pebble's DataCorruption handler called Fatalf, which panicked), and the failure sticks: the
// next write and the next checkpoint fail too, so no checkpoint of the damaged state completes.
func TestCorruptSSTAtRunTime(t *testing.T) {
	log := &syncBuffer{}
	opts := faultOptions(t, nil, nil)
	opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	b, kb, v, err := openValue(t, opts)
	must(t, err)
	fillValues(t, kb, v)
	must(t, committed(t, b).Flush())
	sst := flipMiddle(t, filepath.Join(b.WorkingDir(), "db"))

	err = readAll(kb, v)
	if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), sst) {
		t.Fatalf("read of a damaged block = %v, want ErrCorrupt naming %s", err, sst)
	}
	must(t, kb.SetCurrentKey(1))
	_ = v.Update("after") // batched: the commit reports the failure
	if err := b.CommitWrites(); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("commit after corruption = %v, want the sticky ErrCorrupt", err)
	}
	if _, err := b.Snapshot(1, backend.SnapshotOptions{}); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("checkpoint after corruption = %v, want the sticky ErrCorrupt", err)
	}
	if !strings.Contains(log.String(), "corrupt") {
		t.Errorf("the logger did not get the corruption:\n%s", log)
	}
	must(t, b.Close())
}

// TestCorruptSSTRestored: an incremental checkpoint whose stored SST has a damaged data block
// (a checkpoint written before stored files had checksums, or damage a checksum missed)
// restores into an error wrapping snapshot.ErrCorrupt that names the stored file — at
// restore or at the first read of the damaged block — never a panic.
func TestCorruptSSTRestored(t *testing.T) {
	j := newJob(t, 1)
	opts := faultOptions(t, nil, nil)
	opts.Incremental = true
	b, kb, v, err := openValue(t, opts)
	must(t, err)
	fillValues(t, kb, v)
	h := j.checkpoint(t, b, 1, true)
	must(t, b.Close())

	var sst snapshot.IncrementalFile
	for _, f := range h.Incremental.Shared {
		if f.Size > sst.Size {
			sst = f
		}
	}
	data, err := j.st.ReadRange(j.ctx, "job/"+sst.Path, 0, -1)
	must(t, err)
	data[len(data)/2] ^= 0xff
	w, err := j.st.Create(j.ctx, "job/"+sst.Path, false)
	must(t, err)
	_, err = w.Write(data)
	must(t, err)
	_, err = w.Commit()
	must(t, err)

	ropts := faultOptions(t, []*snapshot.KeyedStateHandle{h}, j.cps.Reader())
	ropts.Incremental = true
	_, kb2, v2, err := openValue(t, ropts)
	if err == nil {
		err = readAll(kb2, v2)
	}
	if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), sst.Path) {
		t.Fatalf("restore of a damaged SST = %v, want ErrCorrupt naming the stored file %s", err, sst.Path)
	}
}

// fullDisk is an errorfs injector: once on, every write Pebble makes under dir fails with
// ENOSPC, as on a disk that filled up.
type fullDisk struct {
	on    atomic.Bool
	match func(path string) bool
}

func (d *fullDisk) MaybeError(op errorfs.Op) error {
	if !d.on.Load() || !d.match(op.Path) {
		return nil
	}
	switch op.Kind {
	case errorfs.OpCreate, errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData,
		errorfs.OpFileSyncTo, errorfs.OpFileFlush, errorfs.OpFilePreallocate, errorfs.OpLink:
		return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
	}
	return nil
}

func (d *fullDisk) String() string { return "full disk" }

// TestFullWorkingDirectory: when the working directory's disk fills, the job fails within
// seconds with an error naming the directory and the fix, and the job's logger gets Pebble's
// failure. Before, Pebble retried the failed flush forever, its errors went to a discarded
// logger, and the flush of an incremental checkpoint waited forever: the job hung at 0
// events/s. A MANIFEST that cannot be written (Pebble calls Fatalf) fails the same way instead
// of panicking. The last completed checkpoint still restores. The disk is an in-memory
// filesystem wrapped by errorfs: the test is hermetic.
func TestFullWorkingDirectory(t *testing.T) {
	cases := []struct {
		name        string
		incremental bool
		match       func(string) bool
	}{
		{"writes-incremental-flush", true, func(string) bool { return true }},
		{"writes-full", false, func(string) bool { return true }},
		// The SST is written, the MANIFEST is not: Pebble calls Fatalf. (Few writes: had the
		// task filled every memtable before that failure, Pebble would stall its commit for
		// good, as a MANIFEST that failed once fails every later flush: see
		// TestManifestFailureStallsForGood.)
		{"manifest", true, func(p string) bool { return strings.Contains(filepath.Base(p), "MANIFEST") }},
		// Only the checkpoint's own directory fails: Pebble's DB.Checkpoint panics when it
		// cannot fsync it (atomicfs.Marker.Move), and the backend turns that into its fault.
		{"checkpoint-dir", true, func(p string) bool { return filepath.Base(filepath.Dir(p)) == "checkpoints" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob(t, 1)
			disk := &fullDisk{match: tc.match}
			log := &syncBuffer{}
			opts := faultOptions(t, nil, nil)
			opts.Incremental = tc.incremental
			opts.WriteBufferSize = 256 << 10
			opts.FS = errorfs.Wrap(vfs.NewMem(), disk)
			opts.Logger = slog.New(slog.NewTextHandler(log, nil))
			b, kb, v, err := openValue(t, opts)
			must(t, err)
			for k := int64(0); k < 100; k++ {
				must(t, kb.SetCurrentKey(k))
				must(t, v.Update("before"))
			}
			h := j.checkpoint(t, b, 1, true)

			disk.on.Store(true)
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				if tc.incremental {
					// A little state, then the checkpoint's synchronous flush.
					for k := int64(0); k < 100; k++ {
						if err := kb.SetCurrentKey(k); err != nil {
							done <- err
							return
						}
						if err := v.Update("after"); err != nil {
							done <- err
							return
						}
					}
					_, err := b.Snapshot(2, backend.SnapshotOptions{Deadline: time.Now().Add(time.Minute)})
					done <- err
					return
				}
				// Enough state to fill memtables: their flushes fail in the background.
				val := strings.Repeat("y", 100)
				for k := int64(0); k < 1_000_000; k++ {
					if err := kb.SetCurrentKey(k % 50_000); err != nil {
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
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("the backend hangs on a full disk; log:\n%.3000s", log)
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("the failure took %v", elapsed)
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), b.WorkingDir()) ||
				!strings.Contains(err.Error(), "free space") {
				t.Fatalf("error on a full disk = %v; want ENOSPC naming %s and the fix", err, b.WorkingDir())
			}
			if b.Stalled() || !errors.Is(b.Err(), syscall.ENOSPC) {
				t.Fatalf("after the failing call returned: Stalled() = %v, Err() = %v; want false and the ENOSPC", b.Stalled(), b.Err())
			}
			if _, err := b.Snapshot(3, backend.SnapshotOptions{}); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("a later checkpoint = %v, want the sticky ENOSPC", err)
			}
			if !strings.Contains(log.String(), "no space left on device") {
				t.Errorf("the logger did not get Pebble's failure:\n%s", log)
			}
			closed := make(chan error, 1)
			go func() { closed <- b.Close() }()
			select {
			case <-closed:
			case <-time.After(30 * time.Second):
				t.Fatal("Close hangs after a full disk")
			}

			// Space freed: the last completed checkpoint restores.
			ropts := faultOptions(t, []*snapshot.KeyedStateHandle{h}, j.cps.Reader())
			ropts.Incremental = tc.incremental
			_, kb2, v2, err := openValue(t, ropts)
			must(t, err)
			for k := int64(0); k < 100; k++ {
				must(t, kb2.SetCurrentKey(k))
				if got, ok, err := v2.Value(); err != nil || !ok || got != "before" {
					t.Fatalf("key %d restored = %q, %v, %v; want before", k, got, ok, err)
				}
			}
		})
	}
}

// stallDisk is an errorfs injector: once on, every write of a table file blocks until
// released, as on a hung disk.
type stallDisk struct {
	on      atomic.Bool
	release chan struct{}
}

func (d *stallDisk) MaybeError(op errorfs.Op) error {
	if d.on.Load() && strings.HasSuffix(op.Path, ".sst") && op.Kind == errorfs.OpFileWrite {
		<-d.release
	}
	return nil
}

func (d *stallDisk) String() string { return "stalled disk" }

// TestFlushDeadline: the synchronous flush of an incremental checkpoint gives up at the
// checkpoint's deadline instead of holding the task forever when the disk (in memory, hung
// by errorfs) does not finish it.
func TestFlushDeadline(t *testing.T) {
	disk := &stallDisk{release: make(chan struct{})}
	opts := faultOptions(t, nil, nil)
	opts.Incremental = true
	opts.FS = errorfs.Wrap(vfs.NewMem(), disk)
	b, kb, v, err := openValue(t, opts)
	must(t, err)
	released := false
	release := func() {
		if !released {
			released = true
			close(disk.release)
		}
	}
	defer release()
	for k := int64(0); k < 100; k++ {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update("x"))
	}
	disk.on.Store(true)
	start := time.Now()
	_, err = b.Snapshot(1, backend.SnapshotOptions{Deadline: start.Add(300 * time.Millisecond)})
	if err == nil || !strings.Contains(err.Error(), "deadline") || !strings.Contains(err.Error(), b.WorkingDir()) {
		t.Fatalf("checkpoint on a hung disk = %v, want the deadline error naming the directory", err)
	}
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond || elapsed > 10*time.Second {
		t.Errorf("gave up after %v, want at the deadline (300ms)", elapsed)
	}
	release()
	must(t, b.Close())
}

package lsm_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// localJob is a job on file:// storage (counted) with local recovery.
type localJob struct {
	job
	fst *checkpointtest.FaultStorage
}

func newLocalJob(t *testing.T) *localJob {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+t.TempDir())
	must(t, err)
	t.Cleanup(func() { st.Close() })
	fst := checkpointtest.NewFaultStorage(st)
	cps, err := checkpoint.Open(ctx, fst, "job", checkpoint.Options{NumRetained: 1, LocalRecovery: true, LocalDirs: []string{t.TempDir()},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	must(t, err)
	return &localJob{job: job{ctx: ctx, st: fst, cps: cps}, fst: fst}
}

// localRestore restores the job's latest checkpoint into a new backend on fsys, as the runtime
// does (Restore, RestoreReader), checks every value, and returns the backend and the stats.
func (j *localJob) localRestore(t *testing.T, fsys vfs.FS, dir string, groups, perGroup int) (*lsm.Backend, checkpoint.RestoreStats) {
	t.Helper()
	all := keygroup.Range{Start: 0, End: maxP - 1}
	var b *lsm.Backend
	var stats checkpoint.RestoreStats
	_, err := j.cps.Restore(j.ctx, func(m *snapshot.Metadata) error {
		r := j.cps.RestoreReader(m)
		var err error
		b, err = lsm.New(j.ctx, lsm.Options{Options: backend.Options{OperatorID: "op", MaxParallelism: maxP,
			KeyGroupRange: all, KeySerializerID: serde.Int64{}.ID(), Restore: m.Operators[0].Keyed, Reader: r},
			Dir: dir, FS: fsys, Incremental: true})
		stats = r.Stats()
		return err
	})
	must(t, err)
	t.Cleanup(func() { b.Close() })
	in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	v := in.(backend.Value)
	for kg := range groups {
		for i := range perGroup {
			must(t, b.SetCurrentKey(rawKey(kg*1000+i), kg))
			got, ok, err := v.Value()
			must(t, err)
			if want := fmt.Sprint("v", kg); !ok || got != want {
				t.Fatalf("key %d of key group %d restored as %v (%v), want %s", i, kg, got, ok, want)
			}
		}
	}
	return b, stats
}

// TestLocalRecoveryRestore: an incremental checkpoint's files are restored from the verified
// local copy without reading storage, its SSTs hard-linked into the database directory when
// the backend works on the operating system's filesystem, copied otherwise; a damaged local
// SST is read from storage, into the local copy, and is local again at the next restore.
func TestLocalRecoveryRestore(t *testing.T) {
	const groups, perGroup = 6, 200
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (vfs.FS, string)
	}{
		{"os", func(t *testing.T) (vfs.FS, string) { return vfs.Default, t.TempDir() }},
		{"mem", func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "/" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newLocalJob(t)
			fsys, dir := tc.fs(t)
			b, err := lsm.New(j.ctx, lsm.Options{Options: backend.Options{OperatorID: "op", MaxParallelism: maxP,
				KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID()},
				Dir: dir, FS: fsys, Incremental: true})
			must(t, err)
			in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
			must(t, err)
			for kg := range groups {
				writeGroup(t, b, in.(backend.Value), kg, perGroup, fmt.Sprint("v", kg))
				if kg == groups/2 {
					j.checkpoint(t, b, 1, true) // checkpoint 2 reuses its SSTs
				}
			}
			h := j.checkpoint(t, b, 2, true)
			_, roots := j.cps.LocalRecovery()
			local := func(f snapshot.IncrementalFile) string { return filepath.Join(roots[0], filepath.FromSlash(f.Path)) }
			if tc.name == "os" {
				// Written as hard links of the backend's own files: one inode, several names.
				for _, f := range h.Incremental.Shared {
					info, err := os.Stat(local(f))
					must(t, err)
					if n := linkCount(info); n < 2 {
						t.Fatalf("local copy of %s has %d links; want a hard link of the database's file", f.Name, n)
					}
				}
			}
			must(t, b.Close())

			j.fst.ResetCounts()
			r, stats := j.localRestore(t, fsys, dir, groups, perGroup)
			files := int64(len(h.Incremental.Shared) + len(h.Incremental.Private))
			if stats.LocalFiles != files || stats.RemoteFiles != 0 {
				t.Fatalf("restore stats %+v, want all %d files from the local copy", stats, files)
			}
			for name, rs := range j.fst.AllReads() {
				if rs.Calls > 0 && !strings.HasSuffix(name, snapshot.MetadataName) {
					t.Fatalf("the restore read %s from storage although its local copy is intact", name)
				}
			}
			if tc.name == "os" {
				for _, f := range h.Incremental.Shared {
					a, errA := os.Stat(local(f))
					d, errB := os.Stat(filepath.Join(r.WorkingDir(), "db", f.Name))
					if errA != nil || errB != nil || !os.SameFile(a, d) {
						t.Fatalf("restored %s is not a hard link of its local copy (%v, %v)", f.Name, errA, errB)
					}
				}
			}
			must(t, r.Close())

			// A damaged local SST: that one file comes from storage. (Written anew, not in
			// place: in place would damage every name of the inode, as with Flink's hard links.)
			bad := h.Incremental.Shared[0]
			data, err := os.ReadFile(local(bad))
			must(t, err)
			data[len(data)/3] ^= 0x01
			must(t, os.Remove(local(bad)))
			must(t, os.WriteFile(local(bad), data, 0o600))
			j.fst.ResetCounts()
			_, stats = j.localRestore(t, fsys, dir, groups, perGroup)
			if stats.LocalFiles != files-1 || stats.RemoteFiles != 1 || stats.Mismatched != 1 {
				t.Fatalf("restore stats %+v, want %d local files and the damaged one from storage", stats, files-1)
			}
			if j.fst.Reads("job/"+bad.Path).Calls == 0 {
				t.Fatalf("the file with a damaged local copy, %s, was not read from storage", bad.Path)
			}
			// It was read into the local copy on the way: the next restore is local again.
			j.fst.ResetCounts()
			_, stats = j.localRestore(t, fsys, dir, groups, perGroup)
			if stats.LocalFiles != files || stats.RemoteFiles != 0 {
				t.Fatalf("restore after the repair: stats %+v, want all %d files from the local copy", stats, files)
			}
		})
	}
}

// linkCount returns the number of names of a file.
func linkCount(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}

package lsm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// nativeSavepoint writes a native savepoint of subs into dir (a fresh directory) and
// returns its handles.
func nativeSavepoint(t *testing.T, subs []*subtask, dir string, id int64) []*snapshot.KeyedStateHandle {
	t.Helper()
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+dir)
	must(t, err)
	defer st.Close()
	p := checkpoint.BeginSavepoint(st)
	var hs []*snapshot.KeyedStateHandle
	for _, s := range subs {
		snap, err := s.b.Snapshot(id, backend.SnapshotOptions{Savepoint: true, SavepointFormat: backend.SavepointFormatNative})
		must(t, err)
		h, err := snap.Run(ctx, p)
		must(t, err)
		hs = append(hs, h)
	}
	must(t, p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: len(subs), MaxParallelism: maxP, Keyed: hs}}}))
	return hs
}

// loadSavepoint loads the savepoint at dir; the reader stays open for the test.
func loadSavepoint(t *testing.T, dir string) ([]*snapshot.KeyedStateHandle, snapshot.Reader) {
	t.Helper()
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+dir)
	must(t, err)
	t.Cleanup(func() { st.Close() })
	md, r, err := checkpoint.LoadSavepoint(ctx, st)
	must(t, err)
	if !md.Savepoint {
		t.Fatalf("metadata at %s is not a savepoint's", dir)
	}
	return md.Operator("op").Keyed, r
}

// TestNativeSavepointRelocateRescale: a native savepoint of the lsm backend, taken in full and
// in incremental checkpoint mode (with heap timers too), holds the database's files, every one
// in the savepoint's own directory; moved elsewhere, it restores at parallelism 3 and 1 (a
// rescale) and at the same parallelism, into either checkpoint mode.
func TestNativeSavepointRelocateRescale(t *testing.T) {
	const n = 300
	for _, c := range []struct {
		name     string
		from, to newFunc
	}{
		{"full-to-incremental", lsmNew(false), lsmNew(true)},
		{"incremental-to-full", lsmNew(true), lsmNew(false)},
		{"heap-timers", lsmNewTimers(true, lsm.TimerServiceHeap), lsmNewTimers(false, lsm.TimerServiceHeap)},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := openSubtasks(t, c.from, 2, nil, nil)
			fillAll(t, src, n)
			root := t.TempDir()
			dir := filepath.Join(root, "savepoint-1")
			hs := nativeSavepoint(t, src, dir, 7)
			for i, h := range hs {
				if h == nil || h.Incremental == nil || !h.Incremental.Savepoint || h.Incremental.Backend != lsm.HandleBackend {
					t.Fatalf("subtask %d: handle %+v is not a native savepoint's", i, h)
				}
				if len(h.Incremental.Shared) == 0 || len(h.Incremental.Private) == 0 {
					t.Fatalf("subtask %d: native savepoint has %d shared and %d private files, want both", i, len(h.Incremental.Shared), len(h.Incremental.Private))
				}
				for _, f := range h.Incremental.Shared {
					if _, err := os.Stat(filepath.Join(dir, f.Path)); err != nil {
						t.Fatalf("subtask %d: shared file %s is not in the savepoint's directory: %v", i, f.Path, err)
					}
				}
			}
			moved := filepath.Join(root, "elsewhere", "sp")
			must(t, os.MkdirAll(filepath.Dir(moved), 0o755))
			must(t, os.Rename(dir, moved))
			for _, p := range []int{3, 1, 2} {
				hs, r := loadSavepoint(t, moved)
				verifyAll(t, openSubtasks(t, c.to, p, hs, r), n)
			}
		})
	}
}

// TestNativeSavepointHashmapRefuses: the hashmap backend refuses a native savepoint of the lsm
// backend with an error that names the savepoint's type and the fix.
func TestNativeSavepointHashmapRefuses(t *testing.T) {
	src := openSubtasks(t, lsmNew(false), 1, nil, nil)
	fillAll(t, src, 50)
	dir := filepath.Join(t.TempDir(), "sp")
	nativeSavepoint(t, src, dir, 1)
	hs, r := loadSavepoint(t, dir)
	_, err := heap.New(context.Background(), backend.Options{OperatorID: "op", MaxParallelism: maxP,
		KeyGroupRange: keygroup.RangeFor(maxP, 1, 0), KeySerializerID: serde.Int64{}.ID(), Restore: hs, Reader: r})
	if !errors.Is(err, snapshot.ErrNotFull) {
		t.Fatalf("hashmap restore of a native savepoint: err = %v, want ErrNotFull", err)
	}
	for _, want := range []string{"native savepoint", lsm.HandleBackend, "canonical savepoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}

// TestNativeSavepointLeavesIncrementalAlone: a native savepoint taken between incremental
// checkpoints uploads every file into its own directory, and the next checkpoint still reuses
// the files of the last completed checkpoint: it uploads only the new SST, nothing of the
// savepoint's, and references no savepoint file. A completion notification with the
// savepoint's id (as the runtime sends) changes nothing.
func TestNativeSavepointLeavesIncrementalAlone(t *testing.T) {
	j := newJob(t, 3)
	b := newIncBackend(t, nil, nil, nil, keygroup.Range{Start: 0, End: maxP - 1})
	in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	v := in.(backend.Value)
	for kg := range 8 {
		writeGroup(t, b, v, kg, 200, strings.Repeat("x", 100))
	}
	h1 := j.checkpoint(t, b, 1, true)

	ctx := context.Background()
	spSt, err := blobstore.OpenURL(ctx, "mem://")
	must(t, err)
	defer spSt.Close()
	p := checkpoint.BeginSavepoint(spSt)
	snap, err := b.Snapshot(2, backend.SnapshotOptions{Savepoint: true, SavepointFormat: backend.SavepointFormatNative})
	must(t, err)
	sp, err := snap.Run(ctx, p)
	must(t, err)
	must(t, p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{sp}}}}))
	must(t, b.NotifyCheckpointComplete(2))
	if len(sp.Incremental.Shared) != len(h1.Incremental.Shared) {
		t.Fatalf("native savepoint has %d shared files, checkpoint 1 %d", len(sp.Incremental.Shared), len(h1.Incremental.Shared))
	}
	spPaths := map[string]bool{}
	for _, f := range sp.Incremental.Shared {
		spPaths[f.Path] = true
		for _, g := range h1.Incremental.Shared {
			if f.Path == g.Path {
				t.Fatalf("native savepoint references checkpoint 1's file %s", f.Path)
			}
		}
	}

	writeGroup(t, b, v, 9, 10, "y")
	h3 := j.checkpoint(t, b, 3, true)
	old := sharedPaths(h1)
	var uploaded []string
	for _, f := range h3.Incremental.Shared {
		if spPaths[f.Path] {
			t.Fatalf("checkpoint 3 references the savepoint's file %s", f.Path)
		}
		if old[f.Name] != f.Path {
			uploaded = append(uploaded, f.Name)
		}
	}
	if len(uploaded) != 1 {
		t.Fatalf("checkpoint 3 uploaded shared files %v, want only the one new SST", uploaded)
	}
}

// TestNativeSavepointOfHashmapIsCanonical: the hashmap backend has one format, so its native
// savepoint is canonical (as in Flink) and the lsm backend restores it.
func TestNativeSavepointOfHashmapIsCanonical(t *testing.T) {
	const n = 100
	src := openSubtasks(t, heapNew, 2, nil, nil)
	fillAll(t, src, n)
	dir := filepath.Join(t.TempDir(), "sp")
	for i, h := range nativeSavepoint(t, src, dir, 1) {
		if h == nil || h.Incremental != nil || h.File.Path == "" {
			t.Fatalf("subtask %d: hashmap native savepoint handle %+v is not canonical", i, h)
		}
	}
	hs, r := loadSavepoint(t, dir)
	verifyAll(t, openSubtasks(t, lsmNew(false), 3, hs, r), n)
}

package lsm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// TestHermeticFS: a backend on an in-memory filesystem keeps every file in it, its own as
// well as Pebble's. Incremental checkpoints (local checkpoint, upload) and a rescaling restore
// (downloads, a range-deleted base, another subtask's key groups imported by an ingested SST)
// leave nothing in the directory of the operating system named by Options.Dir, and Close
// removes the working directories from the in-memory filesystem.
func TestHermeticFS(t *testing.T) {
	j := newJob(t, 2)
	root := t.TempDir() // a real directory, and the in-memory one's name
	mem := vfs.NewMem()
	open := func(p, i int, restore []*snapshot.KeyedStateHandle) (*lsm.Backend, *state.KeyedBackend[int64], state.ListState[string]) {
		b, err := lsm.New(context.Background(), lsm.Options{Options: backend.Options{OperatorID: "op",
			MaxParallelism: maxP, KeyGroupRange: keygroup.RangeFor(maxP, p, i), KeySerializerID: serde.Int64{}.ID(),
			Restore: restore, Reader: j.cps.Reader()}, Dir: root, FS: mem, Incremental: true})
		must(t, err)
		t.Cleanup(func() { b.Close() })
		kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
		must(t, err)
		l, err := state.GetListState(kb, state.ListDescriptor[string]{Name: "l"})
		must(t, err)
		return b, kb, l
	}
	onOS := func(when string) {
		t.Helper()
		if left, err := os.ReadDir(root); err != nil || len(left) != 0 {
			t.Fatalf("%s: the OS directory %s holds %v (%v), want nothing", when, root, left, err)
		}
	}
	inMem := func(when string, want int) {
		t.Helper()
		dirs, err := mem.List(root)
		must(t, err)
		if len(dirs) != want {
			t.Fatalf("%s: the in-memory %s holds %v, want %d working directories", when, root, dirs, want)
		}
	}

	const n = 400
	b0, kb0, l0 := open(2, 0, nil)
	b1, kb1, l1 := open(2, 1, nil)
	for k := int64(0); k < n; k++ {
		kb, l := kb0, l0
		if !b0.KeyGroupRange().Contains(keygroup.Of(rawKey(int(k)), maxP)) {
			kb, l = kb1, l1
		}
		must(t, kb.SetCurrentKey(k))
		must(t, l.AddAll([]string{fmt.Sprint(k), "x"}))
	}
	var hs []*snapshot.KeyedStateHandle
	p, err := j.cps.Begin(1)
	must(t, err)
	for _, b := range []*lsm.Backend{b0, b1} {
		s, err := b.Snapshot(1, backend.SnapshotOptions{})
		must(t, err)
		h, err := s.Run(j.ctx, p)
		must(t, err)
		if h.Incremental == nil {
			t.Fatal("an incremental backend wrote a full handle")
		}
		hs = append(hs, h)
	}
	must(t, p.Complete(j.ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 2,
		MaxParallelism: maxP, Keyed: hs}}}))
	onOS("after the checkpoint")
	inMem("after the checkpoint", 2)
	must(t, b0.Close())
	must(t, b1.Close())
	inMem("after Close", 0)

	b, kb, l := open(1, 0, hs)
	for k := int64(0); k < n; k++ {
		must(t, kb.SetCurrentKey(k))
		var got []string
		for v, err := range l.Get() {
			must(t, err)
			got = append(got, v)
		}
		if len(got) != 2 || got[0] != fmt.Sprint(k) {
			t.Fatalf("key %d restored = %v", k, got)
		}
	}
	onOS("after the restore")
	inMem("after the restore", 1)
	must(t, b.Close())
	inMem("after Close", 0)
}

// TestOSFilesystemLocked: a wrapper of the operating system's filesystem (errorfs here) gets
// the locked working directory of vfs.Default (workdir.go).
func TestOSFilesystemLocked(t *testing.T) {
	opts := sweepOptions(t.TempDir())
	opts.FS = errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(errorfs.Op) error { return nil }))
	b, err := lsm.New(context.Background(), opts)
	must(t, err)
	defer b.Close()
	if _, err := os.Stat(filepath.Join(b.WorkingDir(), "streamstate.lock")); err != nil {
		t.Fatalf("the working directory on a wrapped OS filesystem has no lock file: %v", err)
	}
}

package checkpointtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// Small checkpoints for tests of the lifecycle (retention, cleanup, durability): full
// snapshots of one string value per key group, written in the canonical format, and shared
// files placed by hand as an incremental backend would.

// MaxP is the max parallelism (key groups) of the operators these helpers write.
const MaxP = 8

// states are the states of the snapshots WriteHandle writes: one value state.
var states = []snapshot.StateMeta{{Name: "count", Kind: snapshot.KindValue, Value: "string"}}

// WriteHandle writes a full snapshot of rng through f, one record per key group: key "k<kg>",
// value val. The handle's file is a real file of the canonical format.
func WriteHandle(t *testing.T, f snapshot.StreamFactory, hint string, rng keygroup.Range, val string) *snapshot.KeyedStateHandle {
	t.Helper()
	h, err := TryWriteHandle(f, hint, rng, val)
	if err != nil {
		t.Fatalf("write %s: %v", hint, err)
	}
	return h
}

// TryWriteHandle is WriteHandle returning the error instead of failing the test.
func TryWriteHandle(f snapshot.StreamFactory, hint string, rng keygroup.Range, val string) (*snapshot.KeyedStateHandle, error) {
	out, err := f.Create(context.Background(), hint)
	if err != nil {
		return nil, err
	}
	w := snapshot.NewFullWriter(out, rng, "string", states, snapshot.CompressionNone)
	for kg := range rng.All() {
		if err := w.BeginKeyGroup(kg); err != nil {
			w.Abort()
			return nil, err
		}
		w.Value(0, fmt.Appendf(nil, "k%d", kg), nil, []byte(val))
	}
	return w.Finish()
}

// Metadata is the metadata of one operator "op" whose subtasks wrote handles (any key-group
// ranges inside [0, maxP)).
func Metadata(maxP int, handles ...*snapshot.KeyedStateHandle) *snapshot.Metadata {
	return &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
		ID: "op", Parallelism: max(1, len(handles)), MaxParallelism: maxP, Keyed: handles}}}
}

// TakeCheckpoint takes checkpoint id: two subtasks' files (value val) plus the given shared
// handles (as a second operator), and completes it.
func TakeCheckpoint(t *testing.T, c *checkpoint.Checkpoints, id int64, val string, shared ...*snapshot.KeyedStateHandle) *snapshot.Metadata {
	t.Helper()
	p, err := c.Begin(id)
	if err != nil {
		t.Fatal(err)
	}
	m := Metadata(MaxP,
		WriteHandle(t, p, "op-0", keygroup.RangeFor(MaxP, 2, 0), val),
		WriteHandle(t, p, "op-1", keygroup.RangeFor(MaxP, 2, 1), val))
	if len(shared) > 0 {
		m.Operators = append(m.Operators, &snapshot.OperatorState{ID: "shared-op", Parallelism: len(shared),
			MaxParallelism: MaxP, Keyed: shared})
	}
	if err := p.Complete(context.Background(), m); err != nil {
		t.Fatalf("complete checkpoint %d: %v", id, err)
	}
	return m
}

// sharedOut is an OutputStream straight into storage, for shared files a test places itself.
type sharedOut struct {
	w   checkpoint.Writer
	rel string
	sum *snapshot.FileHasher
}

func (o *sharedOut) Write(p []byte) (int, error) { o.sum.Write(p); return o.w.Write(p) }
func (o *sharedOut) Abort()                      { o.w.Abort() }
func (o *sharedOut) Close() (snapshot.FileRef, error) {
	n, err := o.w.Commit()
	return snapshot.FileRef{Path: o.rel, Size: n, SHA256: o.sum.Sum()}, err
}

type sharedFactory struct {
	st  checkpoint.Storage
	job string
}

func (f sharedFactory) Create(ctx context.Context, name string) (snapshot.OutputStream, error) {
	w, err := f.st.Create(ctx, f.job+"/shared/"+name, false)
	if err != nil {
		return nil, err
	}
	return &sharedOut{w: w, rel: "shared/" + name, sum: snapshot.NewFileHasher()}, nil
}

// SharedHandle writes <job>/shared/<name> with Storage.Create and returns a handle
// referencing it.
func SharedHandle(t *testing.T, st checkpoint.Storage, job, name string) *snapshot.KeyedStateHandle {
	t.Helper()
	return WriteHandle(t, sharedFactory{st, job}, name, keygroup.Range{Start: 0, End: MaxP - 1}, "shared "+name)
}

// PutObject writes and commits one object, failing the test on error.
func PutObject(t *testing.T, st checkpoint.Storage, name string, data []byte) {
	t.Helper()
	put(t, st, name, data)
}

// ReadObject reads a whole object, failing the test on error.
func ReadObject(t *testing.T, st checkpoint.Storage, name string) []byte {
	t.Helper()
	b, err := st.ReadRange(context.Background(), name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteInChunks writes n bytes to name in writes of chunk bytes and returns Commit's result.
func WriteInChunks(st checkpoint.Storage, name string, n, chunk int) (int64, error) {
	w, err := st.Create(context.Background(), name, false)
	if err != nil {
		return 0, err
	}
	buf := bytes.Repeat([]byte{'s'}, chunk)
	for n > 0 {
		k := min(n, chunk)
		if _, err := w.Write(buf[:k]); err != nil {
			w.Abort()
			return 0, err
		}
		n -= k
	}
	return w.Commit()
}

// DirTree returns every file and directory under dir (a file:// storage's root), relative and
// with '/' separators, sorted.
func DirTree(t *testing.T, dir string) []string {
	t.Helper()
	var all []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			all = append(all, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	return all
}

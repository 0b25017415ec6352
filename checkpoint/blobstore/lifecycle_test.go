package blobstore_test

// The few checkpoint lifecycle helpers the durability tests of file:// storage need: a
// checkpoint of two subtasks' full snapshots plus shared files (copied from package
// checkpoint's tests, which blobstore's cannot import).

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/keygroup"
)

const cpMaxP = 8 // key groups of the test operators

var cpStates = []checkpoint.StateMeta{{Name: "count", Kind: checkpoint.KindValue, Value: "string"}}

// cpWrite writes a full snapshot of rng through f, one record per key group: key "k<kg>",
// value val. The handle's file is a real file of the canonical format.
func cpWrite(t *testing.T, f checkpoint.StreamFactory, hint string, rng keygroup.Range, val string) *checkpoint.KeyedStateHandle {
	t.Helper()
	h, err := cpTryWrite(f, hint, rng, val)
	if err != nil {
		t.Fatalf("write %s: %v", hint, err)
	}
	return h
}

func cpTryWrite(f checkpoint.StreamFactory, hint string, rng keygroup.Range, val string) (*checkpoint.KeyedStateHandle, error) {
	out, err := f.Create(context.Background(), hint)
	if err != nil {
		return nil, err
	}
	w := checkpoint.NewFullWriter(out, rng, "string", cpStates, checkpoint.CompressionNone)
	for kg := range rng.All() {
		if err := w.BeginKeyGroup(kg); err != nil {
			w.Abort()
			return nil, err
		}
		w.Value(0, fmt.Appendf(nil, "k%d", kg), nil, []byte(val))
	}
	return w.Finish()
}

// cpMetadata is the metadata of one operator "op" whose subtasks wrote handles (any key-group
// ranges inside [0, maxP)).
func cpMetadata(maxP int, handles ...*checkpoint.KeyedStateHandle) *checkpoint.Metadata {
	return &checkpoint.Metadata{Operators: []*checkpoint.OperatorState{{
		ID: "op", Parallelism: max(1, len(handles)), MaxParallelism: maxP, Keyed: handles}}}
}

// cpTake takes checkpoint id: two subtasks' files (value val) plus the given shared handles
// (as a second operator), and completes it.
func cpTake(t *testing.T, c *checkpoint.Checkpoints, id int64, val string, shared ...*checkpoint.KeyedStateHandle) *checkpoint.Metadata {
	t.Helper()
	p, err := c.Begin(id)
	if err != nil {
		t.Fatal(err)
	}
	m := cpMetadata(cpMaxP,
		cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), val),
		cpWrite(t, p, "op-1", keygroup.RangeFor(cpMaxP, 2, 1), val))
	if len(shared) > 0 {
		m.Operators = append(m.Operators, &checkpoint.OperatorState{ID: "shared-op", Parallelism: len(shared),
			MaxParallelism: cpMaxP, Keyed: shared})
	}
	if err := p.Complete(context.Background(), m); err != nil {
		t.Fatalf("complete checkpoint %d: %v", id, err)
	}
	return m
}

// cpSharedOut is an OutputStream straight into storage, for shared files a test places itself.
type cpSharedOut struct {
	w   checkpoint.Writer
	rel string
	sum *checkpoint.FileHasher
}

func (o *cpSharedOut) Write(p []byte) (int, error) { o.sum.Write(p); return o.w.Write(p) }
func (o *cpSharedOut) Abort()                      { o.w.Abort() }
func (o *cpSharedOut) Close() (checkpoint.FileRef, error) {
	n, err := o.w.Commit()
	return checkpoint.FileRef{Path: o.rel, Size: n, SHA256: o.sum.Sum()}, err
}

type cpSharedFactory struct {
	st  checkpoint.Storage
	job string
}

func (f cpSharedFactory) Create(ctx context.Context, name string) (checkpoint.OutputStream, error) {
	w, err := f.st.Create(ctx, f.job+"/shared/"+name, false)
	if err != nil {
		return nil, err
	}
	return &cpSharedOut{w: w, rel: "shared/" + name, sum: checkpoint.NewFileHasher()}, nil
}

// cpShared writes <job>/shared/<name> with Storage.Create and returns a handle referencing it.
func cpShared(t *testing.T, st checkpoint.Storage, job, name string) *checkpoint.KeyedStateHandle {
	t.Helper()
	return cpWrite(t, cpSharedFactory{st, job}, name, keygroup.Range{Start: 0, End: cpMaxP - 1}, "shared "+name)
}

// cpOpen opens job's checkpoints in st, retaining retained, logging nowhere.
func cpOpen(t *testing.T, st checkpoint.Storage, job string, retained int) *checkpoint.Checkpoints {
	t.Helper()
	c, err := checkpoint.Open(context.Background(), st, job, checkpoint.Options{
		NumRetained: retained,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

package checkpoint_test

// Format behaviour that only shows through the lifecycle: how much of a _metadata is read, and
// operator state written into a real checkpoint and loaded back.

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// lengthRecorder records the lengths of the ReadRange calls for _metadata files.
type lengthRecorder struct {
	checkpoint.Storage
	lengths []int64
}

func (l *lengthRecorder) ReadRange(ctx context.Context, name string, offset, length int64) ([]byte, error) {
	if strings.HasSuffix(name, snapshot.MetadataName) {
		l.lengths = append(l.lengths, length)
	}
	return l.Storage.ReadRange(ctx, name, offset, length)
}

// TestMetadataSizeIsBounded: a _metadata file is untrusted and read whole into memory, so its
// size is bounded: a larger one is corrupt, and the readers never ask the storage for more
// than one byte beyond the bound (a crafted, sparse, 100 GB _metadata must not exhaust the
// memory of the process that restores it).
func TestMetadataSizeIsBounded(t *testing.T) {
	big := make([]byte, snapshot.MaxMetadataSize+1) // never touched: costs no memory
	copy(big, "STRMSTMD")
	if _, err := snapshot.DecodeMetadata("sp/_metadata", big); !errors.Is(err, snapshot.ErrCorrupt) ||
		!strings.Contains(err.Error(), "sp/_metadata") || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("DecodeMetadata of %d bytes = %v; want ErrCorrupt naming the file and saying it is too large", len(big), err)
	}

	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &lengthRecorder{Storage: st}
	cps, err := checkpoint.Open(ctx, rec, "job", checkpoint.Options{NumRetained: 1})
	if err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 2; id++ {
		p, err := cps.Begin(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Complete(ctx, &snapshot.Metadata{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cps.Restore(ctx, func(*snapshot.Metadata) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkpoint.LoadCheckpoint(ctx, rec, "job", 2); err != nil {
		t.Fatal(err)
	}
	if len(rec.lengths) == 0 {
		t.Fatal("no _metadata was read")
	}
	for _, n := range rec.lengths {
		if n < 0 || n > snapshot.MaxMetadataSize+1 {
			t.Errorf("a _metadata was read with length %d; want at most %d", n, snapshot.MaxMetadataSize+1)
		}
	}
}

// TestOperatorThroughStorage writes operator state into a real checkpoint and reads it back
// after Load, which checks every referenced file's size.
func TestOperatorThroughStorage(t *testing.T) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cps.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Create(ctx, "src-operator-0")
	if err != nil {
		t.Fatal(err)
	}
	w := snapshot.NewOperatorWriter(out, 0, 1)
	if err := w.BeginState(snapshot.OperatorStateMeta{Name: "s", Mode: snapshot.ModeUnion, Value: "string"}, 1); err != nil {
		t.Fatal(err)
	}
	w.Element([]byte("hello"))
	h, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "src", Parallelism: 1, MaxParallelism: 128,
		Operator: []*snapshot.OperatorStateHandle{h}}}}); err != nil {
		t.Fatal(err)
	}
	m, err := cps.Load(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	secs, err := snapshot.ReadOperatorSections(ctx, cps.Reader(), m.Operator("src").Operator[0], nil)
	if err != nil || len(secs) != 1 || len(secs[0].Values) != 1 || string(secs[0].Values[0]) != "hello" {
		t.Fatalf("read %+v, %v", secs, err)
	}
	// A truncated file makes Load fail with ErrMissing naming it.
	full := "job/" + h.File.Path
	b, _ := st.ReadRange(ctx, full, 0, -1)
	wr, _ := st.Create(ctx, full, false)
	_, _ = wr.Write(b[:len(b)-2])
	if _, err := wr.Commit(); err != nil {
		t.Fatal(err)
	}
	_, err = cps.Load(ctx, 1)
	var fe *snapshot.FileError
	if !errors.Is(err, snapshot.ErrMissing) || !errors.As(err, &fe) || fe.Path != full {
		t.Errorf("load with a truncated operator state file: error %v, want ErrMissing naming %s", err, full)
	}
}

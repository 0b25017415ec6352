package heap_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

type point struct{ X int }

// sameIDText writes strings under the ID of serde.JSON[point]: bytes whose block checksums
// hold but that do not decode as a point, as a serializer that changed its format without
// changing its ID would write.
type sameIDText struct{}

func (sameIDText) ID() string                                  { return serde.JSON[point]{}.ID() }
func (sameIDText) Append(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (sameIDText) Decode(src []byte) (string, error)           { return string(src), nil }

// checkpointText completes checkpoint id of one heap subtask holding text under key 1 in a
// value, a list and a map state, and returns the handle.
func checkpointText(t *testing.T, cps *checkpoint.Checkpoints, id int64, text string) *snapshot.KeyedStateHandle {
	t.Helper()
	ctx := context.Background()
	b, err := heap.New(ctx, heapOpts(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kb, _ := state.NewKeyedBackend[int64](b, serde.Int64{})
	v, err := state.GetValueState(kb, state.ValueDescriptor[string]{Name: "value", Serializer: sameIDText{}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := state.GetListState(kb, state.ListDescriptor[string]{Name: "list", Serializer: sameIDText{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := state.GetMapState(kb, state.MapDescriptor[string, string]{Name: "map", ValueSerializer: sameIDText{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := kb.SetCurrentKey(1); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{v.Update(text), l.Add(text), m.Put("k", text)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := cps.Begin(id)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := b.Snapshot(id, backend.SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := snap.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1,
		MaxParallelism: 128, Keyed: []*snapshot.KeyedStateHandle{h}}}}); err != nil {
		t.Fatal(err)
	}
	return h
}

func heapOpts(restore []*snapshot.KeyedStateHandle, r snapshot.Reader) backend.Options {
	return backend.Options{OperatorID: "op", MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
		KeySerializerID: serde.Int64{}.ID(), Restore: restore, Reader: r}
}

// registerPoints restores a heap backend from handles and registers the value, list and map
// states as points; it returns the first error.
func registerPoints(ctx context.Context, restore []*snapshot.KeyedStateHandle, r snapshot.Reader, which string) error {
	b, err := heap.New(ctx, heapOpts(restore, r))
	if err != nil {
		return err
	}
	defer b.Close()
	kb, _ := state.NewKeyedBackend[int64](b, serde.Int64{})
	switch which {
	case "value":
		_, err = state.GetValueState(kb, state.ValueDescriptor[point]{Name: "value"})
	case "list":
		_, err = state.GetListState(kb, state.ListDescriptor[point]{Name: "list"})
	default:
		_, err = state.GetMapState(kb, state.MapDescriptor[string, point]{Name: "map"})
	}
	return err
}

// TestRestoreUndecodableValueIsCorrupt: a record whose bytes do not decode with the state's
// serializer fails the registration with an error that wraps snapshot.ErrCorrupt and names
// the file and the state, for every state kind; a restore then falls back to the checkpoint
// before.
func TestRestoreUndecodableValueIsCorrupt(t *testing.T) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{NumRetained: 2})
	if err != nil {
		t.Fatal(err)
	}
	good := checkpointText(t, cps, 1, `{"X":7}`)
	bad := checkpointText(t, cps, 2, `{"X":`)
	for _, which := range []string{"value", "list", "map"} {
		if err := registerPoints(ctx, []*snapshot.KeyedStateHandle{good}, cps.Reader(), which); err != nil {
			t.Fatalf("%s: the good checkpoint does not restore: %v", which, err)
		}
		err := registerPoints(ctx, []*snapshot.KeyedStateHandle{bad}, cps.Reader(), which)
		var fe *snapshot.FileError
		if !errors.Is(err, snapshot.ErrCorrupt) || !errors.As(err, &fe) || fe.Path != bad.File.Path ||
			!strings.Contains(err.Error(), `state "`+which+`"`) {
			t.Fatalf("%s: registering over an undecodable record: %v; want ErrCorrupt naming %s and the state", which, err, bad.File.Path)
		}
		m, err := cps.Restore(ctx, func(m *snapshot.Metadata) error {
			return registerPoints(ctx, m.Operator("op").Keyed, cps.Reader(), which)
		})
		if err != nil || m.CheckpointID != 1 {
			t.Fatalf("%s: Restore = checkpoint %v, %v; want a fallback to checkpoint 1", which, m, err)
		}
	}
}

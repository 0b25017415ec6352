// Package evolution_test restores golden checkpoints, written once by an old version of a job,
// with evolved state types on both keyed backends: a field added, a field removed, a field's
// type changed, a renamed Go type with and without an alias, and a changed key serializer.
// The package holds tests only.
package evolution_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// The golden checkpoints under testdata/golden-v<N>[-r<R>] were written by the code of
// metadata format N, with the state types of the first version of a job (orderV1,
// customerV1), one operator "op" at parallelism 1, keys 0..numKeys-1:
//
//   - hashmap-full: a full checkpoint (job "golden", checkpoint 1) of the hashmap backend;
//   - lsm-incremental: an incremental checkpoint (job "golden", checkpoint 1) of the lsm
//     backend with heap timers;
//   - savepoint: a canonical savepoint of the lsm backend.
//
// Each holds the keyed states of goldenStates and the operator list state "oporders". A
// set's revision R says which states it holds: revision 1 (testdata/golden-v2, written
// before user key schemas were recorded) the states above; revision 2 (golden-v2-r2) also
// the states with struct user keys, "orderbykey" (keyed map) and "rules" (broadcast), with
// their user key schemas. They must keep restoring: STREAMSTATE_WRITE_GOLDEN=1 go test -run
// TestWriteGoldenEvolution ./backend/evolution/ writes the set of the current format and
// revision (goldenRevision) if it does not exist yet. Raise goldenRevision when the writer
// writes more; never change what an existing revision wrote.

// goldenRevision is the revision of the golden set the writer writes.
const goldenRevision = 2

const (
	maxP    = 128
	numKeys = 24
	opID    = "op"
	jobID   = "golden"
	// orderName is the stable name of the order serializers.
	orderName = "evolution.Order"
	// unnamedID is the ID serde.JSON[orderV1]{} records: the Go type's name.
	unnamedID = "json:evolution_test.orderV1"
)

// orderV1 is the state type of the job that wrote the golden checkpoints. It must never
// change: the golden checkpoints record its schema.
type orderV1 struct {
	ID     int64
	Amount int64
	Note   string
}

// order returns the order with the given ID as the writer wrote it.
func order(id int64) orderV1 {
	return orderV1{ID: id, Amount: 100*id + 1, Note: fmt.Sprint("note-", id)}
}

// The keyed states of the golden checkpoints, each of orderV1: "orders" (value), "orderlog"
// (list) and "ordermap" (map, string user keys) under serde.JSON named orderName,
// "ordercbor" (value) under serde.CBOR named orderName, "orderunnamed" (value) under the
// unnamed serde.JSON[orderV1]{}.
const (
	valueName   = "orders"
	listName    = "orderlog"
	mapName     = "ordermap"
	cborName    = "ordercbor"
	unnamedName = "orderunnamed"
	opListName  = "oporders"
)

// Per key k the writer wrote: orders = order(k), orderlog = [order(k), order(k+1000)],
// ordermap = {a: order(k), b: order(k+2000)}, ordercbor = order(k+3000), orderunnamed =
// order(k+4000); and oporders = [order(5000), order(5001), order(5002)].
func listWant(k int64) []orderV1 { return []orderV1{order(k), order(k + 1000)} }

func mapWant(k int64) map[string]orderV1 {
	return map[string]orderV1{"a": order(k), "b": order(k + 2000)}
}

func opListWant() []orderV1       { return []orderV1{order(5000), order(5001), order(5002)} }
func cborWant(k int64) orderV1    { return order(k + 3000) }
func unnamedWant(k int64) orderV1 { return order(k + 4000) }

// jsonOf and cborOf are the named serializers of the order states, for any version T.
func jsonOf[T any]() serde.JSON[T] { return serde.JSON[T]{Name: orderName} }
func cborOf[T any]() serde.CBOR[T] { return serde.CBOR[T]{Name: orderName} }

// keyedOptions are the options of the one keyed backend, without a restore.
func keyedOptions() backend.Options {
	return backend.Options{OperatorID: opID, MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1},
		KeySerializerID: serde.Int64{}.ID()}
}

// operatorOptions are the options of the one operator backend, without a restore.
func operatorOptions() operator.Options { return operator.Options{OperatorID: opID, Parallelism: 1} }

// goldenSet is a golden set: the metadata format its writer wrote, and its revision.
type goldenSet struct{ format, revision int }

// goldenSets are the golden sets every test restores: the checked-in ones, and the current
// format's, which must exist too.
func goldenSets() []goldenSet {
	sets := []goldenSet{{2, 1}, {2, 2}}
	if cur := (goldenSet{snapshot.MetadataVersion, goldenRevision}); !slices.Contains(sets, cur) {
		sets = append(sets, cur)
	}
	return sets
}

// dir is the directory of the golden set.
func (s goldenSet) dir() string {
	name := fmt.Sprintf("golden-v%d", s.format)
	if s.revision > 1 {
		name += fmt.Sprintf("-r%d", s.revision)
	}
	return filepath.Join("testdata", name)
}

// backendFactory creates a keyed backend that logs on l (nil: discard); dir is a fresh
// directory for working files.
type backendFactory func(ctx context.Context, opts backend.Options, dir string, l *slog.Logger) (backend.Keyed, error)

func heapBackend(ctx context.Context, opts backend.Options, _ string, l *slog.Logger) (backend.Keyed, error) {
	return (&heap.StateBackend{Logger: l}).CreateKeyedBackend(ctx, opts)
}

func lsmBackend(ctx context.Context, opts backend.Options, dir string, l *slog.Logger) (backend.Keyed, error) {
	return lsm.New(ctx, lsm.Options{Options: opts, Dir: dir, Incremental: true, TimerService: lsm.TimerServiceHeap,
		BlockCacheSize: 1 << 20, WriteBufferSize: 1 << 20, WriteBufferCount: 2, Logger: l})
}

// kind is one golden checkpoint: its directory under testdata/golden-v<N>, the backend that
// wrote it and how.
type kind struct {
	name      string
	writer    backendFactory
	savepoint bool
	// restorers are the backends it is restored into: an incremental checkpoint only into
	// the backend that wrote it (the hashmap backend refuses it, saying to take a savepoint).
	restorers []string
}

var backends = map[string]backendFactory{"heap": heapBackend, "lsm": lsmBackend}

var kinds = []kind{
	{name: "hashmap-full", writer: heapBackend, restorers: []string{"heap", "lsm"}},
	{name: "lsm-incremental", writer: lsmBackend, restorers: []string{"lsm"}},
	{name: "savepoint", writer: lsmBackend, savepoint: true, restorers: []string{"heap", "lsm"}},
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteGoldenEvolution writes the golden set of metadata format MetadataVersion and
// revision goldenRevision when STREAMSTATE_WRITE_GOLDEN is set and it does not exist.
func TestWriteGoldenEvolution(t *testing.T) {
	if os.Getenv("STREAMSTATE_WRITE_GOLDEN") == "" {
		t.Skip("set STREAMSTATE_WRITE_GOLDEN=1 to write the golden evolution checkpoints of the current format")
	}
	root, err := filepath.Abs(goldenSet{snapshot.MetadataVersion, goldenRevision}.dir())
	must(t, err)
	if _, err := os.Stat(root); err == nil {
		t.Fatalf("%s exists; a golden checkpoint is never rewritten", root)
	}
	for _, k := range kinds {
		writeGolden(t, k, filepath.Join(root, k.name))
	}
}

// writeGolden writes the golden checkpoint of kind k into dir.
func writeGolden(t *testing.T, k kind, dir string) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+filepath.ToSlash(dir))
	must(t, err)
	defer st.Close()
	b, err := k.writer(ctx, keyedOptions(), t.TempDir(), nil)
	must(t, err)
	defer b.Close()
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[orderV1]{Name: valueName, Serializer: jsonOf[orderV1]()})
	must(t, err)
	l, err := state.GetListState(kb, state.ListDescriptor[orderV1]{Name: listName, Serializer: jsonOf[orderV1]()})
	must(t, err)
	m, err := state.GetMapState(kb, state.MapDescriptor[string, orderV1]{Name: mapName, ValueSerializer: jsonOf[orderV1]()})
	must(t, err)
	c, err := state.GetValueState(kb, state.ValueDescriptor[orderV1]{Name: cborName, Serializer: cborOf[orderV1]()})
	must(t, err)
	u, err := state.GetValueState(kb, state.ValueDescriptor[orderV1]{Name: unnamedName, Serializer: serde.JSON[orderV1]{}})
	must(t, err)
	for k := range int64(numKeys) {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(order(k)))
		for _, o := range listWant(k) {
			must(t, l.Add(o))
		}
		for uk, o := range mapWant(k) {
			must(t, m.Put(uk, o))
		}
		must(t, c.Update(cborWant(k)))
		must(t, u.Update(unnamedWant(k)))
	}
	ob, err := operator.New(ctx, operatorOptions())
	must(t, err)
	defer ob.Close()
	ol, err := state.GetOperatorListState(ob, state.ListDescriptor[orderV1]{Name: opListName, Serializer: jsonOf[orderV1]()})
	must(t, err)
	must(t, ol.Update(opListWant()))
	writeUserKeyed(t, kb, ob) // revision 2

	snapshotInto(t, st, k.savepoint, b, ob)
}

// snapshotInto writes the state of b and ob into st: a canonical savepoint, or checkpoint 1
// of job jobID (incremental when b is).
func snapshotInto(t *testing.T, st checkpoint.Storage, savepoint bool, b backend.Keyed, ob *operator.Backend) {
	ctx := context.Background()
	var p *checkpoint.Pending
	if savepoint {
		p = checkpoint.BeginSavepoint(st)
	} else {
		cps, err := checkpoint.Open(ctx, st, jobID, checkpoint.Options{})
		must(t, err)
		p, err = cps.Begin(1)
		must(t, err)
	}
	ks, err := b.Snapshot(1, backend.SnapshotOptions{Savepoint: savepoint, Compression: snapshot.CompressionSnappy})
	must(t, err)
	osnap, err := ob.Snapshot(1)
	must(t, err)
	kh, err := ks.Run(ctx, p)
	must(t, err)
	oh, err := osnap.Run(ctx, p)
	must(t, err)
	must(t, p.Complete(ctx, &snapshot.Metadata{TimestampMs: 1_790_000_000_000, Operators: []*snapshot.OperatorState{
		{ID: opID, Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{kh}, Operator: []*snapshot.OperatorStateHandle{oh}}}}))
	if !savepoint {
		must(t, b.NotifyCheckpointComplete(1))
	}
}

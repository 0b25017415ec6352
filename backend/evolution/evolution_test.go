package evolution_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// The later versions of orderV1 a redeployed job restores the golden checkpoints with.
type (
	// orderAdded adds a field: compatible, recorded values read it as its zero value.
	orderAdded struct {
		ID       int64
		Amount   int64
		Note     string
		Currency string
	}
	// orderRemoved drops Note: compatible, the remaining fields keep their values.
	orderRemoved struct {
		ID     int64
		Amount int64
	}
	// orderChanged changes Amount's type: incompatible.
	orderChanged struct {
		ID     int64
		Amount string
		Note   string
	}
	// orderRenamed is orderV1 under another Go type name: the same fields, so the same bytes.
	orderRenamed struct {
		ID     int64
		Amount int64
		Note   string
	}
)

// renamedID is the ID the unnamed serializer of orderRenamed records.
const renamedID = "json:evolution_test.orderRenamed"

// restored is one subtask restored from a golden checkpoint.
type restored struct {
	b  backend.Keyed
	kb *state.KeyedBackend[int64]
	ob *operator.Backend
}

// golden is one golden checkpoint, loaded, and the backend it is restored into.
type golden struct {
	t        *testing.T
	m        *snapshot.Metadata
	r        snapshot.Reader
	restore  backendFactory
	restorer string
	// log holds what the restored backends logged, as JSON lines.
	log *bytes.Buffer
}

// loadGolden loads golden checkpoint k of set from a copy of its directory.
func loadGolden(t *testing.T, set goldenSet, k kind, restorer string) *golden {
	dir := t.TempDir()
	must(t, os.CopyFS(dir, os.DirFS(filepath.Join(set.dir(), k.name))))
	g := loadDir(t, dir, k.savepoint, restorer)
	checkRecorded(t, g.m.Operators[0], set.revision)
	return g
}

// loadDir loads the checkpoint (or savepoint) in dir, to be restored into restorer.
func loadDir(t *testing.T, dir string, savepoint bool, restorer string) *golden {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+filepath.ToSlash(dir))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	g := &golden{t: t, restore: backends[restorer], restorer: restorer, log: &bytes.Buffer{}}
	if savepoint {
		g.m, g.r, err = checkpoint.LoadSavepoint(ctx, st)
	} else {
		g.m, g.r, err = checkpoint.LoadCheckpoint(ctx, st, jobID, 1)
	}
	must(t, err)
	if len(g.m.Operators) != 1 || g.m.Operators[0].ID != opID {
		t.Fatalf("checkpoint in %s: operators %+v", dir, g.m.Operators)
	}
	return g
}

// reload takes a savepoint of r and loads it, to be restored into the same backend as g.
func (g *golden) reload(r *restored) *golden {
	dir := g.t.TempDir()
	st, err := blobstore.OpenURL(context.Background(), "file://"+filepath.ToSlash(dir))
	must(g.t, err)
	defer st.Close()
	snapshotInto(g.t, st, true, r.b, r.ob)
	return loadDir(g.t, dir, true, g.restorer)
}

// recordedIDs are the serializer IDs the golden checkpoints record, by state.
var recordedIDs = map[string]string{valueName: "json:" + orderName, listName: "json:" + orderName, mapName: "json:" + orderName,
	cborName: "cbor:" + orderName, unnamedName: unnamedID, opListName: "json:" + orderName}

// checkRecorded fails unless o records every state of the golden checkpoints of revision
// rev once, with its serializer IDs and schemas: the cases below test schema evolution, not
// the restore of state recorded before schemas were.
func checkRecorded(t *testing.T, o *snapshot.OperatorState, rev int) {
	t.Helper()
	ids := maps.Clone(recordedIDs)
	if rev >= 2 {
		ids[byKeyName], ids[rulesName] = "json:"+orderName, "json:"+orderName
	}
	seen := map[string]int{}
	check := func(name, value, schema, userKey, userKeySchema string) {
		seen[name]++
		if want, ok := ids[name]; !ok || value != want || schema == "" {
			t.Fatalf("golden state %q recorded with serializer %q (want %q) and schema %q", name, value, want, schema)
		}
		if (name == byKeyName || name == rulesName) && (userKey != "json:"+customerName || userKeySchema == "") {
			t.Fatalf("golden state %q recorded with user key serializer %q and schema %q", name, userKey, userKeySchema)
		}
	}
	for _, h := range o.Keyed {
		if h.KeySerializer != (serde.Int64{}).ID() {
			t.Fatalf("golden keyed state recorded with key serializer %q", h.KeySerializer)
		}
		for _, m := range h.States {
			check(m.Name, m.Value, m.Schema, m.UserKey, m.UserKeySchema)
		}
	}
	for _, h := range o.Operator {
		for _, m := range h.States {
			check(m.Name, m.Value, m.Schema, m.UserKey, m.UserKeySchema)
		}
	}
	for name := range ids {
		if seen[name] != 1 {
			t.Fatalf("golden state %q recorded %d times", name, seen[name])
		}
	}
}

// open restores the keyed backend with key serializer keySer and the operator backend.
func (g *golden) open(keySer string) (*restored, error) {
	ctx := context.Background()
	opts := keyedOptions()
	opts.KeySerializerID, opts.Restore, opts.Reader = keySer, g.m.Operators[0].Keyed, g.r
	l := slog.New(slog.NewJSONHandler(g.log, nil))
	b, err := g.restore(ctx, opts, g.t.TempDir(), l)
	if err != nil {
		return nil, err
	}
	g.t.Cleanup(func() { b.Close() })
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(g.t, err)
	oopts := operatorOptions()
	oopts.Restore, oopts.Reader, oopts.Logger = g.m.Operators[0].Operator, g.r, l
	ob, err := operator.New(ctx, oopts)
	must(g.t, err)
	g.t.Cleanup(func() { ob.Close() })
	return &restored{b: b, kb: kb, ob: ob}, nil
}

// evolution is one case: what a redeployed job registers against a golden checkpoint, and
// what it must get.
type evolution struct {
	name string
	run  func(t *testing.T, g *golden)
}

var evolutions = []evolution{
	{"same-type", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		checkNamed(t, r, func(o orderV1) orderV1 { return o }, func(o orderV1) orderV1 { return o })
		checkUnnamed(t, r, serde.JSON[orderV1]{}, func(o orderV1) orderV1 { return o })
	}},
	{"field-added", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		checkNamed(t, r, func(o orderAdded) orderV1 {
			if o.Currency != "" {
				t.Fatalf("restored %+v: the added field is not zero", o)
			}
			return orderV1{ID: o.ID, Amount: o.Amount, Note: o.Note}
		}, func(o orderV1) orderV1 { return o })
	}},
	{"field-removed", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		checkNamed(t, r, func(o orderRemoved) orderV1 { return orderV1{ID: o.ID, Amount: o.Amount} },
			func(o orderV1) orderV1 { return orderV1{ID: o.ID, Amount: o.Amount} })
	}},
	{"field-type-changed", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		for name, err := range registerAll[orderChanged](r) {
			wantIncompatible(t, err, fmt.Sprintf("%q", name), `field "Amount"`, "written as int64", "registered as string")
		}
		// Refused at registration, before any value was read: the old type still reads every
		// value.
		checkNamed(t, r, func(o orderV1) orderV1 { return o }, func(o orderV1) orderV1 { return o })
	}},
	{"renamed-type-with-alias", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		ser := serde.JSON[orderRenamed]{Name: "evolution.RenamedOrder", Aliases: []string{strings.TrimPrefix(unnamedID, "json:")}}
		checkUnnamed(t, r, ser, func(o orderRenamed) orderV1 { return orderV1(o) })
	}},
	{"renamed-type-without-alias", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		_, err := state.GetValueState(r.kb, state.ValueDescriptor[orderRenamed]{Name: unnamedName, Serializer: serde.JSON[orderRenamed]{}})
		wantIncompatible(t, err, fmt.Sprintf("%q", unnamedName), unnamedID, renamedID)
		checkUnnamed(t, r, serde.JSON[orderV1]{}, func(o orderV1) orderV1 { return o })
	}},
	{"key-serializer-changed", func(t *testing.T, g *golden) {
		const changed = "evolution.CustomerKey"
		_, err := g.open(changed)
		wantIncompatible(t, err, fmt.Sprintf("%q", serde.Int64{}.ID()), fmt.Sprintf("%q", changed))
	}},
}

// TestGoldenEvolution restores every golden checkpoint of every golden set (goldenSets) into each backend
// that reads it (the hashmap checkpoint and the savepoint into the other backend too) and
// registers each evolution of its state types.
func TestGoldenEvolution(t *testing.T) {
	for _, set := range goldenSets() {
		for _, k := range kinds {
			for _, restorer := range k.restorers {
				es := slices.Concat(evolutions, migrations)
				if set.revision >= 2 {
					es = append(es, userKeyed...) // the states they register are there since revision 2
				}
				for _, e := range es {
					t.Run(fmt.Sprintf("v%d-r%d/%s/%s-into-%s", set.format, set.revision, e.name, k.name, restorer), func(t *testing.T) {
						e.run(t, loadGolden(t, set, k, restorer))
					})
				}
			}
		}
	}
}

func openOK(t *testing.T, g *golden) *restored {
	t.Helper()
	r, err := g.open(serde.Int64{}.ID())
	must(t, err)
	return r
}

// namedStates are the states of the golden checkpoints under the named serializers,
// registered with a type T.
type namedStates[T any] struct {
	v, c state.ValueState[T]
	l    state.ListState[T]
	m    state.MapState[string, T]
	op   state.OperatorListState[T]
}

// registration is how the named states are registered with a type T: the serializers of
// the states the writer wrote with JSON (orders, orderlog, ordermap, oporders) and with CBOR
// (ordercbor), and the descriptors' migrations (nil: none).
type registration[T any] struct {
	json, cbor         serde.Serializer[T]
	fromJSON, fromCBOR *backend.Migration
}

// plain registers with the named JSON and CBOR serializers of T, without migrations.
func plain[T any]() registration[T] { return registration[T]{json: jsonOf[T](), cbor: cborOf[T]()} }

// registerStates registers the named states as reg says and returns each registration's
// error by state name; it sets the states of st that registered.
func registerStates[T any](r *restored, st *namedStates[T], reg registration[T]) map[string]error {
	errs := map[string]error{}
	var err error
	st.v, err = state.GetValueState(r.kb, state.ValueDescriptor[T]{Name: valueName, Serializer: reg.json, Migration: reg.fromJSON})
	errs[valueName] = err
	st.l, err = state.GetListState(r.kb, state.ListDescriptor[T]{Name: listName, Serializer: reg.json, Migration: reg.fromJSON})
	errs[listName] = err
	st.m, err = state.GetMapState(r.kb, state.MapDescriptor[string, T]{Name: mapName, ValueSerializer: reg.json, Migration: reg.fromJSON})
	errs[mapName] = err
	st.c, err = state.GetValueState(r.kb, state.ValueDescriptor[T]{Name: cborName, Serializer: reg.cbor, Migration: reg.fromCBOR})
	errs[cborName] = err
	st.op, err = state.GetOperatorListState(r.ob, state.ListDescriptor[T]{Name: opListName, Serializer: reg.json, Migration: reg.fromJSON})
	errs[opListName] = err
	return errs
}

// registerAll registers the named states with serializers of T, without the states.
func registerAll[T any](r *restored) map[string]error {
	return registerStates(r, &namedStates[T]{}, plain[T]())
}

// checkNamed registers the named states with serializers of T and checks that every value
// of every key, seen through view, is want of what the writer wrote.
func checkNamed[T any](t *testing.T, r *restored, view func(T) orderV1, want func(orderV1) orderV1) {
	t.Helper()
	checkRegistered(t, r, plain[T](), view, want)
}

// checkRegistered is checkNamed with the registration reg.
func checkRegistered[T any](t *testing.T, r *restored, reg registration[T], view func(T) orderV1, want func(orderV1) orderV1) {
	t.Helper()
	var st namedStates[T]
	for name, err := range registerStates(r, &st, reg) {
		if err != nil {
			t.Fatalf("register %q: %v", name, err)
		}
	}
	wants := func(os []orderV1) []orderV1 {
		out := make([]orderV1, len(os))
		for i, o := range os {
			out[i] = want(o)
		}
		return out
	}
	for k := range int64(numKeys) {
		must(t, r.kb.SetCurrentKey(k))
		if got, ok, err := st.v.Value(); err != nil || !ok || view(got) != want(order(k)) {
			t.Fatalf("key %d: %s = %+v, %v, %v; want %+v", k, valueName, got, ok, err, want(order(k)))
		}
		if got, ok, err := st.c.Value(); err != nil || !ok || view(got) != want(cborWant(k)) {
			t.Fatalf("key %d: %s = %+v, %v, %v; want %+v", k, cborName, got, ok, err, want(cborWant(k)))
		}
		var list []orderV1
		for o, err := range st.l.Get() {
			must(t, err)
			list = append(list, view(o))
		}
		if w := wants(listWant(k)); !reflect.DeepEqual(list, w) {
			t.Fatalf("key %d: %s = %+v; want %+v", k, listName, list, w)
		}
		m := map[string]orderV1{}
		for e, err := range st.m.All() {
			must(t, err)
			m[e.Key] = view(e.Value)
		}
		w := map[string]orderV1{}
		for uk, o := range mapWant(k) {
			w[uk] = want(o)
		}
		if !reflect.DeepEqual(m, w) {
			t.Fatalf("key %d: %s = %+v; want %+v", k, mapName, m, w)
		}
	}
	var ol []orderV1
	for o, err := range st.op.Get() {
		must(t, err)
		ol = append(ol, view(o))
	}
	if w := wants(opListWant()); !reflect.DeepEqual(ol, w) {
		t.Fatalf("%s = %+v; want %+v", opListName, ol, w)
	}
}

// checkUnnamed registers the state written by the unnamed JSON serializer with ser and checks
// every key's value, seen through view.
func checkUnnamed[T any](t *testing.T, r *restored, ser serde.Serializer[T], view func(T) orderV1) {
	t.Helper()
	v, err := state.GetValueState(r.kb, state.ValueDescriptor[T]{Name: unnamedName, Serializer: ser})
	must(t, err)
	for k := range int64(numKeys) {
		must(t, r.kb.SetCurrentKey(k))
		if got, ok, err := v.Value(); err != nil || !ok || view(got) != unnamedWant(k) {
			t.Fatalf("key %d: %s = %+v, %v, %v; want %+v", k, unnamedName, got, ok, err, unnamedWant(k))
		}
	}
}

// wantIncompatible fails unless err wraps backend.ErrIncompatibleSerializer and names each
// of want.
func wantIncompatible(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("err = %v, want %v", err, backend.ErrIncompatibleSerializer)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not name %s", err, w)
		}
	}
}

package backendtest

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// itemV1 is a state type as first deployed; the other item types are its later versions,
// all under one stable serializer name, so their serializer IDs are equal and only their
// schemas tell them apart.
type itemV1 struct {
	SKU  string `json:"sku"`
	Qty  int64  `json:"qty"`
	Note string `json:"note"`
}

// itemAdded adds a field.
type itemAdded struct {
	SKU   string  `json:"sku"`
	Qty   int64   `json:"qty"`
	Note  string  `json:"note"`
	Price float64 `json:"price"`
}

// itemRemoved drops the note.
type itemRemoved struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// itemChanged changes the quantity's type: recorded values cannot be read.
type itemChanged struct {
	SKU  string `json:"sku"`
	Qty  string `json:"qty"`
	Note string `json:"note"`
}

const itemName = "backendtest.item"

// schemaless is a JSON serializer without a schema (it does not implement
// serde.SchemaSerializer): state it writes is recorded as state was before schemas were
// recorded, under the same ID as serde.JSON[T]{Name: itemName}.
type schemaless[T any] struct{ s serde.JSON[T] }

func (l schemaless[T]) ID() string                             { return l.s.ID() }
func (l schemaless[T]) Append(dst []byte, v T) ([]byte, error) { return l.s.Append(dst, v) }
func (l schemaless[T]) Decode(src []byte) (T, error)           { return l.s.Decode(src) }

// itemStates are the three states an item test uses: a value (JSON), a list (JSON) and a map
// whose values are CBOR.
type itemStates[T any] struct {
	v state.ValueState[T]
	l state.ListState[T]
	m state.MapState[string, T]
}

// registerItems registers the item states over s with serializers of T.
func registerItems[T any](s *subtask, value, list serde.Serializer[T], mapValue serde.Serializer[T]) (itemStates[T], error) {
	var st itemStates[T]
	var err error
	if st.v, err = state.GetValueState(s.kb, state.ValueDescriptor[T]{Name: "item", Serializer: value}); err != nil {
		return st, err
	}
	if st.l, err = state.GetListState(s.kb, state.ListDescriptor[T]{Name: "itemlog", Serializer: list}); err != nil {
		return st, err
	}
	st.m, err = state.GetMapState(s.kb, state.MapDescriptor[string, T]{Name: "itemmap", ValueSerializer: mapValue})
	return st, err
}

func jsonItem[T any]() serde.JSON[T] { return serde.JSON[T]{Name: itemName} }
func cborItem[T any]() serde.CBOR[T] { return serde.CBOR[T]{Name: itemName} }

// writeItems writes n keys of the item states with serializers of itemV1 (without schemas
// when legacy) and returns the checkpoint's handles.
func writeItems(t *testing.T, f Factory, n int64, savepoint, legacy bool) (*env, []*snapshot.KeyedStateHandle) {
	e, s := single(t, f)
	var st itemStates[itemV1]
	var err error
	if legacy {
		st, err = registerItems[itemV1](s, schemaless[itemV1]{jsonItem[itemV1]()}, schemaless[itemV1]{jsonItem[itemV1]()}, cborItem[itemV1]())
	} else {
		st, err = registerItems[itemV1](s, jsonItem[itemV1](), jsonItem[itemV1](), cborItem[itemV1]())
	}
	must(t, err)
	for k := range n {
		setKey(t, s, k)
		it := itemV1{SKU: fmt.Sprint("sku", k), Qty: k, Note: "n"}
		must(t, st.v.Update(it))
		must(t, st.l.Add(it))
		must(t, st.m.Put("a", it))
	}
	hs := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Savepoint: savepoint})
	s.b.Close()
	return e, hs
}

// checkItems reads n keys of the item states through read, which maps a read value to the
// fields both versions have.
func checkItems[T any](t *testing.T, s *subtask, st itemStates[T], n int64, read func(T) (sku string, qty int64)) {
	t.Helper()
	for k := range n {
		setKey(t, s, k)
		wantSKU := fmt.Sprint("sku", k)
		v, ok := get[T](t, st.v)
		if sku, qty := read(v); !ok || sku != wantSKU || qty != k {
			t.Fatalf("key %d: value %+v, %v", k, v, ok)
		}
		var l []T
		for x, err := range st.l.Get() {
			must(t, err)
			l = append(l, x)
		}
		if len(l) != 1 {
			t.Fatalf("key %d: list %+v", k, l)
		}
		if sku, qty := read(l[0]); sku != wantSKU || qty != k {
			t.Fatalf("key %d: list %+v", k, l)
		}
		m, ok, err := st.m.Get("a")
		must(t, err)
		if sku, qty := read(m); !ok || sku != wantSKU || qty != k {
			t.Fatalf("key %d: map value %+v, %v", k, m, ok)
		}
	}
}

// checkSchemaRecorded fails unless every handle recording state name records schema want,
// and one does.
func checkSchemaRecorded(t *testing.T, hs []*snapshot.KeyedStateHandle, name, want string) {
	t.Helper()
	found := false
	for _, h := range hs {
		for _, m := range h.States {
			if m.Name == name {
				found = true
				if m.Schema != want {
					t.Fatalf("state %q recorded with schema %q, want %q", name, m.Schema, want)
				}
			}
		}
	}
	if !found {
		t.Fatalf("state %q not recorded in %d handles", name, len(hs))
	}
}

// testSchemaSame: struct state records its serializer's schema in every checkpoint and
// restores with the same type as is.
func testSchemaSame(t *testing.T, f Factory) {
	for _, savepoint := range []bool{false, true} {
		e, hs := writeItems(t, f, 20, savepoint, false)
		checkSchemaRecorded(t, hs, "item", jsonItem[itemV1]().Schema().String())
		checkSchemaRecorded(t, hs, "itemmap", cborItem[itemV1]().Schema().String())
		r := e.open(1, hs)[0]
		st, err := registerItems[itemV1](r, jsonItem[itemV1](), jsonItem[itemV1](), cborItem[itemV1]())
		must(t, err)
		checkItems(t, r, st, 20, func(v itemV1) (string, int64) { return v.SKU, v.Qty })
		r.b.Close()
	}
}

// testSchemaAddedField: a field added to the type is compatible: recorded values read it as
// its zero value, and the next checkpoint records the new schema.
func testSchemaAddedField(t *testing.T, f Factory) {
	for _, savepoint := range []bool{false, true} {
		e, hs := writeItems(t, f, 20, savepoint, false)
		r := e.open(1, hs)[0]
		st, err := registerItems[itemAdded](r, jsonItem[itemAdded](), jsonItem[itemAdded](), cborItem[itemAdded]())
		must(t, err)
		checkItems(t, r, st, 20, func(v itemAdded) (string, int64) {
			if v.Price != 0 || v.Note != "n" {
				t.Fatalf("restored value with an added field: %+v", v)
			}
			return v.SKU, v.Qty
		})
		setKey(t, r, 100)
		must(t, st.v.Update(itemAdded{SKU: "new", Price: 2.5}))
		next := e.checkpoint([]*subtask{r}, backend.SnapshotOptions{Savepoint: savepoint})
		checkSchemaRecorded(t, next, "item", jsonItem[itemAdded]().Schema().String())
		checkSchemaRecorded(t, next, "itemmap", cborItem[itemAdded]().Schema().String())
		r.b.Close()
		r2 := e.open(1, next)[0]
		v, err := state.GetValueState(r2.kb, state.ValueDescriptor[itemAdded]{Name: "item", Serializer: jsonItem[itemAdded]()})
		must(t, err)
		setKey(t, r2, 100)
		if got, _ := get[itemAdded](t, v); got.Price != 2.5 {
			t.Fatalf("value written with the added field: %+v", got)
		}
		r2.b.Close()
	}
}

// testSchemaRemovedField: a field removed from the type is compatible: recorded values are
// read without it (the backend logs the dropped field), and the next checkpoint records the
// new schema.
func testSchemaRemovedField(t *testing.T, f Factory) {
	for _, savepoint := range []bool{false, true} {
		e, hs := writeItems(t, f, 20, savepoint, false)
		r := e.open(1, hs)[0]
		st, err := registerItems[itemRemoved](r, jsonItem[itemRemoved](), jsonItem[itemRemoved](), cborItem[itemRemoved]())
		must(t, err)
		checkItems(t, r, st, 20, func(v itemRemoved) (string, int64) { return v.SKU, v.Qty })
		next := e.checkpoint([]*subtask{r}, backend.SnapshotOptions{Savepoint: savepoint})
		checkSchemaRecorded(t, next, "item", jsonItem[itemRemoved]().Schema().String())
		r.b.Close()
	}
}

// testSchemaChangedType: a field whose type changed (int64 → string) under the same
// serializer ID is refused when the state is registered, on every backend and for every
// state kind, with ErrIncompatibleSerializer naming the state, the field, both types and
// the fix, before any value is read; the old type still registers afterwards. A registration
// in the same backend with a changed type is refused alike.
func testSchemaChangedType(t *testing.T, f Factory) {
	for _, savepoint := range []bool{false, true} {
		e, hs := writeItems(t, f, 20, savepoint, false)
		r := e.open(1, hs)[0]
		_, err := state.GetValueState(r.kb, state.ValueDescriptor[itemChanged]{Name: "item", Serializer: jsonItem[itemChanged]()})
		wantIncompatible(t, err, `"item"`, `"qty"`, "int64", "string", "keep the old type, or register the state under a new name")
		_, err = state.GetListState(r.kb, state.ListDescriptor[itemChanged]{Name: "itemlog", Serializer: jsonItem[itemChanged]()})
		wantIncompatible(t, err, `"itemlog"`, `"qty"`, "int64", "string")
		_, err = state.GetMapState(r.kb, state.MapDescriptor[string, itemChanged]{Name: "itemmap", ValueSerializer: cborItem[itemChanged]()})
		wantIncompatible(t, err, `"itemmap"`, `"qty"`, "int64", "string")
		st, err := registerItems[itemV1](r, jsonItem[itemV1](), jsonItem[itemV1](), cborItem[itemV1]())
		must(t, err)
		checkItems(t, r, st, 20, func(v itemV1) (string, int64) { return v.SKU, v.Qty })
		_, err = state.GetValueState(r.kb, state.ValueDescriptor[itemChanged]{Name: "item", Serializer: jsonItem[itemChanged]()})
		wantIncompatible(t, err, `"item"`, `"qty"`, "int64", "string")
		r.b.Close()
	}
}

// testSchemaOldFormat: state recorded without a schema (as before schemas were recorded:
// the serializer ID alone) restores with a serializer that has one, as is; the next
// checkpoint records the schema, and from then on a changed field type is refused.
func testSchemaOldFormat(t *testing.T, f Factory) {
	for _, savepoint := range []bool{false, true} {
		e, hs := writeItems(t, f, 20, savepoint, true)
		checkSchemaRecorded(t, hs, "item", "")
		r := e.open(1, hs)[0]
		st, err := registerItems[itemV1](r, jsonItem[itemV1](), jsonItem[itemV1](), cborItem[itemV1]())
		must(t, err)
		checkItems(t, r, st, 20, func(v itemV1) (string, int64) { return v.SKU, v.Qty })
		next := e.checkpoint([]*subtask{r}, backend.SnapshotOptions{Savepoint: savepoint})
		checkSchemaRecorded(t, next, "item", jsonItem[itemV1]().Schema().String())
		r.b.Close()
		r2 := e.open(1, next)[0]
		_, err = state.GetValueState(r2.kb, state.ValueDescriptor[itemChanged]{Name: "item", Serializer: jsonItem[itemChanged]()})
		wantIncompatible(t, err, `"item"`, `"qty"`, "int64", "string")
		r2.b.Close()
	}
}

// CheckEvolutionLogged checks that a backend logs, on the logger it was created with, the
// fields a registration drops (a warning naming each state and field) and adds, and logs
// no evolution when the schema is the same (other lines, such as Pebble's, are ignored).
// logged returns a Factory whose backends log on l.
func CheckEvolutionLogged(t *testing.T, logged func(l *slog.Logger) Factory) {
	var buf bytes.Buffer
	f := logged(slog.New(slog.NewTextHandler(&buf, nil)))
	e, hs := writeItems(t, f, 5, false, false)
	r := e.open(1, hs)[0]
	st, err := registerItems[itemV1](r, jsonItem[itemV1](), jsonItem[itemV1](), cborItem[itemV1]())
	must(t, err)
	checkItems(t, r, st, 5, func(v itemV1) (string, int64) { return v.SKU, v.Qty })
	r.b.Close()
	if out := buf.String(); strings.Contains(out, "droppedFields") || strings.Contains(out, "addedFields") {
		t.Fatalf("a registration with the recorded schema logged an evolution: %s", out)
	}
	r = e.open(1, hs)[0]
	_, err = registerItems[itemRemoved](r, jsonItem[itemRemoved](), jsonItem[itemRemoved](), cborItem[itemRemoved]())
	must(t, err)
	r.b.Close()
	out := buf.String()
	for _, name := range []string{"item", "itemlog", "itemmap"} {
		if !strings.Contains(out, `state \"`+name+`\"`) {
			t.Errorf("log does not name state %q:\n%s", name, out)
		}
	}
	if strings.Count(out, "droppedFields=[note]") != 3 || strings.Count(out, `level=WARN msg="state registered with a serializer whose schema drops`) != 3 {
		t.Errorf("want one warning per state naming the dropped field; log:\n%s", out)
	}
}

// itemNoteInt reads a state recorded as itemRemoved (no note), not one recorded as itemV1.
type itemNoteInt struct {
	SKU  string `json:"sku"`
	Qty  int64  `json:"qty"`
	Note int64  `json:"note"`
}

// testSchemaPartlyRegisteredRescale: after a restore, a subtask that registered a state with
// an evolved schema records the new schema and one that did not still records the old one;
// a rescale merges both, and the registering serializer must read both schemas: a changed
// field type against either is refused, a compatible one reads every key.
func testSchemaPartlyRegisteredRescale(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(2, nil)
	for k := range int64(20) {
		s := route(subs, k)
		v, err := state.GetValueState(s.kb, state.ValueDescriptor[itemV1]{Name: "item", Serializer: jsonItem[itemV1]()})
		must(t, err)
		setKey(t, s, k)
		must(t, v.Update(itemV1{SKU: fmt.Sprint("sku", k), Qty: k, Note: "n"}))
	}
	old := e.checkpoint(subs, backend.SnapshotOptions{})
	closeAll(subs)
	subs = e.open(2, old)
	_, err := state.GetValueState(subs[0].kb, state.ValueDescriptor[itemRemoved]{Name: "item", Serializer: jsonItem[itemRemoved]()})
	must(t, err)
	mixed := e.snapshot(subs, backend.SnapshotOptions{})
	checkSchemaRecorded(t, mixed[:1], "item", jsonItem[itemRemoved]().Schema().String())
	checkSchemaRecorded(t, mixed[1:], "item", jsonItem[itemV1]().Schema().String())
	closeAll(subs)

	r := e.open(1, handlesOf(mixed))[0]
	_, err = state.GetValueState(r.kb, state.ValueDescriptor[itemChanged]{Name: "item", Serializer: jsonItem[itemChanged]()})
	wantIncompatible(t, err, `"item"`, `"qty"`, "int64", "string")
	// Compatible with the first subtask's schema, not with the second's.
	_, err = state.GetValueState(r.kb, state.ValueDescriptor[itemNoteInt]{Name: "item", Serializer: jsonItem[itemNoteInt]()})
	wantIncompatible(t, err, `"item"`, `"note"`, "string", "int64")
	v, err := state.GetValueState(r.kb, state.ValueDescriptor[itemRemoved]{Name: "item", Serializer: jsonItem[itemRemoved]()})
	must(t, err)
	for k := range int64(20) {
		setKey(t, r, k)
		if got, ok := get[itemRemoved](t, v); !ok || got != (itemRemoved{SKU: fmt.Sprint("sku", k), Qty: k}) {
			t.Fatalf("key %d after a rescale merging two schemas: %+v, %v", k, got, ok)
		}
	}
	checkSchemaRecorded(t, e.checkpoint([]*subtask{r}, backend.SnapshotOptions{}), "item", jsonItem[itemRemoved]().Schema().String())
	r.b.Close()
}

package backendtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// orderV1 and orderV2 are one state type before and after a rename: the same fields, so the
// same JSON bytes, under another Go type name.
type orderV1 struct {
	ID   int64
	Item string
}

type orderV2 struct {
	ID   int64
	Item string
}

const (
	orderOldID = "json:backendtest.orderV1" // what serde.Of[orderV1]() records
	orderName  = "backendtest.order"
	orderNewID = "json:" + orderName
)

// renamed is the serializer of orderV2 with a stable name that reads state recorded by
// serde.Of[orderV1]().
var renamed = serde.JSON[orderV2]{Name: orderName, Aliases: []string{"backendtest.orderV1"}}

// testRenamedType: state written by a serializer whose ID was a Go type name restores with a
// serializer of the renamed type that declares that ID as an alias, as is, for values, map
// values and map user keys, in full and in the backend's checkpoint format; the next
// checkpoint records the new ID. Without the alias the registration fails with
// ErrIncompatibleSerializer naming the state, both IDs and the fix.
func testRenamedType(t *testing.T, f Factory) {
	for _, savepoint := range []bool{false, true} {
		e, s := single(t, f)
		v, err := state.GetValueState(s.kb, state.ValueDescriptor[orderV1]{Name: "order"})
		must(t, err)
		m, err := state.GetMapState(s.kb, state.MapDescriptor[orderV1, orderV1]{Name: "orders"})
		must(t, err)
		for k := range int64(20) {
			setKey(t, s, k)
			must(t, v.Update(orderV1{ID: k, Item: "book"}))
			must(t, m.Put(orderV1{ID: k}, orderV1{ID: k, Item: "pen"}))
		}
		old := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Savepoint: savepoint})
		checkRecorded(t, old, "order", orderOldID, "")
		checkRecorded(t, old, "orders", orderOldID, orderOldID)

		// Without an alias: refused, naming the state, both IDs and the fix.
		r := e.open(1, old)[0]
		_, err = state.GetValueState(r.kb, state.ValueDescriptor[orderV2]{Name: "order"})
		wantIncompatible(t, err, "order", orderOldID, "json:backendtest.orderV2", `Aliases: []string{"backendtest.orderV1"}`)
		_, err = state.GetMapState(r.kb, state.MapDescriptor[orderV2, orderV2]{Name: "orders", KeySerializer: renamed})
		wantIncompatible(t, err, "orders", orderOldID, "json:backendtest.orderV2")
		_, err = state.GetMapState(r.kb, state.MapDescriptor[orderV2, orderV2]{Name: "orders", ValueSerializer: renamed})
		wantIncompatible(t, err, "orders", "user key", orderOldID, "json:backendtest.orderV2")

		// With the alias: restored as is (after the failed attempts).
		v2, err := state.GetValueState(r.kb, state.ValueDescriptor[orderV2]{Name: "order", Serializer: renamed})
		must(t, err)
		m2, err := state.GetMapState(r.kb, state.MapDescriptor[orderV2, orderV2]{Name: "orders", KeySerializer: renamed, ValueSerializer: renamed})
		must(t, err)
		checkOrders(t, r, v2, m2, 20)
		setKey(t, r, 100)
		must(t, v2.Update(orderV2{ID: 100, Item: "new"}))
		must(t, m2.Put(orderV2{ID: 100}, orderV2{ID: 100, Item: "new"}))

		// Later checkpoints record the new ID: the old serializer no longer fits, the new one
		// does without its aliases.
		next := e.checkpoint([]*subtask{r}, backend.SnapshotOptions{Savepoint: savepoint})
		checkRecorded(t, next, "order", orderNewID, "")
		checkRecorded(t, next, "orders", orderNewID, orderNewID)
		r2 := e.open(1, next)[0]
		_, err = state.GetValueState(r2.kb, state.ValueDescriptor[orderV1]{Name: "order"})
		wantIncompatible(t, err, "order", orderNewID, orderOldID)
		plain := serde.JSON[orderV2]{Name: orderName}
		v3, err := state.GetValueState(r2.kb, state.ValueDescriptor[orderV2]{Name: "order", Serializer: plain})
		must(t, err)
		m3, err := state.GetMapState(r2.kb, state.MapDescriptor[orderV2, orderV2]{Name: "orders", KeySerializer: plain, ValueSerializer: plain})
		must(t, err)
		checkOrders(t, r2, v3, m3, 20)
		setKey(t, r2, 100)
		if got, _ := get[orderV2](t, v3); got.Item != "new" {
			t.Fatalf("value written after the alias restore = %+v", got)
		}
		closeAll([]*subtask{s, r, r2})
	}
}

// testRenamedRegistered: a descriptor registered again, in the same backend, with a renamed
// serializer that declares the first one's ID as an alias gets the same state.
func testRenamedRegistered(t *testing.T, f Factory) {
	_, s := single(t, f)
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[orderV1]{Name: "order"})
	must(t, err)
	setKey(t, s, 1)
	must(t, v.Update(orderV1{ID: 1, Item: "book"}))
	if _, err := state.GetValueState(s.kb, state.ValueDescriptor[orderV2]{Name: "order"}); !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("registered again with another type, no alias: %v", err)
	}
	if _, err := state.GetValueState(s.kb, state.ValueDescriptor[orderV2]{Name: "order", Serializer: renamed}); err != nil {
		t.Fatalf("registered again with an alias of the first serializer: %v", err)
	}
}

// testRenamedPartlyRegistered: after a restore under an alias, a subtask that registered the
// state records the new ID and one that did not still records the old one; a rescale merges
// both, and the registering descriptor must read both IDs: with the alias it gets every key,
// without it the registration fails.
func testRenamedPartlyRegistered(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(2, nil)
	for k := range int64(20) {
		s := route(subs, k)
		v, err := state.GetValueState(s.kb, state.ValueDescriptor[orderV1]{Name: "order"})
		must(t, err)
		m, err := state.GetMapState(s.kb, state.MapDescriptor[orderV1, orderV1]{Name: "orders"})
		must(t, err)
		setKey(t, s, k)
		must(t, v.Update(orderV1{ID: k, Item: "book"}))
		must(t, m.Put(orderV1{ID: k}, orderV1{ID: k, Item: "pen"}))
	}
	old := e.checkpoint(subs, backend.SnapshotOptions{})
	closeAll(subs)
	subs = e.open(2, old)
	_, err := state.GetValueState(subs[0].kb, state.ValueDescriptor[orderV2]{Name: "order", Serializer: renamed})
	must(t, err)
	_, err = state.GetMapState(subs[0].kb, state.MapDescriptor[orderV2, orderV2]{Name: "orders", KeySerializer: renamed, ValueSerializer: renamed})
	must(t, err)
	mixed := e.snapshot(subs, backend.SnapshotOptions{})
	checkRecorded(t, mixed[:1], "order", orderNewID, "")
	checkRecorded(t, mixed[1:], "order", orderOldID, "")
	closeAll(subs)

	r := e.open(1, handlesOf(mixed))[0]
	plain := serde.JSON[orderV2]{Name: orderName}
	_, err = state.GetValueState(r.kb, state.ValueDescriptor[orderV2]{Name: "order", Serializer: plain})
	wantIncompatible(t, err, "order", orderOldID, orderNewID)
	_, err = state.GetMapState(r.kb, state.MapDescriptor[orderV2, orderV2]{Name: "orders", KeySerializer: plain, ValueSerializer: plain})
	wantIncompatible(t, err, "orders", orderOldID, orderNewID)
	v, err := state.GetValueState(r.kb, state.ValueDescriptor[orderV2]{Name: "order", Serializer: renamed})
	must(t, err)
	m, err := state.GetMapState(r.kb, state.MapDescriptor[orderV2, orderV2]{Name: "orders", KeySerializer: renamed, ValueSerializer: renamed})
	must(t, err)
	checkOrders(t, r, v, m, 20)
	checkRecorded(t, e.checkpoint([]*subtask{r}, backend.SnapshotOptions{}), "orders", orderNewID, orderNewID)
	r.b.Close()
}

// aliasedInt64 is serde.Int64 renamed: the same bytes for every key, declared by an alias.
type aliasedInt64 struct{ serde.Int64 }

func (aliasedInt64) ID() string         { return "backendtest.key" }
func (aliasedInt64) AliasIDs() []string { return []string{keySer} }

// testKeySerializerAlias: keys written by one key serializer restore with another only when
// it declares the first one's ID as an alias (serde.Aliased promises the same bytes, so the
// same key groups); then every key keeps its state and later checkpoints record the new ID.
// Without the alias the restore fails with ErrIncompatibleSerializer saying why.
func testKeySerializerAlias(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(2, nil)
	fill(t, subs, 50)
	old := e.checkpoint(subs, backend.SnapshotOptions{})
	closeAll(subs)
	key := aliasedInt64{}
	open := func(aliases []string, restore []*snapshot.KeyedStateHandle, rng keygroup.Range) (*subtask, error) {
		b, err := e.f(e.t, backend.Options{OperatorID: "op", MaxParallelism: MaxP, KeyGroupRange: rng,
			KeySerializerID: key.ID(), KeySerializerAliases: aliases, Restore: restore, Reader: e.counter})
		if err != nil {
			return nil, err
		}
		kb, err := state.NewKeyedBackend[int64](b, key)
		must(t, err)
		return &subtask{b: b, kb: kb}, nil
	}
	all := keygroup.Range{Start: 0, End: MaxP - 1}
	_, err := open(nil, old, all)
	wantIncompatible(t, err, keySer, key.ID(), "key group")
	r, err := open(serde.AliasIDs(key), old, all)
	must(t, err)
	v, err := state.GetValueState(r.kb, valueDesc)
	must(t, err)
	for k := range int64(50) {
		setKey(t, r, k)
		if got, ok := get[string](t, v); !ok || got != fmt.Sprint("v", k) {
			t.Fatalf("key %d after a restore under the key serializer's alias: %q, %v", k, got, ok)
		}
	}
	next := e.checkpoint([]*subtask{r}, backend.SnapshotOptions{})
	for _, h := range next {
		if h.KeySerializer != key.ID() {
			t.Fatalf("checkpoint after an alias restore records key serializer %q, want %q", h.KeySerializer, key.ID())
		}
	}
	r.b.Close()
	r2, err := open(nil, next, keygroup.Range{Start: 0, End: MaxP/2 - 1}) // rescaled, no alias needed
	must(t, err)
	r2.b.Close()
	// The old key serializer, without an alias of the new ID, is refused.
	err = e.restoreErr(next, all)
	wantIncompatible(t, err, key.ID(), keySer)
	// state.NewKeyedBackend compares the job's key serializer with the backend's, strictly.
	if _, err := state.NewKeyedBackend[int64](r2.b, serde.Int64{}); !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("NewKeyedBackend with the aliased key serializer: %v", err)
	}
}

// checkRecorded fails unless every handle that records state name records it with the given
// serializer IDs, and at least one does.
func checkRecorded(t *testing.T, hs []*snapshot.KeyedStateHandle, name, value, userKey string) {
	t.Helper()
	found := false
	for _, h := range hs {
		for _, m := range h.States {
			if m.Name != name {
				continue
			}
			found = true
			if m.Value != value || m.UserKey != userKey {
				t.Fatalf("state %q recorded with serializers %q, %q; want %q, %q", name, m.Value, m.UserKey, value, userKey)
			}
		}
	}
	if !found {
		t.Fatalf("state %q not recorded in %d handles", name, len(hs))
	}
}

func checkOrders(t *testing.T, s *subtask, v state.ValueState[orderV2], m state.MapState[orderV2, orderV2], n int64) {
	t.Helper()
	for k := range n {
		setKey(t, s, k)
		if got, ok := get[orderV2](t, v); !ok || got != (orderV2{ID: k, Item: "book"}) {
			t.Fatalf("key %d: value %+v, %v", k, got, ok)
		}
		got, ok, err := m.Get(orderV2{ID: k})
		must(t, err)
		if !ok || got != (orderV2{ID: k, Item: "pen"}) {
			t.Fatalf("key %d: map value %+v, %v", k, got, ok)
		}
	}
}

// wantIncompatible fails unless err wraps ErrIncompatibleSerializer and names each of want.
func wantIncompatible(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("err = %v, want %v", err, state.ErrIncompatibleSerializer)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not name %q", err, w)
		}
	}
}

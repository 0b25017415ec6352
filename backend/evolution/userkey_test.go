package evolution_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// customerV1 is the struct user key of the states of revision 2 of the golden sets. It must
// never change: the golden checkpoints record its schema.
type customerV1 struct {
	Region string
	ID     int64
}

// The later versions of customerV1 a redeployed job registers.
type (
	// customerChanged changes ID's type.
	customerChanged struct {
		Region string
		ID     string
	}
	// customerAdded adds a field, which changes every key's encoding.
	customerAdded struct {
		Region string
		ID     int64
		Tier   string
	}
)

const (
	// customerName is the stable name of the user key serializers.
	customerName = "evolution.Customer"
	// byKeyName is the keyed map state with customerV1 user keys, rulesName the broadcast
	// state with customerV1 keys; both have orderV1 values under the named JSON serializer.
	byKeyName = "orderbykey"
	rulesName = "rules"
)

func customerKey[K any]() serde.JSON[K] { return serde.JSON[K]{Name: customerName} }

// Per key k the writer wrote orderbykey = {eu/k: order(k+6000), us/k: order(k+7000)}, and
// rules = {eu/1: order(8000), us/2: order(8001)}.
func byKeyWant(k int64) map[customerV1]orderV1 {
	return map[customerV1]orderV1{{"eu", k}: order(k + 6000), {"us", k}: order(k + 7000)}
}

func rulesWant() map[customerV1]orderV1 {
	return map[customerV1]orderV1{{"eu", 1}: order(8000), {"us", 2}: order(8001)}
}

// writeUserKeyed writes the states of revision 2 (see goldenRevision).
func writeUserKeyed(t *testing.T, kb *state.KeyedBackend[int64], ob *operator.Backend) {
	m, err := state.GetMapState(kb, state.MapDescriptor[customerV1, orderV1]{Name: byKeyName, KeySerializer: customerKey[customerV1](), ValueSerializer: jsonOf[orderV1]()})
	must(t, err)
	for k := range int64(numKeys) {
		must(t, kb.SetCurrentKey(k))
		for uk, o := range byKeyWant(k) {
			must(t, m.Put(uk, o))
		}
	}
	r, err := state.GetBroadcastState(ob, state.MapDescriptor[customerV1, orderV1]{Name: rulesName, KeySerializer: customerKey[customerV1](), ValueSerializer: jsonOf[orderV1]()})
	must(t, err)
	for uk, o := range rulesWant() {
		must(t, r.Put(uk, o))
	}
}

// checkUserKeyed registers the states of revision 2 with user keys customerV1 and values of
// V (read through reg's JSON serializer and migration), and checks every entry, seen
// through view.
func checkUserKeyed[V any](t *testing.T, r *restored, reg registration[V], view func(V) orderV1) {
	t.Helper()
	m, err := state.GetMapState(r.kb, state.MapDescriptor[customerV1, V]{Name: byKeyName, KeySerializer: customerKey[customerV1](),
		ValueSerializer: reg.json, Migration: reg.fromJSON})
	must(t, err)
	b, err := state.GetBroadcastState(r.ob, state.MapDescriptor[customerV1, V]{Name: rulesName, KeySerializer: customerKey[customerV1](),
		ValueSerializer: reg.json, Migration: reg.fromJSON})
	must(t, err)
	for k := range int64(numKeys) {
		must(t, r.kb.SetCurrentKey(k))
		want := byKeyWant(k)
		for uk, o := range want {
			// A Get encodes the user key: it finds the recorded entry only if the encoding is
			// the recorded one.
			if got, ok, err := m.Get(uk); err != nil || !ok || view(got) != o {
				t.Fatalf("key %d: %s[%+v] = %+v, %v, %v; want %+v", k, byKeyName, uk, got, ok, err, o)
			}
		}
		got := map[customerV1]orderV1{}
		for e, err := range m.All() {
			must(t, err)
			got[e.Key] = view(e.Value)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("key %d: %s = %+v; want %+v", k, byKeyName, got, want)
		}
	}
	for uk, o := range rulesWant() {
		if got, ok, err := b.Get(uk); err != nil || !ok || view(got) != o {
			t.Fatalf("%s[%+v] = %+v, %v, %v; want %+v", rulesName, uk, got, ok, err, o)
		}
	}
}

// userKeyed are the evolutions of the states with struct user keys (revision 2 and later).
var userKeyed = []evolution{
	{"user-key-same-type", func(t *testing.T, g *golden) {
		checkUserKeyed(t, openOK(t, g), plain[orderV1](), identity)
	}},
	{"user-key-field-type-changed", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		_, err := state.GetMapState(r.kb, state.MapDescriptor[customerChanged, orderV1]{Name: byKeyName, KeySerializer: customerKey[customerChanged](), ValueSerializer: jsonOf[orderV1]()})
		wantIncompatible(t, err, fmt.Sprintf("%q", byKeyName), `user key field "ID" was written as int64 and is registered as string`)
		_, err = state.GetBroadcastState(r.ob, state.MapDescriptor[customerChanged, orderV1]{Name: rulesName, KeySerializer: customerKey[customerChanged](), ValueSerializer: jsonOf[orderV1]()})
		wantIncompatible(t, err, fmt.Sprintf("%q", rulesName), `user key field "ID" was written as int64 and is registered as string`)
		checkUserKeyed(t, r, plain[orderV1](), identity)
	}},
	{"user-key-field-added", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		_, err := state.GetMapState(r.kb, state.MapDescriptor[customerAdded, orderV1]{Name: byKeyName, KeySerializer: customerKey[customerAdded](), ValueSerializer: jsonOf[orderV1]()})
		wantIncompatible(t, err, fmt.Sprintf("%q", byKeyName), `user key field "Tier" was added`, "found by their user key's encoding")
		_, err = state.GetBroadcastState(r.ob, state.MapDescriptor[customerAdded, orderV1]{Name: rulesName, KeySerializer: customerKey[customerAdded](), ValueSerializer: jsonOf[orderV1]()})
		wantIncompatible(t, err, fmt.Sprintf("%q", rulesName), `user key field "Tier" was added`)
		checkUserKeyed(t, r, plain[orderV1](), identity)
	}},
	{"user-keyed-value-migration", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		reg := registration[orderChanged]{json: jsonOf[orderChanged](), fromJSON: state.MigrateFrom(jsonOf[orderV1](), toChanged)}
		_, err := state.GetMapState(r.kb, state.MapDescriptor[customerV1, orderChanged]{Name: byKeyName, KeySerializer: customerKey[customerV1](),
			ValueSerializer: reg.json, Migration: reg.fromJSON})
		must(t, err)
		checkUserKeyed(t, r, reg, viewChanged)
	}},
}

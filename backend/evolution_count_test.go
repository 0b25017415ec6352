package backend_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state/ttl"
)

type acctNoOwner struct {
	ID      int64 `json:"id"`
	Balance int64 `json:"balance"`
}

// TestEvolutionCount: a registration that drops fields counts, over the recorded values, how
// many carried each dropped field: through TTL stamps, across the schemas of a merged
// restore (a value counts once per field), skipping values it cannot scan; and it counts
// nothing for a serializer whose encoding it cannot scan.
func TestEvolutionCount(t *testing.T) {
	enc := func(stamp bool, v any) []byte {
		b, err := serde.Erase[any](serde.JSON[any]{}).AppendAny(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if stamp {
			b = append(backend.AppendStamp(nil, 42), b...)
		}
		return b
	}
	values := func(stamp bool) [][]byte {
		return [][]byte{
			enc(stamp, map[string]any{"id": 1, "owner": "ann", "balance": 5}),
			enc(stamp, map[string]any{"id": 2, "owner": nil, "balance": 5}), // null carries nothing
			enc(stamp, map[string]any{"id": 3, "balance": 5, "currency": "EUR"}),
			enc(stamp, map[string]any{"id": 4, "owner": "bob", "currency": "EUR"}),
		}
	}
	var c backend.Schemas
	for _, stamped := range []bool{false, true} {
		sp := spec[acctNoOwner]("a")
		rec := []snapshot.StateMeta{recorded[acct]("a"), recorded[acctEvolved]("a")}
		if stamped {
			sp.TTL = &ttl.Config{TTL: 1000}
			for i := range rec {
				rec[i].TTL = "processing"
			}
		}
		ev, _, err := backend.CheckRegistration("op", sp, &c, &backend.Clock{}, rec...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ev.Removed, []string{"owner", "currency"}) || !ev.Counting() {
			t.Fatalf("stamped %v: removed %q, counting %v", stamped, ev.Removed, ev.Counting())
		}
		for _, v := range values(stamped) {
			ev.Count(v)
		}
		ev.Count([]byte(`{"id":`)) // not JSON: skipped
		if ev.Counted != 4 || !slices.Equal(ev.Carried, []int64{2, 2}) {
			t.Fatalf("stamped %v: counted %d, carried %v; want 4, [2 2]", stamped, ev.Counted, ev.Carried)
		}
	}

	plain := backend.Spec{Name: "a", Kind: backend.KindValue, Value: serde.Erase[acctChanged](noSchemaAcct{serde.JSON[acctChanged]{Name: "acct"}})}
	ev, _, err := backend.CheckRegistration("op", plain, &c, nil, recorded[acct]("a"))
	if err != nil {
		t.Fatal(err)
	}
	ev.Removed = []string{"owner"} // as if it had a schema: still not scannable
	if ev.Counting() {
		t.Fatal("counting without a scannable serializer")
	}
}

// noSchemaAcct has the ID of serde.JSON[acctChanged]{Name: "acct"}, no schema and an
// encoding Carried does not know.
type noSchemaAcct struct{ serde.JSON[acctChanged] }

func (noSchemaAcct) Schema() *serde.Schema { return nil }

type userKey struct {
	Region string `json:"region"`
	ID     int64  `json:"id"`
}

type userKeyRetyped struct {
	Region string `json:"region"`
	ID     string `json:"id"`
}

// TestUserKeySchema: a map state's user key schema is recorded (Schemas.Meta) and must be
// the recorded one: a changed field type, or a field more or less, is refused naming the
// field; a user key recorded without a schema is checked by its ID.
func TestUserKeySchema(t *testing.T) {
	var c backend.Schemas
	mapSpec := func(uk serde.Erased) backend.Spec {
		return backend.Spec{Name: "m", Kind: backend.KindMap, Value: serde.Erase[int64](serde.Int64{}), UserKey: uk}
	}
	orig := mapSpec(serde.Erase[userKey](serde.JSON[userKey]{Name: "k"}))
	meta := c.Meta(orig)
	if meta.UserKey != "json:k" || meta.UserKeySchema != `struct{"id" int64;"region" string}` {
		t.Fatalf("recorded %+v", meta)
	}
	if _, _, err := backend.CheckRegistration("op", orig, &c, nil, meta); err != nil {
		t.Fatalf("same user key: %v", err)
	}
	_, _, err := backend.CheckRegistration("op", mapSpec(serde.Erase[userKeyRetyped](serde.JSON[userKeyRetyped]{Name: "k"})), &c, nil, meta)
	if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), `user key field "id" was written as int64 and is registered as string`) ||
		!strings.Contains(err.Error(), `state "m" of operator op`) {
		t.Fatalf("retyped user key: %v", err)
	}
	_, _, err = backend.CheckRegistration("op", mapSpec(serde.Erase[acctNoOwner](serde.JSON[acctNoOwner]{Name: "k"})), &c, nil, meta)
	if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), `user key field "balance" was added`) ||
		!strings.Contains(err.Error(), `user key field "region" was removed`) {
		t.Fatalf("user key with other fields: %v", err)
	}
	old := meta
	old.UserKeySchema = ""
	if _, _, err := backend.CheckRegistration("op", mapSpec(serde.Erase[userKeyRetyped](serde.JSON[userKeyRetyped]{Name: "k"})), &c, nil, old); err != nil {
		t.Fatalf("user key recorded without a schema: %v", err)
	}
}

package serde_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/serde"
)

type order struct {
	ID   int64
	Item string
}

// A serializer named once keeps its ID whatever its Go type is called later, and reads state
// recorded under the Go-type ID it had before it was named.
func ExampleJSON_name() {
	// Before: serde.Of[order]() or serde.JSON[order]{}, recorded as "json:serde_test.order".
	// After renaming the type (or moving it to another package), name the serializer and
	// list the old Go type name as an alias:
	s := serde.JSON[order]{Name: "orders.Order", Aliases: []string{"serde_test.order"}}
	fmt.Println(s.ID())
	fmt.Println(serde.Compatible(s, "json:serde_test.order"))
	fmt.Println(serde.Compatible(s, "cbor:serde_test.order")) // other bytes: never an alias
	// Output:
	// json:orders.Order
	// true
	// false
}

func TestNamedIDs(t *testing.T) {
	for _, tc := range []struct {
		s       serde.Serializer[order]
		id      string
		aliases []string
	}{
		{serde.JSON[order]{}, "json:serde_test.order", nil},
		{serde.CBOR[order]{}, "cbor:serde_test.order", nil},
		{serde.JSON[order]{Aliases: []string{"main.Order"}}, "json:serde_test.order", []string{"json:main.Order"}},
		{serde.JSON[order]{Name: "o"}, "json:o", []string{"json:serde_test.order"}},
		{serde.CBOR[order]{Name: "o", Aliases: []string{"a", "serde_test.order", "o", "a"}}, "cbor:o", []string{"cbor:serde_test.order", "cbor:a"}},
		{serde.JSON[order]{Name: "serde_test.order"}, "json:serde_test.order", nil},
	} {
		if got := tc.s.ID(); got != tc.id {
			t.Errorf("%#v: ID %q, want %q", tc.s, got, tc.id)
		}
		if got := serde.AliasIDs(tc.s); !slices.Equal(got, tc.aliases) {
			t.Errorf("%#v: AliasIDs %q, want %q", tc.s, got, tc.aliases)
		}
		e := serde.Erase(tc.s)
		for _, id := range append([]string{tc.id}, tc.aliases...) {
			if !serde.Compatible(tc.s, id) || !serde.Compatible(e, id) {
				t.Errorf("%#v (and erased): not compatible with %q", tc.s, id)
			}
		}
		if serde.Compatible(tc.s, "json:other") || serde.Compatible(e, "cbor:other") {
			t.Errorf("%#v: compatible with another ID", tc.s)
		}
	}
	if !serde.Compatible(serde.Int64{}, "int64") || serde.Compatible(serde.Int64{}, "int32") || serde.AliasIDs(serde.Int64{}) != nil {
		t.Error("a serializer without aliases is compatible with its ID only")
	}
}

// A name changes the ID, never the bytes: that is what makes the old ID a valid alias.
func TestNamedSameBytes(t *testing.T) {
	v := order{ID: 7, Item: "pen"}
	for _, pair := range [][2]serde.Serializer[order]{
		{serde.JSON[order]{}, serde.JSON[order]{Name: "x", Aliases: []string{"y"}}},
		{serde.CBOR[order]{}, serde.CBOR[order]{Name: "x", Aliases: []string{"y"}}},
	} {
		a, err := pair[0].Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		b, err := pair[1].Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s and %s encode %v differently: %q, %q", pair[0].ID(), pair[1].ID(), v, a, b)
		}
		if got, err := pair[1].Decode(a); err != nil || got != v {
			t.Errorf("%s decodes %s's bytes to %v, %v", pair[1].ID(), pair[0].ID(), got, err)
		}
	}
}

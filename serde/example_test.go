package serde_test

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/streamstate/streamstate/serde"
)

// Keys are self-delimiting and order-preserving: followed by a namespace, they still sort in
// key order and split off again.
func ExampleAppendKey() {
	s := serde.String{}
	var keys [][]byte
	for _, word := range []string{"b", "a\x00", "a", ""} {
		k, _ := serde.AppendKey(s, nil, word)
		keys = append(keys, append(k, "ns"...))
	}
	slices.SortFunc(keys, bytes.Compare)
	for _, k := range keys {
		word, rest, _ := serde.DecodeKey(s, k)
		fmt.Printf("%q = key %q + %q\n", k, word, rest)
	}
	// Output:
	// "\x00\x01ns" = key "" + "ns"
	// "a\x00\x01ns" = key "a" + "ns"
	// "a\x00\xff\x00\x01ns" = key "a\x00" + "ns"
	// "b\x00\x01ns" = key "b" + "ns"
}

// Order is a user type without a built-in serializer.
type Order struct {
	ID    int
	Items []string
}

// Of picks the built-in serializer of a type, and JSON for structs.
func ExampleOf() {
	f := serde.Of[float64]()
	b, _ := f.Append(nil, -1.5)
	v, _ := f.Decode(b)
	fmt.Println(f.ID(), len(b), v)

	o := serde.Of[Order]()
	b, _ = o.Append(nil, Order{ID: 7, Items: []string{"tea"}})
	order, _ := o.Decode(b)
	fmt.Println(o.ID(), string(b), order.ID, order.Items)
	// Output:
	// float64 8 -1.5
	// json:serde_test.Order {"ID":7,"Items":["tea"]} 7 [tea]
}

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
)

func benchOptionsForTest() backend.Options {
	return backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.RangeFor(128, 1, 0),
		KeySerializerID: serde.Int64{}.ID()}
}

func TestBackendRegistry(t *testing.T) {
	if b, err := canonicalBackend("rocksdb"); err != nil || b != "lsm" {
		t.Fatalf("rocksdb: got %q, %v; want lsm, the alias config accepts", b, err)
	}
	_, err := newBackend(context.Background(), "leveldb", false, benchOptionsForTest())
	if err == nil || !strings.Contains(err.Error(), "want hashmap or lsm") {
		t.Fatalf("unknown backend: got %v", err)
	}
	// A constructor's error is returned as such, not as a typed nil backend.
	opts := benchOptionsForTest()
	opts.MaxParallelism = 0
	b, err := newBackend(context.Background(), "hashmap", false, opts)
	if err == nil || b != nil {
		t.Fatalf("bad options: got backend %v, error %v", b, err)
	}
}

package checkpointtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

func TestMemStorageConformance(t *testing.T) {
	checkpointtest.RunStorageSuite(t, func(*testing.T) checkpoint.Storage { return checkpointtest.NewMemStorage() })
}

// Two MemStorages share nothing, and a committed object is a copy: the writer's buffer and a
// caller's slice from ReadRange can change without changing it.
func TestMemStorageIsolation(t *testing.T) {
	ctx := context.Background()
	a, b := checkpointtest.NewMemStorage(), checkpointtest.NewMemStorage()
	w, err := a.Create(ctx, "x", false)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("abc")
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	got, err := a.ReadRange(ctx, "x", 0, -1)
	if err != nil || string(got) != "abc" {
		t.Fatalf("ReadRange = %q, %v; want the committed bytes abc", got, err)
	}
	got[1] = 'Y'
	if again, _ := a.ReadRange(ctx, "x", 0, -1); string(again) != "abc" {
		t.Fatalf("changing a read's result changed the object: %q", again)
	}
	if _, err := b.Size(ctx, "x"); !errors.Is(err, snapshot.ErrMissing) {
		t.Fatalf("an object of one MemStorage is visible in another: %v", err)
	}
}

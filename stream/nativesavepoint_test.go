package stream

import (
	"context"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
)

// TestNativeSavepointRescale stops an lsm job with a native savepoint (its keyed state the
// lsm backend's database files), restores it at another parallelism on the lsm backend and
// gets the uninterrupted run's output; the hashmap backend refuses it, naming the fix.
func TestNativeSavepointRescale(t *testing.T) {
	evs := testEvents(4000, 32)
	out := t.TempDir()
	_, stats, st := stopWithSavepoint(t, evs, out, lsmBackend, backend.SavepointFormatNative)
	if !stats.Savepoint || stats.SavepointFormat != backend.SavepointFormatNative {
		t.Fatalf("stats %+v: not a native savepoint", stats)
	}
	m, r, err := checkpoint.LoadSavepoint(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	native := 0
	for _, op := range m.Operators {
		for _, h := range op.Keyed {
			if h.Incremental == nil || !h.Incremental.Savepoint {
				t.Fatalf("operator %s: keyed handle %+v is not native", op.ID, h)
			}
			native++
		}
	}
	if native == 0 {
		t.Fatal("the savepoint holds no keyed state")
	}
	err = runSum(evs, t.TempDir(), heapBackend, 2, m, r)
	if err == nil || !strings.Contains(err.Error(), "native savepoint") || !strings.Contains(err.Error(), "canonical") {
		t.Fatalf("hashmap restore of a native savepoint: err = %v, want one naming the native savepoint and the canonical fix", err)
	}
	if err := runSum(evs, out, lsmBackend, 3, m, r); err != nil {
		t.Fatal(err)
	}
	compareLines(t, readOutput(t, out), wantSums(evs))
}

package stream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
)

// TestNativeSavepointRescale stops an lsm job with a native savepoint (its keyed state the
// lsm backend's database files), restores it at another parallelism on the lsm backend and
// gets the uninterrupted run's output; the hashmap backend refuses it, naming the fix.
func TestNativeSavepointRescale(t *testing.T) {
	evs := testEvents(4000, 32)
	out, cpDir, spDir := t.TempDir(), t.TempDir(), t.TempDir()
	gate := newReadGate(int64(len(evs) / 3))
	src := &sliceSource{events: evs, splits: 4, gate: gate}
	j, err := Execute(context.Background(), sumGraph(src, out), Options{StateBackend: lsmBackend, Parallelism: 2, Checkpoints: openCheckpoints(t, cpDir),
		Checkpointing: CheckpointConfig{Interval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	awaitRead(t, j, gate, int64(len(evs)/3))
	st, err := blobstore.OpenURL(context.Background(), "file://"+spDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := j.TriggerSavepointFormat(context.Background(), st, spDir, true, backend.SavepointFormatNative)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
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
	hj, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, t.TempDir()), Options{Parallelism: 2, StateBackend: heapBackend,
		Restore: Restore{Metadata: m, Reader: r}})
	if err == nil {
		err = hj.Wait()
	}
	if err == nil || !strings.Contains(err.Error(), "native savepoint") || !strings.Contains(err.Error(), "canonical") {
		t.Fatalf("hashmap restore of a native savepoint: err = %v, want one naming the native savepoint and the canonical fix", err)
	}
	j, err = Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, out), Options{Parallelism: 3, StateBackend: lsmBackend,
		Restore: Restore{Metadata: m, Reader: r}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	compareLines(t, readOutput(t, out), wantSums(evs))
}

package backendtest

import (
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

func testRescale(t *testing.T, f Factory) {
	e := newEnv(t, f)
	const n = 2000
	subs := e.open(1, nil)
	fill(t, subs, n)
	h := e.checkpoint(subs, backend.SnapshotOptions{Compression: snapshot.CompressionSnappy})
	for _, p := range []int{3, 2, 1} {
		closeAll(subs)
		subs = e.open(p, h)
		verify(t, subs, n)
		h = e.checkpoint(subs, backend.SnapshotOptions{})
	}
	closeAll(subs)
}

// testRescaleReadsOnlyOwned: four subtasks restoring a snapshot together read each byte of
// it once, and a subtask restoring a quarter of the key groups reads about a quarter of the
// bytes, by offsets, not whole files.
func testRescaleReadsOnlyOwned(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(1, nil)
	fill(t, subs, 3000)
	h := e.checkpoint(subs, backend.SnapshotOptions{Savepoint: true})
	closeAll(subs)
	total := h[0].File.Size
	e.counter.Reset()
	part := e.open(4, h)
	read := e.counter.Reset()
	verify(t, part, 3000)
	// Four subtasks together read the file once (plus a header each).
	if read > total+4*64 || read < total-4*64 {
		t.Fatalf("4 subtasks read %d bytes of a %d-byte snapshot; want each byte once", read, total)
	}
	closeAll(part)
	e.counter.Reset()
	r := keygroup.RangeFor(MaxP, 4, 1)
	must(t, e.restoreErr(h, r))
	read = e.counter.Reset()
	if read > total/4+total/20+64 {
		t.Fatalf("restoring 1/4 of the key groups read %d of %d bytes", read, total)
	}
}

// testUnregisteredRestoredState: a restored state nobody registers again is carried into the
// next snapshot unchanged.
func testUnregisteredRestoredState(t *testing.T, f Factory) {
	e := newEnv(t, f)
	subs := e.open(1, nil)
	fill(t, subs, 100)
	h := e.checkpoint(subs, backend.SnapshotOptions{})
	mid := e.open(2, h) // registers nothing
	h2 := e.checkpoint(mid, backend.SnapshotOptions{})
	verify(t, e.open(1, h2), 100)
}

package lsm_test

// End to end on a real MinIO server (internal/miniotest; skipped without one: run
// ./scripts/test.sh): the lsm backend's incremental checkpoints to s3://, restored at other
// parallelisms, with a server outage in the middle of a checkpoint.

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/internal/miniotest"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// s3Job is a job of p lsm subtasks with incremental checkpoints in st.
type s3Job struct {
	t    *testing.T
	ctx  context.Context
	st   checkpoint.Storage
	cps  *checkpoint.Checkpoints
	subs []*lsm.Backend
	id   int64
}

var s3Spec = state.ValueDescriptor[string]{Name: "v"}.Spec()

func newS3Job(t *testing.T, st checkpoint.Storage, retained int) *s3Job {
	ctx := context.Background()
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{NumRetained: retained})
	must(t, err)
	return &s3Job{t: t, ctx: ctx, st: st, cps: cps}
}

// open (re)starts the job at parallelism p, restored from restore (nil: empty).
func (j *s3Job) open(p int, restore []*snapshot.KeyedStateHandle) {
	for _, b := range j.subs {
		must(j.t, b.Close())
	}
	j.subs = make([]*lsm.Backend, p)
	for i := range j.subs {
		// No compactions: they would make the reuse of shared files depend on timing.
		j.subs[i] = newIncBackend(j.t, func(o *pebble.Options) { o.DisableAutomaticCompactions = true },
			restore, j.cps.Reader(), keygroup.RangeFor(maxP, p, i))
	}
}

func (j *s3Job) route(k int) (*lsm.Backend, int) {
	kg := keygroup.Of(rawKey(k), maxP)
	return j.subs[keygroup.OperatorIndex(maxP, len(j.subs), kg)], kg
}

// put writes key k = val for keys [from, to) and flushes, so every round makes new SST files.
func (j *s3Job) put(from, to int, val func(k int) string) {
	for k := from; k < to; k++ {
		b, kg := j.route(k)
		in, err := b.CreateState(s3Spec)
		must(j.t, err)
		must(j.t, b.SetCurrentKey(rawKey(k), kg))
		must(j.t, in.(backend.Value).Update(val(k)))
	}
	for _, b := range j.subs {
		must(j.t, committed(j.t, b).Flush())
	}
}

// check reads keys [0, n) and compares them with want.
func (j *s3Job) check(n int, want func(k int) string) {
	j.t.Helper()
	for k := 0; k < n; k++ {
		b, kg := j.route(k)
		in, err := b.CreateState(s3Spec)
		must(j.t, err)
		must(j.t, b.SetCurrentKey(rawKey(k), kg))
		v, ok, err := in.(backend.Value).Value()
		must(j.t, err)
		if !ok || v != want(k) {
			j.t.Fatalf("parallelism %d: key %d = %v (%v), want %q", len(j.subs), k, v, ok, want(k))
		}
	}
}

// checkpoint takes the next checkpoint of every subtask; on an error it aborts it (and tells
// the backends) and returns the error.
func (j *s3Job) checkpoint(ctx context.Context) ([]*snapshot.KeyedStateHandle, error) {
	j.id++
	id := j.id
	p, err := j.cps.Begin(id)
	if err != nil {
		return nil, err
	}
	var hs []*snapshot.KeyedStateHandle
	for _, b := range j.subs {
		s, err := b.Snapshot(id, backend.SnapshotOptions{})
		if err == nil {
			var h *snapshot.KeyedStateHandle
			if h, err = s.Run(ctx, p); err == nil {
				hs = append(hs, h)
			}
		}
		if err != nil {
			_ = p.Abort(ctx)
			for _, b := range j.subs {
				_ = b.NotifyCheckpointAborted(id)
			}
			return nil, err
		}
	}
	err = p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op",
		Parallelism: len(j.subs), MaxParallelism: maxP, Keyed: hs}}})
	if err != nil {
		for _, b := range j.subs {
			_ = b.NotifyCheckpointAborted(id)
		}
		return nil, err
	}
	for _, b := range j.subs {
		must(j.t, b.NotifyCheckpointComplete(id))
	}
	return hs, nil
}

// restore loads the latest checkpoint and reopens the job at parallelism p from it.
func (j *s3Job) restore(p int) *snapshot.Metadata {
	j.t.Helper()
	m, err := j.cps.Restore(j.ctx, func(*snapshot.Metadata) error { return nil })
	must(j.t, err)
	j.open(p, m.Operator("op").Keyed)
	return m
}

// expectOnlyReferenced checks that every object of the job belongs to a retained checkpoint.
func (j *s3Job) expectOnlyReferenced() {
	j.t.Helper()
	ids, err := j.cps.Completed(j.ctx)
	must(j.t, err)
	want := []string{}
	for _, id := range ids {
		m, err := j.cps.Load(j.ctx, id)
		must(j.t, err)
		want = append(want, fmt.Sprintf("job/chk-%d/_metadata", id))
		for _, f := range m.Files() {
			want = append(want, "job/"+f.Path)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	got, err := j.st.List(j.ctx, "job/")
	must(j.t, err)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		j.t.Fatalf("objects of the job:\n  %q\nreferenced by checkpoints %v:\n  %q", got, ids, want)
	}
}

func val(round int) func(int) string {
	return func(k int) string { return fmt.Sprintf("r%d-k%d", round, k) }
}

// Incremental checkpoints to s3://: several rounds of writes, each checkpoint uploading only
// new SST files; restored at 3, then at 1, then at 2, each time equal to what was written.
func TestS3IncrementalCheckpointsRescale(t *testing.T) {
	st, err := blobstore.OpenURL(context.Background(), miniotest.URL(t))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	j := newS3Job(t, st, 2)
	const n = 2000
	j.open(2, nil)
	j.put(0, n, val(1))
	hs1, err := j.checkpoint(j.ctx)
	must(t, err)
	// Round 2 rewrites a quarter of the keys: checkpoint 2 reuses checkpoint 1's SST files.
	j.put(0, n/4, val(2))
	hs2, err := j.checkpoint(j.ctx)
	must(t, err)
	reused := 0
	for i := range hs2 {
		old := sharedPaths(hs1[i])
		for name, p := range sharedPaths(hs2[i]) {
			if old[name] == p {
				reused++
			}
		}
	}
	if reused == 0 {
		t.Fatal("checkpoint 2 reuses no shared file of checkpoint 1")
	}
	want := func(k int) string {
		if k < n/4 {
			return val(2)(k)
		}
		return val(1)(k)
	}
	j.put(n, n+100, val(3))
	_, err = j.checkpoint(j.ctx)
	must(t, err)
	want3 := func(k int) string {
		if k >= n {
			return val(3)(k)
		}
		return want(k)
	}
	j.expectOnlyReferenced()
	for _, p := range []int{3, 1, 2} {
		m := j.restore(p)
		if m.CheckpointID != j.id {
			t.Fatalf("restored checkpoint %d, want %d", m.CheckpointID, j.id)
		}
		j.check(n+100, want3)
		_, err := j.checkpoint(j.ctx)
		must(t, err)
		j.expectOnlyReferenced()
	}
	for _, b := range j.subs {
		must(t, b.Close())
	}
	j.subs = nil
}

// MinIO stops while checkpoint 3 uploads its SST files and stays down past the checkpoint's
// timeout. After the restart: checkpoint 2 restores, the next checkpoint succeeds, and no
// object of the failed checkpoint remains.
func TestS3IncrementalMinIOOutage(t *testing.T) {
	srv := miniotest.Start(t)
	st, err := blobstore.OpenURL(context.Background(), srv.URL("lsm"))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	fs := checkpointtest.NewFaultStorage(st)
	var armed, fired atomic.Bool
	fs.SetHook(func(op checkpointtest.Op, name string) error {
		if armed.Load() && op == checkpointtest.OpCommit && strings.Contains(name, "shared/") && fired.CompareAndSwap(false, true) {
			if err := srv.Stop(); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	j := newS3Job(t, fs, 1)
	const n = 1000
	j.open(2, nil)
	j.put(0, n, val(1))
	_, err = j.checkpoint(j.ctx)
	must(t, err)
	j.put(0, n/2, val(2))
	_, err = j.checkpoint(j.ctx)
	must(t, err)
	want2 := func(k int) string {
		if k < n/2 {
			return val(2)(k)
		}
		return val(1)(k)
	}

	j.put(n/2, n, val(3))
	armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err = j.checkpoint(ctx)
	cancel()
	if err == nil || !fired.Load() {
		t.Fatalf("checkpoint 3 with MinIO down: err %v, stopped %v", err, fired.Load())
	}
	must(t, srv.Start())
	// A new process: Open deletes what the failed checkpoint left.
	j2 := newS3Job(t, st, 1)
	m := j2.restore(3)
	if m.CheckpointID != 2 {
		t.Fatalf("restored checkpoint %d, want 2", m.CheckpointID)
	}
	j2.id = j.id
	j2.check(n, want2)
	j2.expectOnlyReferenced()
	// The job that saw the outage goes on too: its next checkpoint holds round 3.
	_, err = j.checkpoint(j.ctx)
	must(t, err)
	j.expectOnlyReferenced()
	for _, jj := range []*s3Job{j, j2} {
		for _, b := range jj.subs {
			must(t, b.Close())
		}
		jj.subs = nil
	}
}

// BenchmarkS3IncrementalRestore restores, from MinIO, an incremental checkpoint of 2 subtasks
// (200k keys, about 30 MB of SST files) into 1 subtask (both databases downloaded, TransferConcurrency
// files at a time, the second imported by key group) and into subtask 0 of 2 (one database),
// beside raw sequential GETs of the same files in the same run. MB/s is of the files'
// bytes the restore downloads.
//
//	./scripts/minio.sh run -- go test -run XXX -bench S3IncrementalRestore -benchtime 3x ./backend/lsm/
func BenchmarkS3IncrementalRestore(b *testing.B) {
	rawURL := miniotest.URL(b)
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, rawURL)
	must(b, err)
	b.Cleanup(func() { st.Close() })
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{})
	must(b, err)
	// Incompressible values: 128 random bytes as hex.
	rnd := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 128)
	var hs []*snapshot.KeyedStateHandle
	p, err := cps.Begin(1)
	must(b, err)
	for i := range 2 {
		be, err := lsm.New(ctx, lsm.Options{Options: backend.Options{OperatorID: "op",
			MaxParallelism: maxP, KeyGroupRange: keygroup.RangeFor(maxP, 2, i), KeySerializerID: serde.Int64{}.ID()},
			Dir: b.TempDir(), Incremental: true})
		must(b, err)
		in, err := be.CreateState(s3Spec)
		must(b, err)
		for k := 0; k < 200000; k++ {
			kg := keygroup.Of(rawKey(k), maxP)
			if keygroup.OperatorIndex(maxP, 2, kg) != i {
				continue
			}
			must(b, be.SetCurrentKey(rawKey(k), kg))
			for j := range raw {
				raw[j] = byte(rnd.Uint32())
			}
			must(b, in.(backend.Value).Update(hex.EncodeToString(raw)))
		}
		must(b, committed(b, be).Flush())
		s, err := be.Snapshot(1, backend.SnapshotOptions{})
		must(b, err)
		h, err := s.Run(ctx, p)
		must(b, err)
		hs = append(hs, h)
		must(b, be.Close())
	}
	must(b, p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op",
		Parallelism: 2, MaxParallelism: maxP, Keyed: hs}}}))
	bytesOf := func(hs ...*snapshot.KeyedStateHandle) int64 {
		var n int64
		for _, h := range hs {
			for _, f := range h.Incremental.Shared {
				n += f.Size
			}
			for _, f := range h.Incremental.Private {
				n += f.Size
			}
		}
		return n
	}
	b.Run("raw-get-sequential", func(b *testing.B) {
		b.SetBytes(bytesOf(hs...))
		for b.Loop() {
			for _, h := range hs {
				for _, f := range append(slices.Clone(h.Incremental.Shared), h.Incremental.Private...) {
					if _, err := st.ReadRange(ctx, "job/"+f.Path, 0, -1); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})
	for _, c := range []struct {
		name  string
		p, i  int
		bytes int64
	}{{"restore-2-into-1", 1, 0, bytesOf(hs...)}, {"restore-subtask-0-of-2", 2, 0, bytesOf(hs[0])}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(c.bytes)
			for b.Loop() {
				be, err := lsm.New(ctx, lsm.Options{Options: backend.Options{OperatorID: "op",
					MaxParallelism: maxP, KeyGroupRange: keygroup.RangeFor(maxP, c.p, c.i), KeySerializerID: serde.Int64{}.ID(),
					Restore: hs, Reader: cps.Reader()}, Dir: b.TempDir(), Incremental: true})
				must(b, err)
				must(b, be.Close())
			}
		})
	}
}

// An SST file of the latest checkpoint is gone from the bucket: the restore, which opens the
// backends in Restore's callback, falls back to the previous checkpoint and logs the object.
func TestS3IncrementalRestoreFallsBack(t *testing.T) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, miniotest.URL(t))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	j := newS3Job(t, st, 2)
	var logBuf strings.Builder
	var logMu sync.Mutex
	j.cps, err = checkpoint.Open(ctx, st, "job", checkpoint.Options{NumRetained: 2,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, nil))})
	must(t, err)
	j.open(2, nil)
	j.put(0, 500, val(1))
	_, err = j.checkpoint(ctx)
	must(t, err)
	j.put(0, 500, val(2))
	hs2, err := j.checkpoint(ctx)
	must(t, err)
	// A shared file only checkpoint 2 has.
	var victim string
	for _, f := range hs2[1].Incremental.Shared {
		victim = "job/" + f.Path
	}
	must(t, st.Delete(ctx, victim))
	for _, b := range j.subs {
		must(t, b.Close())
	}
	j.subs = nil
	m, err := j.cps.Restore(ctx, func(m *snapshot.Metadata) error {
		for _, b := range j.subs { // of a checkpoint that failed to restore
			must(t, b.Close())
		}
		j.subs = nil
		for i := range 2 {
			b, err := lsm.New(ctx, lsm.Options{Options: backend.Options{OperatorID: "op",
				MaxParallelism: maxP, KeyGroupRange: keygroup.RangeFor(maxP, 2, i), KeySerializerID: serde.Int64{}.ID(),
				Restore: m.Operator("op").Keyed, Reader: j.cps.Reader()}, Dir: t.TempDir(), Incremental: true})
			if err != nil {
				return err
			}
			j.subs = append(j.subs, b)
		}
		return nil
	})
	must(t, err)
	if m.CheckpointID != 1 {
		t.Fatalf("restored checkpoint %d, want 1", m.CheckpointID)
	}
	j.check(500, val(1))
	logMu.Lock()
	log := logBuf.String()
	logMu.Unlock()
	if !strings.Contains(log, strings.TrimPrefix(victim, "job/")) || !strings.Contains(log, "checkpoint=2") {
		t.Fatalf("the log does not name the missing object %s:\n%s", victim, log)
	}
	for _, b := range j.subs {
		must(t, b.Close())
	}
	j.subs = nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

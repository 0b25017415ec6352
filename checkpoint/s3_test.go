package checkpoint_test

// Checkpoints on a real MinIO server (internal/miniotest; skipped without one: run
// ./scripts/test.sh), the fault matrix, which runs over mem:// everywhere and over s3://
// where MinIO is, and checkpoints through blobstore's retrying layer. The storage-level tests
// of s3:// and of the retrying layer are in package blobstore.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/internal/miniotest"
	"github.com/streamstate/streamstate/keygroup"
)

// s3Storage opens a fresh prefix of the shared MinIO server (skips without one).
func s3Storage(t *testing.T) checkpoint.Storage {
	t.Helper()
	return openURL(t, miniotest.URL(t))
}

// noSleep makes retries immediate in tests.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// Checkpoints, retention, shared files and savepoints on S3; no credential in any name,
// message or metadata.
func TestS3CheckpointsAndSavepoints(t *testing.T) {
	ctx := context.Background()
	rawURL := miniotest.URL(t)
	st := openURL(t, rawURL)
	c, _ := cpOpen(t, st, "job", 2)
	A, B := cpShared(t, st, "job", "A"), cpShared(t, st, "job", "B")
	cpTake(t, c, 1, "v1", A)
	m2 := cpTake(t, c, 2, "v2", A, B)
	m3 := cpTake(t, c, 3, "v3", B)
	cpExpectCompleted(t, c, 2, 3)
	// Shared file A is still referenced by checkpoint 2; checkpoint 1 is gone.
	cpExpectFiles(t, st, "job/", append(append(cpFiles("job", m2), cpFiles("job", m3)...), "job/shared/A", "job/shared/B")...)
	m, err := c.Restore(ctx, expectValues(ctx, c, "v3"))
	if err != nil || m.CheckpointID != 3 {
		t.Fatalf("Restore = %v, %v", m, err)
	}

	// A savepoint in a prefix of its own, loaded back.
	sp := openURL(t, strings.Replace(rawURL, "?", "/savepoint-1?", 1))
	p := checkpoint.BeginSavepoint(sp)
	sm := cpMetadata(cpMaxP, cpWrite(t, p, "op-0", keygroup.Range{Start: 0, End: cpMaxP - 1}, "saved"))
	if err := p.Complete(ctx, sm); err != nil {
		t.Fatal(err)
	}
	lm, r, err := checkpoint.LoadSavepoint(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if vals, err := cpReadAll(ctx, r, lm); err != nil || !maps.Equal(vals, cpWant("saved")) {
		t.Fatalf("savepoint read back %v, %v", vals, err)
	}

	secret, id := os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_ACCESS_KEY_ID")
	for _, name := range cpList(t, st, "job/") {
		b := readAll(t, st, name)
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(id)) {
			t.Fatalf("%s holds a credential", name)
		}
	}
	if s := st.String(); strings.Contains(s, secret) || strings.Contains(s, "?") {
		t.Fatalf("String() = %q holds a credential or the query", s)
	}
}

// A bad bucket or bad credentials give a clear error, not a hang: they are permanent.
func TestS3PermanentErrors(t *testing.T) {
	ctx := context.Background()
	rawURL := miniotest.URL(t)
	missing := strings.Replace(rawURL, "s3://streamstate-test", "s3://no-such-bucket-streamstate", 1)
	if !strings.Contains(missing, "no-such-bucket") {
		t.Skipf("the MinIO URL %s does not use the bucket of scripts/minio.sh", rawURL)
	}
	st := openURL(t, missing)
	start := time.Now()
	_, err := st.List(ctx, "job/")
	if err == nil {
		t.Fatal("List in a missing bucket succeeded")
	}
	if !strings.Contains(err.Error(), "no-such-bucket-streamstate") || time.Since(start) > 5*time.Second {
		t.Fatalf("List in a missing bucket: %v after %v; want an error naming the bucket, without retries", err, time.Since(start))
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	bad := openURL(t, rawURL)
	start = time.Now()
	_, err = bad.Size(ctx, "x")
	if err == nil || blobstore.IsTransient(err) || time.Since(start) > 5*time.Second {
		t.Fatalf("Size with a wrong secret: %v after %v; want a permanent error at once", err, time.Since(start))
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("the error shows the secret: %v", err)
	}
}

// ---------------------------------------------------------------------------------------------
// The fault matrix: a checkpoint fails; the previous one stays intact, nothing of the failed
// one remains, and the next checkpoint succeeds.

type faultCase struct {
	name   string
	inject func(fs *checkpointtest.FaultStorage)
	ctx    func() (context.Context, context.CancelFunc) // nil: background
}

var faultCases = []faultCase{
	{name: "create-data-file", inject: func(fs *checkpointtest.FaultStorage) { fs.FailNth(checkpointtest.OpCreate, "chk-2/op-1", 1) }},
	{name: "second-write", inject: func(fs *checkpointtest.FaultStorage) { fs.FailNth(checkpointtest.OpWrite, "chk-2/", 2) }},
	{name: "commit-data-file", inject: func(fs *checkpointtest.FaultStorage) { fs.FailNth(checkpointtest.OpCommit, "chk-2/op-1", 1) }},
	{name: "commit-shared-file", inject: func(fs *checkpointtest.FaultStorage) { fs.FailNth(checkpointtest.OpCommit, "shared/", 1) }},
	{name: "commit-metadata", inject: func(fs *checkpointtest.FaultStorage) { fs.FailNth(checkpointtest.OpCommit, "chk-2/_metadata", 1) }},
	{name: "metadata-permission", inject: func(fs *checkpointtest.FaultStorage) {
		fs.FailNthWith(checkpointtest.OpCreate, "chk-2/_metadata", 1, errors.New("AccessDenied: not allowed to write the metadata"))
	}},
	{name: "slow-metadata-timeout", inject: func(fs *checkpointtest.FaultStorage) {
		fs.Slow(checkpointtest.OpCommit, "chk-2/_metadata", time.Minute)
	}, ctx: func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 300*time.Millisecond)
	}},
}

// takeWithShared takes checkpoint id through p's shared-file factory too: two subtask files,
// one new shared file; it returns the first error and aborts the checkpoint on it.
func tryTakeWithShared(ctx context.Context, c *checkpoint.Checkpoints, id int64, val string) (*snapshot.Metadata, error) {
	p, err := c.Begin(id)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*snapshot.Metadata, error) {
		_ = p.Abort(context.Background())
		return nil, err
	}
	var hs []*snapshot.KeyedStateHandle
	for i := range 2 {
		h, err := cpTryWrite(snapshot.StreamFactory(p), fmt.Sprintf("op-%d", i), keygroup.RangeFor(cpMaxP, 2, i), val)
		if err != nil {
			return fail(err)
		}
		hs = append(hs, h)
	}
	sh, err := cpTryWrite(sharedOf{p}, "sst", keygroup.Range{Start: 0, End: cpMaxP - 1}, "shared "+val)
	if err != nil {
		return fail(err)
	}
	m := cpMetadata(cpMaxP, hs...)
	m.Operators = append(m.Operators, &snapshot.OperatorState{ID: "shared-op", Parallelism: 1, MaxParallelism: cpMaxP,
		Keyed: []*snapshot.KeyedStateHandle{sh}})
	if err := p.Complete(ctx, m); err != nil {
		return nil, err // Complete deleted the files
	}
	return m, nil
}

// sharedOf makes a Pending's CreateShared a StreamFactory.
type sharedOf struct{ p *checkpoint.Pending }

func (s sharedOf) Create(ctx context.Context, hint string) (snapshot.OutputStream, error) {
	return s.p.CreateShared(ctx, hint)
}

// ctxFactory creates its streams with ctx, whose end stops their uploads.
type ctxFactory struct {
	ctx context.Context
	f   snapshot.StreamFactory
}

func (c ctxFactory) Create(_ context.Context, hint string) (snapshot.OutputStream, error) {
	return c.f.Create(c.ctx, hint)
}

// expectValues is a Restore callback that reads operator "op" of a checkpoint taken by
// tryTakeWithShared or cpTake and checks its values (the shared operator is read too).
func expectValues(ctx context.Context, c *checkpoint.Checkpoints, val string) func(*snapshot.Metadata) error {
	return func(m *snapshot.Metadata) error {
		if _, err := cpReadAll(ctx, c.Reader(), m); err != nil {
			return err
		}
		vals, err := cpReadAll(ctx, c.Reader(), &snapshot.Metadata{Operators: []*snapshot.OperatorState{m.Operator("op")}})
		if err == nil && !maps.Equal(vals, cpWant(val)) {
			err = fmt.Errorf("restored %v, want %v", vals, cpWant(val))
		}
		return err
	}
}

// allFiles is every object of m: its metadata and every file it references.
func allFiles(job string, m *snapshot.Metadata) []string {
	names := []string{fmt.Sprintf("%s/chk-%d/_metadata", job, m.CheckpointID)}
	for _, f := range m.Files() {
		names = append(names, job+"/"+f.Path)
	}
	return names
}

func runFaultMatrix(t *testing.T, open func(t *testing.T) checkpoint.Storage) {
	for _, fc := range faultCases {
		t.Run(fc.name, func(t *testing.T) {
			ctx := context.Background()
			fs := checkpointtest.NewFaultStorage(open(t))
			c, _ := cpOpen(t, fs, "job", 1)
			m1, err := tryTakeWithShared(ctx, c, 1, "v1")
			if err != nil {
				t.Fatal(err)
			}
			meta1 := readAll(t, fs, "job/chk-1/_metadata")

			fc.inject(fs)
			cctx, cancel := ctx, context.CancelFunc(func() {})
			if fc.ctx != nil {
				cctx, cancel = fc.ctx()
			}
			_, err = tryTakeWithShared(cctx, c, 2, "v2")
			cancel()
			if err == nil {
				t.Fatal("checkpoint 2 succeeded despite the fault")
			}
			fs.ClearFaults()

			// Checkpoint 1 is intact and the only one; nothing of checkpoint 2 remains.
			cpExpectCompleted(t, c, 1)
			cpExpectFiles(t, fs, "job/", allFiles("job", m1)...)
			if got := readAll(t, fs, "job/chk-1/_metadata"); !bytes.Equal(got, meta1) {
				t.Fatal("checkpoint 1's metadata changed")
			}
			m, err := c.Restore(ctx, expectValues(ctx, c, "v1"))
			if err != nil || m.CheckpointID != 1 {
				t.Fatalf("Restore after the failed checkpoint = %v, %v", m, err)
			}
			// The next checkpoint succeeds and retention leaves only it.
			m3, err := tryTakeWithShared(ctx, c, 3, "v3")
			if err != nil {
				t.Fatalf("the checkpoint after the fault: %v", err)
			}
			cpExpectCompleted(t, c, 3)
			cpExpectFiles(t, fs, "job/", allFiles("job", m3)...)
		})
	}
}

func TestFaultMatrixMem(t *testing.T) { runFaultMatrix(t, cpMem) }

func TestFaultMatrixS3(t *testing.T) { runFaultMatrix(t, s3Storage) }

// ---------------------------------------------------------------------------------------------
// The retrying layer

func cpLogger(l *cpLog) *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func retrying(fs checkpoint.Storage, log *cpLog) checkpoint.Storage {
	return blobstore.NewRetryingStorage(fs, blobstore.RetryOptions{Sleep: noSleep, MaxAttempts: 4, Logger: cpLogger(log)})
}

func TestRetryTransient(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		op   checkpointtest.Op
		name string
	}{
		{checkpointtest.OpCreate, "chk-2/op-1"},
		{checkpointtest.OpWrite, "chk-2/op-0"},
		{checkpointtest.OpCommit, "chk-2/op-1"},
		{checkpointtest.OpCommit, "shared/"},
		{checkpointtest.OpCommit, "chk-2/_metadata"},
		{checkpointtest.OpList, "job/chk-"},
		{checkpointtest.OpReadRange, "chk-2/op-0"},
		{checkpointtest.OpSize, "chk-2/op-1"},
		{checkpointtest.OpDelete, "chk-1/"},
	} {
		t.Run(fmt.Sprintf("%s-%s", tc.op, strings.ReplaceAll(tc.name, "/", "_")), func(t *testing.T) {
			fs := checkpointtest.NewFaultStorage(cpMem(t))
			log := &cpLog{}
			st := retrying(fs, log)
			c, _ := cpOpen(t, st, "job", 1)
			if _, err := tryTakeWithShared(ctx, c, 1, "v1"); err != nil {
				t.Fatal(err)
			}
			fs.FailNth(tc.op, tc.name, 1)
			fs.FailNth(tc.op, tc.name, 2) // twice in a row
			m2, err := tryTakeWithShared(ctx, c, 2, "v2")
			if err != nil {
				t.Fatalf("checkpoint 2 with two transient faults: %v", err)
			}
			m, err := c.Restore(ctx, expectValues(ctx, c, "v2"))
			if err != nil || m.CheckpointID != 2 {
				t.Fatalf("Restore = %v, %v", m, err)
			}
			cpExpectFiles(t, fs, "job/", allFiles("job", m2)...)
			if !strings.Contains(log.String(), "retrying") || !strings.Contains(log.String(), tc.name) {
				t.Fatalf("the retries are not logged with the object:\n%s", log)
			}
		})
	}
}

// lostResponse stores the first create-if-not-exists object and then reports a transient
// error, as a response lost on the network after the store wrote the object.
type lostResponse struct {
	checkpoint.Storage
	lost atomic.Bool
}

type lostWriter struct {
	checkpoint.Writer
	s *lostResponse
}

func (s *lostResponse) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	w, err := s.Storage.Create(ctx, name, ifNotExist)
	if err != nil || !ifNotExist {
		return w, err
	}
	return &lostWriter{w, s}, nil
}

func (w *lostWriter) Commit() (int64, error) {
	n, err := w.Writer.Commit()
	if err == nil && w.s.lost.CompareAndSwap(false, true) {
		return 0, errors.New("read tcp 127.0.0.1:1234: connection reset by peer")
	}
	return n, err
}

// The metadata write whose response is lost is retried, meets its own object and succeeds;
// another writer's object is still ErrExists.
func TestRetryCreateIfNotExistAmbiguous(t *testing.T) {
	ctx := context.Background()
	inner := &lostResponse{Storage: cpMem(t)}
	st := blobstore.NewRetryingStorage(inner, blobstore.RetryOptions{Sleep: noSleep})
	c, _ := cpOpen(t, st, "job", 1)
	m, err := tryTakeWithShared(ctx, c, 1, "v1")
	if err != nil {
		t.Fatalf("checkpoint with a lost metadata response: %v", err)
	}
	if !inner.lost.Load() {
		t.Fatal("no response was lost")
	}
	cpExpectCompleted(t, c, 1)
	cpExpectFiles(t, st, "job/", allFiles("job", m)...)

	inner.lost.Store(false)
	putObject(t, inner.Storage, "other", []byte("theirs"))
	w, err := st.Create(ctx, "other", true)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("mine"))
	if _, err := w.Commit(); !errors.Is(err, checkpoint.ErrExists) {
		t.Fatalf("create-if-not-exists over another writer's object: %v", err)
	}
}

// A metadata write that fails after reaching the store must not leave metadata that
// references the deleted files of the failed checkpoint.
func TestCompleteFailureDeletesStoredMetadata(t *testing.T) {
	ctx := context.Background()
	inner := &lostResponse{Storage: cpMem(t)}
	c, _ := cpOpen(t, inner, "job", 1)
	_, err := tryTakeWithShared(ctx, c, 1, "v1")
	if err == nil {
		t.Fatal("Complete succeeded although the metadata write reported an error")
	}
	cpExpectFiles(t, inner, "job/")
	cpExpectCompleted(t, c)
	inner.lost.Store(true)
	if _, err := tryTakeWithShared(ctx, c, 2, "v2"); err != nil {
		t.Fatal(err)
	}
	cpExpectCompleted(t, c, 2)
}

// Files whose delete failed during Abort (an outage) are deleted after the next checkpoint.
func TestAbortOrphansDeletedAfterNextCheckpoint(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(cpMem(t))
	c, log := cpOpen(t, fs, "job", 1)
	if _, err := tryTakeWithShared(ctx, c, 1, "v1"); err != nil {
		t.Fatal(err)
	}
	fs.FailNth(checkpointtest.OpCommit, "chk-2/_metadata", 1)
	fs.FailAlways(checkpointtest.OpDelete, "")
	if _, err := tryTakeWithShared(ctx, c, 2, "v2"); err == nil {
		t.Fatal("checkpoint 2 succeeded")
	}
	if !strings.Contains(log.String(), "could not delete") {
		t.Fatalf("the failed cleanup is not logged:\n%s", log)
	}
	fs.ClearFaults()
	if len(cpList(t, fs, "job/chk-2/")) == 0 {
		t.Fatal("the test expected files of checkpoint 2 left by the failed deletes")
	}
	m3, err := tryTakeWithShared(ctx, c, 3, "v3")
	if err != nil {
		t.Fatal(err)
	}
	cpExpectFiles(t, fs, "job/", allFiles("job", m3)...)
}

// ---------------------------------------------------------------------------------------------
// Restore fallback on S3: a missing, corrupt or truncated object of the latest checkpoint.

func TestS3RestoreFallsBack(t *testing.T) {
	ctx := context.Background()
	newFixture := func(t *testing.T) (*cpRestoreFixture, *checkpointtest.FaultStorage) {
		fs := checkpointtest.NewFaultStorage(s3Storage(t))
		c, log := cpOpen(t, fs, "job", 3)
		f := &cpRestoreFixture{st: fs, c: c, log: log, ms: map[int64]*snapshot.Metadata{}}
		for id := int64(1); id <= 3; id++ {
			f.ms[id] = cpTake(t, c, id, fmt.Sprint("v", id))
		}
		return f, fs
	}
	t.Run("missing-file", func(t *testing.T) {
		f, _ := newFixture(t)
		if err := f.st.Delete(ctx, f.fileOf3()); err != nil {
			t.Fatal(err)
		}
		f.expectFallback(t, f.fileOf3(), false)
	})
	t.Run("corrupt-metadata", func(t *testing.T) {
		f, _ := newFixture(t)
		putObject(t, f.st, "job/chk-3/_metadata", []byte("garbage"))
		f.expectFallback(t, "job/chk-3/_metadata", false)
	})
	t.Run("corrupt-block", func(t *testing.T) {
		f, _ := newFixture(t)
		b := readAll(t, f.st, f.fileOf3())
		b[f.ms[3].Operators[0].Keyed[0].Blocks[1].Offset+2] ^= 0xff
		putObject(t, f.st, f.fileOf3(), b)
		f.expectFallback(t, f.ms[3].Files()[0].Path, true)
	})
	t.Run("truncated-read", func(t *testing.T) {
		f, fs := newFixture(t)
		fs.TruncateReads(f.fileOf3(), 20)
		f.expectFallback(t, f.ms[3].Files()[0].Path, true)
	})
}

// ---------------------------------------------------------------------------------------------
// Real faults: a MinIO server of the test's own, stopped in the middle of a checkpoint.

// stopAt returns a FaultStorage over st whose hook runs fn once, before the first commit of
// an object whose name contains at.
func stopAt(st checkpoint.Storage, at string, fn func()) *checkpointtest.FaultStorage {
	fs := checkpointtest.NewFaultStorage(st)
	var once atomic.Bool
	fs.SetHook(func(op checkpointtest.Op, name string) error {
		if op == checkpointtest.OpCommit && strings.Contains(name, at) && once.CompareAndSwap(false, true) {
			fn()
		}
		return nil
	})
	return fs
}

// MinIO goes down after the first file of checkpoint 2 is stored and stays down past the
// checkpoint's timeout: checkpoint 2 fails, its cleanup fails too; after the restart,
// checkpoint 1 restores, the next checkpoint succeeds and deletes what checkpoint 2 left.
func TestMinIOStoppedMidCheckpoint(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	st := openURL(t, srv.URL("stopped"))
	fs := stopAt(st, "chk-2/op-1", func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	c, _ := cpOpen(t, fs, "job", 1)
	if _, err := tryTakeWithShared(ctx, c, 1, "v1"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second) // the checkpoint timeout
	p, err := c.Begin(2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cpTryWrite(p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), "v2")
	if err != nil {
		t.Fatalf("op-0 of checkpoint 2, before the stop: %v", err)
	}
	start := time.Now()
	_, err = cpTryWrite(ctxFactory{cctx, p}, "op-1", keygroup.RangeFor(cpMaxP, 2, 1), "v2")
	cancel()
	if err == nil {
		t.Fatal("op-1 of checkpoint 2 was stored while MinIO was down")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("the upload did not stop at the checkpoint timeout: %v", time.Since(start))
	}
	actx, acancel := context.WithTimeout(ctx, time.Second)
	if err := p.Abort(actx); err == nil {
		t.Fatal("Abort deleted the files while MinIO was down")
	}
	acancel()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if got := cpList(t, st, "job/chk-2/"); len(got) != 1 {
		t.Fatalf("files of checkpoint 2 after the restart: %q, want op-0 only", got)
	}
	cpExpectCompleted(t, c, 1)
	m, err := c.Restore(ctx, expectValues(ctx, c, "v1"))
	if err != nil || m.CheckpointID != 1 {
		t.Fatalf("Restore after the outage = %v, %v", m, err)
	}
	m3, err := tryTakeWithShared(ctx, c, 3, "v3")
	if err != nil {
		t.Fatalf("the checkpoint after the outage: %v", err)
	}
	cpExpectCompleted(t, c, 3)
	cpExpectFiles(t, st, "job/", allFiles("job", m3)...)
}

// MinIO goes down in the middle of checkpoint 2 and comes back a second later: the retries
// carry the checkpoint through.
func TestMinIORestartedMidCheckpoint(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	st := openURL(t, srv.URL("restarted"))
	done := make(chan error, 1)
	fs := stopAt(st, "chk-2/op-1", func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
		go func() {
			time.Sleep(time.Second)
			done <- srv.Start()
		}()
	})
	c, _ := cpOpen(t, fs, "job", 1)
	if _, err := tryTakeWithShared(ctx, c, 1, "v1"); err != nil {
		t.Fatal(err)
	}
	m2, err := tryTakeWithShared(ctx, c, 2, "v2")
	if err := <-done; err != nil {
		t.Fatalf("restart MinIO: %v", err)
	}
	if err != nil {
		t.Fatalf("checkpoint 2 across a MinIO restart: %v", err)
	}
	cpExpectCompleted(t, c, 2)
	cpExpectFiles(t, st, "job/", allFiles("job", m2)...)
	m, err := c.Restore(ctx, expectValues(ctx, c, "v2"))
	if err != nil || m.CheckpointID != 2 {
		t.Fatalf("Restore = %v, %v", m, err)
	}
}

// A restore that meets a stopped server fails (it is not corruption: no fallback to an older
// checkpoint, which would silently lose state) and succeeds once the server is back.
func TestMinIODownDuringRestore(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	st := openURL(t, srv.URL("restore"))
	c, log := cpOpen(t, st, "job", 2)
	cpTake(t, c, 1, "v1")
	cpTake(t, c, 2, "v2")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := c.Restore(rctx, func(*snapshot.Metadata) error { return nil })
	cancel()
	if err == nil || errors.Is(err, snapshot.ErrCorrupt) || errors.Is(err, snapshot.ErrMissing) {
		t.Fatalf("Restore with MinIO down: %v; want an outage error", err)
	}
	if strings.Contains(log.String(), "skipping unreadable checkpoint") {
		t.Fatalf("an outage was taken for corruption:\n%s", log)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	m, err := c.Restore(ctx, expectValues(ctx, c, "v2"))
	if err != nil || m.CheckpointID != 2 {
		t.Fatalf("Restore after the restart = %v, %v", m, err)
	}
}

package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// ---------------------------------------------------------------------------------------------
// Helpers (prefixed cp: the package's other test files have their own)

const cpMaxP = checkpointtest.MaxP // key groups of the test operators

var cpStates = []snapshot.StateMeta{{Name: "count", Kind: snapshot.KindValue, Value: "string"}}

// Checkpoints of two subtasks' full snapshots and shared files (checkpointtest: blobstore's
// tests use them too).
var (
	cpWrite    = checkpointtest.WriteHandle
	cpTryWrite = checkpointtest.TryWriteHandle
	cpMetadata = checkpointtest.Metadata
	cpTake     = checkpointtest.TakeCheckpoint
	cpShared   = checkpointtest.SharedHandle
)

// cpReadHandle reads the key groups rng of h: key -> value.
func cpReadHandle(ctx context.Context, r snapshot.Reader, h *snapshot.KeyedStateHandle, rng keygroup.Range) (map[string]string, error) {
	got := map[string]string{}
	err := snapshot.ReadKeyGroups(ctx, r, h, rng, func(_ int, rec *snapshot.Record) error {
		got[string(rec.Key)] = string(rec.Value)
		return nil
	})
	return got, err
}

// cpReadAll reads every handle of m: key -> value.
func cpReadAll(ctx context.Context, r snapshot.Reader, m *snapshot.Metadata) (map[string]string, error) {
	all := map[string]string{}
	for _, o := range m.Operators {
		for _, h := range o.Keyed {
			got, err := cpReadHandle(ctx, r, h, h.KeyGroupRange)
			if err != nil {
				return nil, err
			}
			maps.Copy(all, got)
		}
	}
	return all, nil
}

// cpWant is what cpReadAll returns for a checkpoint taken by cpTake with value val.
func cpWant(val string) map[string]string {
	m := map[string]string{}
	for kg := range cpMaxP {
		m[fmt.Sprintf("k%d", kg)] = val
	}
	return m
}

func cpList(t *testing.T, st checkpoint.Storage, prefix string) []string {
	t.Helper()
	names, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// cpFiles returns the job-relative names of the files of m, plus its _metadata.
func cpFiles(job string, m *snapshot.Metadata) []string {
	names := []string{fmt.Sprintf("%s/chk-%d/_metadata", job, m.CheckpointID)}
	for _, f := range m.Files() {
		if !strings.HasPrefix(f.Path, "shared/") {
			names = append(names, job+"/"+f.Path)
		}
	}
	return names
}

func cpExpectFiles(t *testing.T, st checkpoint.Storage, prefix string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	want = slices.Compact(want)
	if got := cpList(t, st, prefix); !slices.Equal(got, want) {
		t.Fatalf("List(%q) =\n  %q\nwant\n  %q", prefix, got, want)
	}
}

func cpExpectCompleted(t *testing.T, c *checkpoint.Checkpoints, want ...int64) {
	t.Helper()
	got, err := c.Completed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Completed = %v, want %v", got, want)
	}
}

// cpLog is a slog handler's buffer that is safe for concurrent use.
type cpLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *cpLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *cpLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func cpOpen(t *testing.T, st checkpoint.Storage, job string, retained int) (*checkpoint.Checkpoints, *cpLog) {
	t.Helper()
	log := &cpLog{}
	c, err := checkpoint.Open(context.Background(), st, job, checkpoint.Options{
		NumRetained: retained,
		Logger:      slog.New(slog.NewTextHandler(log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

func cpMem(t *testing.T) checkpoint.Storage { return openURL(t, "mem://") }

// ---------------------------------------------------------------------------------------------
// Layout and the life of one checkpoint

func TestCheckpointLayout(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	now := time.UnixMilli(1_700_000_000_123)
	c, err := checkpoint.Open(ctx, st, "job-a", checkpoint.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if c.JobID() != "job-a" || c.Storage() != st {
		t.Fatalf("JobID, Storage = %q, %v", c.JobID(), c.Storage())
	}
	p, err := c.Begin(7)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID() != 7 {
		t.Fatalf("ID = %d", p.ID())
	}
	h0 := cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), "v7")
	h1 := cpWrite(t, p, "dir/op-1", keygroup.RangeFor(cpMaxP, 2, 1), "v7")
	for _, h := range []*snapshot.KeyedStateHandle{h0, h1} {
		if !strings.HasPrefix(h.File.Path, "chk-7/") || strings.Count(h.File.Path, "/") != 1 {
			t.Fatalf("file path %q is not chk-7/<name>", h.File.Path)
		}
	}
	if !strings.HasPrefix(h1.File.Path, "chk-7/op-1-") {
		t.Fatalf("file path %q does not keep the hint's base name", h1.File.Path)
	}
	// Written but not complete: the files exist, the checkpoint does not.
	cpExpectFiles(t, st, "", "job-a/"+h0.File.Path, "job-a/"+h1.File.Path)
	cpExpectCompleted(t, c)

	m := cpMetadata(cpMaxP, h0, h1)
	if err := p.Complete(ctx, m); err != nil {
		t.Fatal(err)
	}
	cpExpectFiles(t, st, "", "job-a/"+h0.File.Path, "job-a/"+h1.File.Path, "job-a/chk-7/_metadata")
	cpExpectCompleted(t, c, 7)

	got, err := c.Load(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got.JobID != "job-a" || got.CheckpointID != 7 || got.Savepoint || got.TimestampMs != now.UnixMilli() ||
		got.Version != snapshot.MetadataVersion {
		t.Fatalf("metadata = %+v", got)
	}
	if files := got.Files(); len(files) != 2 || files[0] != h0.File || files[1] != h1.File {
		t.Fatalf("metadata files = %+v", files)
	}
	vals, err := cpReadAll(ctx, c.Reader(), got)
	if err != nil {
		t.Fatal(err)
	}
	if want := cpWant("v7"); !maps.Equal(vals, want) {
		t.Fatalf("read back %v, want %v", vals, want)
	}
}

// The metadata is the last object written, with every file it references already in place.
func TestCheckpointMetadataWrittenLast(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(cpMem(t))
	var mu sync.Mutex
	var commits []string
	fs.SetHook(func(op checkpointtest.Op, name string) error {
		if op != checkpointtest.OpCommit {
			return nil
		}
		mu.Lock()
		commits = append(commits, name)
		mu.Unlock()
		if strings.HasSuffix(name, "/_metadata") {
			// Every other file of the checkpoint is already visible.
			names, err := fs.Inner().List(ctx, "job/chk-1/")
			if err != nil || len(names) != 2 {
				t.Errorf("when the metadata is committed the checkpoint has files %q (%v), want its 2 files", names, err)
			}
		}
		return nil
	})
	c, _ := cpOpen(t, fs, "job", 1)
	m := cpTake(t, c, 1, "v1")
	if len(commits) != 3 || commits[2] != "job/chk-1/_metadata" {
		t.Fatalf("commits in order: %q; want the 2 files, then job/chk-1/_metadata", commits)
	}
	for _, f := range m.Files() {
		if !slices.Contains(commits[:2], "job/"+f.Path) {
			t.Fatalf("file %s was not committed before the metadata: %q", f.Path, commits)
		}
	}
}

func TestPendingMisuse(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 1)
	p, err := c.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Begin(1); err == nil {
		t.Fatal("Begin of a checkpoint in progress succeeded")
	}
	h := cpWrite(t, p, "op-0", keygroup.Range{Start: 0, End: cpMaxP - 1}, "v")
	// A stream left open over Complete.
	late, err := p.Create(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.Write([]byte("too late")); err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(ctx, cpMetadata(cpMaxP, h)); err != nil {
		t.Fatal(err)
	}
	metaBefore := readAll(t, st, "job/chk-1/_metadata")

	if err := p.Complete(ctx, cpMetadata(cpMaxP, h)); err == nil {
		t.Fatal("second Complete succeeded")
	}
	if _, err := p.Create(ctx, "op-1"); err == nil {
		t.Fatal("Create after Complete succeeded")
	}
	if _, err := late.Close(); err == nil {
		t.Fatal("closing a stream after Complete succeeded; its file is referenced by nothing")
	}
	if err := p.Abort(ctx); err != nil {
		t.Fatalf("Abort after Complete: %v, want nil (no-op)", err)
	}
	cpExpectFiles(t, st, "", "job/"+h.File.Path, "job/chk-1/_metadata")
	if got := readAll(t, st, "job/chk-1/_metadata"); !bytes.Equal(got, metaBefore) {
		t.Fatal("the metadata changed")
	}
	cpExpectCompleted(t, c, 1)

	// The checkpoint is no longer in progress: its id can be begun again, but its metadata
	// is written with create-if-not-exists, so completing it fails and changes nothing.
	p2, err := c.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	h2 := cpWrite(t, p2, "op-0", keygroup.Range{Start: 0, End: cpMaxP - 1}, "other")
	if err := p2.Complete(ctx, cpMetadata(cpMaxP, h2)); !errors.Is(err, checkpoint.ErrExists) {
		t.Fatalf("completing over an existing checkpoint: %v, want ErrExists", err)
	}
	cpExpectFiles(t, st, "", "job/"+h.File.Path, "job/chk-1/_metadata")
	if got := readAll(t, st, "job/chk-1/_metadata"); !bytes.Equal(got, metaBefore) {
		t.Fatal("the metadata changed")
	}
	m, err := c.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if vals, err := cpReadAll(ctx, c.Reader(), m); err != nil || !maps.Equal(vals, cpWant("v")) {
		t.Fatalf("restored %v, %v", vals, err)
	}
}

func TestCheckpointAbort(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 1)
	m1 := cpTake(t, c, 1, "v1")

	p, err := c.Begin(2)
	if err != nil {
		t.Fatal(err)
	}
	cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), "v2")
	cpWrite(t, p, "op-1", keygroup.RangeFor(cpMaxP, 2, 1), "v2")
	sh, err := p.CreateShared(ctx, "sst-9")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Write([]byte("shared bytes")); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	// A file still being written when the checkpoint is aborted.
	open, err := p.Create(ctx, "op-2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open.Write([]byte("half a file")); err != nil {
		t.Fatal(err)
	}
	if n := len(cpList(t, st, "job/")); n != len(cpFiles("job", m1))+3 {
		t.Fatalf("%d files before Abort", n)
	}

	if err := p.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Abort(ctx); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if _, err := open.Close(); err == nil {
		t.Fatal("a stream of an aborted checkpoint committed")
	}
	if _, err := p.Create(ctx, "op-3"); err == nil {
		t.Fatal("Create after Abort succeeded")
	}
	if err := p.Complete(ctx, cpMetadata(cpMaxP)); err == nil {
		t.Fatal("Complete after Abort succeeded")
	}
	cpExpectFiles(t, st, "", cpFiles("job", m1)...)
	cpExpectCompleted(t, c, 1)

	// The id is free again.
	cpTake(t, c, 2, "v2")
	cpExpectCompleted(t, c, 2)
}

// Streams that finish while their checkpoint is aborted (a checkpoint timeout during uploads)
// leave nothing behind, whatever the interleaving.
func TestCheckpointAbortRacesUploads(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 1)
	for id := int64(1); id <= 20; id++ {
		p, err := c.Begin(id)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				_, _ = cpTryWrite(p, fmt.Sprintf("op-%d", i), keygroup.Range{Start: 0, End: cpMaxP - 1}, "v")
			})
		}
		wg.Go(func() {
			if err := p.Abort(ctx); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		cpExpectFiles(t, st, "")
	}
}

func TestCheckpointConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 2)
	for id := int64(1); id <= 3; id++ {
		p, err := c.Begin(id)
		if err != nil {
			t.Fatal(err)
		}
		const par = 4
		handles := make([]*snapshot.KeyedStateHandle, par)
		var wg sync.WaitGroup
		for i := range par {
			wg.Go(func() {
				h, err := cpTryWrite(p, fmt.Sprintf("op-%d", i), keygroup.RangeFor(cpMaxP, par, i), fmt.Sprint("v", id))
				if err != nil {
					t.Error(err)
				}
				handles[i] = h
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if err := p.Complete(ctx, cpMetadata(cpMaxP, handles...)); err != nil {
			t.Fatal(err)
		}
	}
	cpExpectCompleted(t, c, 2, 3)
	m, err := c.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if vals, err := cpReadAll(ctx, c.Reader(), m); err != nil || !maps.Equal(vals, cpWant("v3")) {
		t.Fatalf("restored %v, %v", vals, err)
	}
}

func TestOpenRejectsBadJobIDs(t *testing.T) {
	for _, id := range []string{"", ".", "..", "a/b", `a\b`} {
		if _, err := checkpoint.Open(context.Background(), cpMem(t), id, checkpoint.Options{}); err == nil {
			t.Errorf("Open with job id %q succeeded", id)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Retention and shared files

func TestRetentionDefaultKeepsOne(t *testing.T) {
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 0)
	var last *snapshot.Metadata
	for id := int64(1); id <= 3; id++ {
		last = cpTake(t, c, id, fmt.Sprint("v", id))
		cpExpectCompleted(t, c, id)
		cpExpectFiles(t, st, "", cpFiles("job", last)...)
	}
}

func TestRetentionKeepsThree(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 3)
	ms := map[int64]*snapshot.Metadata{}
	for id := int64(1); id <= 5; id++ {
		ms[id] = cpTake(t, c, id, fmt.Sprint("v", id))
	}
	cpExpectCompleted(t, c, 3, 4, 5)
	var want []string
	for id := int64(3); id <= 5; id++ {
		want = append(want, cpFiles("job", ms[id])...)
	}
	cpExpectFiles(t, st, "", want...)
	for id := int64(3); id <= 5; id++ {
		m, err := c.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if vals, err := cpReadAll(ctx, c.Reader(), m); err != nil || !maps.Equal(vals, cpWant(fmt.Sprint("v", id))) {
			t.Fatalf("checkpoint %d reads %v, %v", id, vals, err)
		}
	}
	for _, id := range []int64{1, 2} {
		if _, err := c.Load(ctx, id); !errors.Is(err, snapshot.ErrMissing) {
			t.Fatalf("Load(%d) of a subsumed checkpoint: %v", id, err)
		}
	}
}

// Retention of one job never touches another's checkpoints.
func TestRetentionIsPerJob(t *testing.T) {
	st := cpMem(t)
	a, _ := cpOpen(t, st, "a", 1)
	ab, _ := cpOpen(t, st, "ab", 1)
	ma := cpTake(t, a, 1, "a1")
	cpTake(t, ab, 1, "ab1")
	mab2 := cpTake(t, ab, 2, "ab2")
	cpExpectFiles(t, st, "", append(cpFiles("a", ma), cpFiles("ab", mab2)...)...)
}

func TestSharedFilesRetainedOne(t *testing.T) {
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 1)
	A, B := cpShared(t, st, "job", "A"), cpShared(t, st, "job", "B")
	cpTake(t, c, 1, "v1", A, B)
	cpExpectFiles(t, st, "job/shared/", "job/shared/A", "job/shared/B")
	C := cpShared(t, st, "job", "C")
	cpTake(t, c, 2, "v2", B, C)
	// chk-1 is subsumed: A was only its own, B is still referenced by chk-2.
	cpExpectFiles(t, st, "job/shared/", "job/shared/B", "job/shared/C")
	m3 := cpTake(t, c, 3, "v3")
	cpExpectFiles(t, st, "", cpFiles("job", m3)...)
}

func TestSharedFilesRetainedTwo(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 2)
	A, B, C := cpShared(t, st, "job", "A"), cpShared(t, st, "job", "B"), cpShared(t, st, "job", "C")
	cpTake(t, c, 1, "v1", A, B)
	cpTake(t, c, 2, "v2", B)
	cpTake(t, c, 3, "v3", C)
	// chk-1 dropped: A unreferenced, B still in chk-2.
	cpExpectCompleted(t, c, 2, 3)
	cpExpectFiles(t, st, "job/shared/", "job/shared/B", "job/shared/C")
	cpTake(t, c, 4, "v4", C)
	cpExpectCompleted(t, c, 3, 4)
	cpExpectFiles(t, st, "job/shared/", "job/shared/C")
	for _, id := range []int64{3, 4} {
		if _, err := c.Load(ctx, id); err != nil {
			t.Fatalf("Load(%d): %v", id, err)
		}
	}
}

// A retained checkpoint that lost one file still protects the other shared files it
// references (its metadata says which they are).
func TestRetentionKeepsSharedFilesOfDamagedCheckpoint(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 1)
	A, B := cpShared(t, st, "job", "A"), cpShared(t, st, "job", "B")
	cpTake(t, c, 1, "v1", A)
	if err := st.Delete(ctx, "job/shared/B"); err != nil {
		t.Fatal(err)
	}
	cpTake(t, c, 2, "v2", A, B)
	cpExpectCompleted(t, c, 2)
	cpExpectFiles(t, st, "job/shared/", "job/shared/A")
}

// When the retained metadata cannot be read because the storage fails, retention deletes
// nothing (it cannot know what is still referenced) and the next checkpoint retries.
func TestRetentionStorageOutageDeletesNothing(t *testing.T) {
	fs := checkpointtest.NewFaultStorage(cpMem(t))
	c, log := cpOpen(t, fs, "job", 1)
	A := cpShared(t, fs, "job", "A")
	m1 := cpTake(t, c, 1, "v1", A)
	fs.FailNth(checkpointtest.OpReadRange, "job/chk-2/_metadata", 1)
	m2 := cpTake(t, c, 2, "v2", A)
	if !strings.Contains(log.String(), "retention") || !strings.Contains(log.String(), "job/chk-2/_metadata") {
		t.Fatalf("the failed cleanup is not logged: %s", log)
	}
	cpExpectCompleted(t, c, 1, 2)
	cpExpectFiles(t, fs, "", append(append(cpFiles("job", m1), cpFiles("job", m2)...), "job/shared/A")...)
	m3 := cpTake(t, c, 3, "v3", A)
	cpExpectCompleted(t, c, 3)
	cpExpectFiles(t, fs, "", append(cpFiles("job", m3), "job/shared/A")...)
}

// ---------------------------------------------------------------------------------------------
// Open after a crash, and ids

func TestOpenDeletesIncompleteCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openURL(t, "file://"+dir)
	c, _ := cpOpen(t, st, "job", 1)
	m1 := cpTake(t, c, 1, "v1")
	// The crashed run: checkpoint 2 wrote its files but never its metadata ...
	p, err := c.Begin(2)
	if err != nil {
		t.Fatal(err)
	}
	cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), "v2")
	cpWrite(t, p, "op-1", keygroup.RangeFor(cpMaxP, 2, 1), "v2")
	// ... and an older run left a half-deleted checkpoint (retention crashed after deleting
	// its metadata).
	putObject(t, st, "job/chk-0/op-0-0123", []byte("orphan"))
	putObject(t, st, "job/chk-0/nested/file", []byte("orphan"))
	if n := len(cpList(t, st, "job/")); n != len(cpFiles("job", m1))+4 {
		t.Fatalf("%d files before the restart", n)
	}
	// Another job's incomplete checkpoint is not this job's business.
	putObject(t, st, "other/chk-5/op-0", []byte("not mine"))

	// Restart: a new process opens the same directory.
	st2 := openURL(t, "file://"+dir)
	c2, _ := cpOpen(t, st2, "job", 1)
	cpExpectFiles(t, st2, "", append(cpFiles("job", m1), "other/chk-5/op-0")...)
	cpExpectCompleted(t, c2, 1)
	m, err := c2.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	if err != nil || m.CheckpointID != 1 {
		t.Fatalf("Restore = %v, %v", m, err)
	}
	if vals, err := cpReadAll(ctx, c2.Reader(), m); err != nil || !maps.Equal(vals, cpWant("v1")) {
		t.Fatalf("restored %v, %v", vals, err)
	}
	next, err := c2.NextID(ctx)
	if err != nil || next != 2 {
		t.Fatalf("NextID = %d, %v; want 2", next, err)
	}
	cpTake(t, c2, next, "v2")
	cpExpectCompleted(t, c2, 2)
}

func TestNextID(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 3)
	next := func(want int64) {
		t.Helper()
		got, err := c.NextID(ctx)
		if err != nil || got != want {
			t.Fatalf("NextID = %d, %v; want %d", got, err, want)
		}
	}
	next(1)
	cpTake(t, c, 1, "v1")
	next(2)
	cpTake(t, c, 5, "v5")
	next(6)
	// Files of a checkpoint another writer is producing count too.
	putObject(t, st, "job/chk-7/op-0-abc", []byte("x"))
	next(8)
	// So does a checkpoint in progress here, even before its first file.
	p, err := c.Begin(11)
	if err != nil {
		t.Fatal(err)
	}
	next(12)
	if err := p.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	next(8)
	// Neither another job's checkpoints, nor directories that are not chk-<n>.
	putObject(t, st, "job2/chk-100/_metadata", []byte("x"))
	putObject(t, st, "job/chk-x/_metadata", []byte("x"))
	putObject(t, st, "job/chk-/_metadata", []byte("x"))
	putObject(t, st, "job/chk-99", []byte("x"))
	putObject(t, st, "job/shared/chk-50/a", []byte("x"))
	next(8)
	cpExpectCompleted(t, c, 1, 5)
}

// chk-007 is not checkpoint 7: its metadata is not where checkpoint 7's is read from.
func TestNonCanonicalCheckpointDirectoriesAreIgnored(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, log := cpOpen(t, st, "job", 3)
	cpTake(t, c, 1, "v1")
	meta := readAll(t, st, "job/chk-1/_metadata")
	for _, dir := range []string{"chk-007", "chk-+8", "chk--9"} {
		putObject(t, st, "job/"+dir+"/_metadata", meta)
	}
	cpExpectCompleted(t, c, 1)
	m, err := c.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	if err != nil || m.CheckpointID != 1 {
		t.Fatalf("Restore = %v, %v", m, err)
	}
	if log.String() != "" {
		t.Fatalf("unexpected warnings: %s", log)
	}
}

// ---------------------------------------------------------------------------------------------
// Restore and its fallback

// cpRestoreFixture: checkpoints 1, 2, 3 retained (values v1, v2, v3).
type cpRestoreFixture struct {
	st  checkpoint.Storage
	c   *checkpoint.Checkpoints
	log *cpLog
	ms  map[int64]*snapshot.Metadata
}

func newRestoreFixture(t *testing.T) *cpRestoreFixture {
	st := cpMem(t)
	c, log := cpOpen(t, st, "job", 3)
	f := &cpRestoreFixture{st: st, c: c, log: log, ms: map[int64]*snapshot.Metadata{}}
	for id := int64(1); id <= 3; id++ {
		f.ms[id] = cpTake(t, c, id, fmt.Sprint("v", id))
	}
	return f
}

// restore runs Restore with a callback that reads every handle of the metadata, as a
// backend's restore does, and returns the ids the callback saw and the values restored.
func (f *cpRestoreFixture) restore(t *testing.T) (*snapshot.Metadata, []int64, map[string]string, error) {
	t.Helper()
	var seen []int64
	var vals map[string]string
	m, err := f.c.Restore(context.Background(), func(m *snapshot.Metadata) error {
		seen = append(seen, m.CheckpointID)
		var err error
		vals, err = cpReadAll(context.Background(), f.c.Reader(), m)
		return err
	})
	return m, seen, vals, err
}

// expectFallback checks that Restore skipped checkpoint 3, logging bad, and restored 2.
func (f *cpRestoreFixture) expectFallback(t *testing.T, bad string, callbackSaw3 bool) {
	t.Helper()
	m, seen, vals, err := f.restore(t)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if m.CheckpointID != 2 || !maps.Equal(vals, cpWant("v2")) {
		t.Fatalf("restored checkpoint %d with %v, want checkpoint 2", m.CheckpointID, vals)
	}
	wantSeen := []int64{2}
	if callbackSaw3 {
		wantSeen = []int64{3, 2}
	}
	if !slices.Equal(seen, wantSeen) {
		t.Fatalf("callback saw checkpoints %v, want %v", seen, wantSeen)
	}
	log := f.log.String()
	if !strings.Contains(log, "WARN") || !strings.Contains(log, "checkpoint=3") || !strings.Contains(log, bad) {
		t.Fatalf("the log does not name checkpoint 3's bad file %s:\n%s", bad, log)
	}
	if strings.Contains(log, "checkpoint=2") {
		t.Fatalf("the log blames checkpoint 2:\n%s", log)
	}
	// The damaged checkpoint is left for inspection, not deleted.
	cpExpectCompleted(t, f.c, 1, 2, 3)
}

// fileOf3 returns the storage name of checkpoint 3's first data file.
func (f *cpRestoreFixture) fileOf3() string { return "job/" + f.ms[3].Files()[0].Path }

func TestRestorePicksLatest(t *testing.T) {
	f := newRestoreFixture(t)
	m, seen, vals, err := f.restore(t)
	if err != nil {
		t.Fatal(err)
	}
	if m.CheckpointID != 3 || !slices.Equal(seen, []int64{3}) || !maps.Equal(vals, cpWant("v3")) {
		t.Fatalf("restored %d (callback saw %v) with %v", m.CheckpointID, seen, vals)
	}
	if f.log.String() != "" {
		t.Fatalf("unexpected log: %s", f.log)
	}
}

func TestRestoreFallsBack(t *testing.T) {
	ctx := context.Background()
	t.Run("corrupt-metadata", func(t *testing.T) {
		f := newRestoreFixture(t)
		putObject(t, f.st, "job/chk-3/_metadata", []byte("this is not metadata at all"))
		f.expectFallback(t, "job/chk-3/_metadata", false)
	})
	t.Run("truncated-metadata", func(t *testing.T) {
		f := newRestoreFixture(t)
		meta := readAll(t, f.st, "job/chk-3/_metadata")
		putObject(t, f.st, "job/chk-3/_metadata", meta[:len(meta)/2])
		f.expectFallback(t, "job/chk-3/_metadata", false)
	})
	t.Run("flipped-metadata-byte", func(t *testing.T) {
		f := newRestoreFixture(t)
		meta := readAll(t, f.st, "job/chk-3/_metadata")
		meta[len(meta)-5] ^= 0x20
		putObject(t, f.st, "job/chk-3/_metadata", meta)
		f.expectFallback(t, "job/chk-3/_metadata", false)
	})
	t.Run("missing-file", func(t *testing.T) {
		f := newRestoreFixture(t)
		if err := f.st.Delete(ctx, f.fileOf3()); err != nil {
			t.Fatal(err)
		}
		f.expectFallback(t, f.fileOf3(), false)
	})
	t.Run("file-too-short", func(t *testing.T) {
		f := newRestoreFixture(t)
		b := readAll(t, f.st, f.fileOf3())
		putObject(t, f.st, f.fileOf3(), b[:len(b)-1])
		f.expectFallback(t, f.fileOf3(), false)
	})
	t.Run("file-too-long", func(t *testing.T) {
		f := newRestoreFixture(t)
		putObject(t, f.st, f.fileOf3(), append(readAll(t, f.st, f.fileOf3()), 0))
		f.expectFallback(t, f.fileOf3(), false)
	})
	t.Run("missing-shared-file", func(t *testing.T) {
		st := cpMem(t)
		c, log := cpOpen(t, st, "job", 2)
		A, B := cpShared(t, st, "job", "A"), cpShared(t, st, "job", "B")
		cpTake(t, c, 1, "v1", A)
		cpTake(t, c, 2, "v2", A, B)
		if err := st.Delete(ctx, "job/shared/B"); err != nil {
			t.Fatal(err)
		}
		m, err := c.Restore(ctx, func(*snapshot.Metadata) error { return nil })
		if err != nil || m.CheckpointID != 1 {
			t.Fatalf("Restore = %v, %v", m, err)
		}
		if !strings.Contains(log.String(), "job/shared/B") {
			t.Fatalf("log does not name job/shared/B: %s", log)
		}
	})
	// The file has the recorded size, so only reading it finds the damage: the callback
	// returns ReadKeyGroups' ErrCorrupt.
	t.Run("corrupt-block-found-by-callback", func(t *testing.T) {
		f := newRestoreFixture(t)
		b := readAll(t, f.st, f.fileOf3())
		h := f.ms[3].Operators[0].Keyed[0]
		b[h.Blocks[1].Offset+2] ^= 0xff
		putObject(t, f.st, f.fileOf3(), b)
		// ReadKeyGroups names the file by its path in the metadata.
		f.expectFallback(t, f.ms[3].Files()[0].Path, true)
	})
	t.Run("callback-says-corrupt", func(t *testing.T) {
		f := newRestoreFixture(t)
		var seen []int64
		m, err := f.c.Restore(ctx, func(m *snapshot.Metadata) error {
			seen = append(seen, m.CheckpointID)
			if m.CheckpointID == 3 {
				return fmt.Errorf("restoring operator op: %w",
					&snapshot.FileError{Path: "chk-3/timers-7", Err: snapshot.ErrCorrupt, Detail: "bad timer"})
			}
			return nil
		})
		if err != nil || m.CheckpointID != 2 || !slices.Equal(seen, []int64{3, 2}) {
			t.Fatalf("Restore = %v, %v (callback saw %v)", m, err, seen)
		}
		if !strings.Contains(f.log.String(), "chk-3/timers-7") {
			t.Fatalf("log does not name the bad file: %s", f.log)
		}
	})
	t.Run("two-bad", func(t *testing.T) {
		f := newRestoreFixture(t)
		putObject(t, f.st, "job/chk-3/_metadata", []byte("junk"))
		if err := f.st.Delete(ctx, "job/"+f.ms[2].Files()[1].Path); err != nil {
			t.Fatal(err)
		}
		m, _, vals, err := f.restore(t)
		if err != nil || m.CheckpointID != 1 || !maps.Equal(vals, cpWant("v1")) {
			t.Fatalf("Restore = %v, %v, %v", m, vals, err)
		}
		log := f.log.String()
		for _, want := range []string{"job/chk-3/_metadata", f.ms[2].Files()[1].Path} {
			if !strings.Contains(log, want) {
				t.Fatalf("log does not name %s: %s", want, log)
			}
		}
	})
}

// When checkpoints exist but none can be read, Restore says so with its own sentinel, not
// ErrNoCheckpoint, which callers take as "start fresh": a fresh start would repeat the
// output the job published before.
func TestRestoreEveryCheckpointBad(t *testing.T) {
	ctx := context.Background()
	f := newRestoreFixture(t)
	for id := int64(1); id <= 3; id++ {
		putObject(t, f.st, fmt.Sprintf("job/chk-%d/_metadata", id), []byte("junk"))
	}
	called := false
	m, err := f.c.Restore(ctx, func(*snapshot.Metadata) error { called = true; return nil })
	if !errors.Is(err, checkpoint.ErrNoReadableCheckpoint) || m != nil || called {
		t.Fatalf("Restore = %v, %v (callback called: %v); want ErrNoReadableCheckpoint", m, err, called)
	}
	if errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Errorf("unreadable checkpoints are reported as no checkpoint, which callers take as a fresh start: %v", err)
	}
	if !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("the error does not carry the reasons: %v", err)
	}
	for id := 1; id <= 3; id++ {
		if name := fmt.Sprintf("job/chk-%d/_metadata", id); !strings.Contains(err.Error(), name) || !strings.Contains(f.log.String(), name) {
			t.Errorf("%s is named neither in the error nor the log:\n%v\n%s", name, err, f.log)
		}
		if want := fmt.Sprintf("checkpoint %d: ", id); !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

// A checkpoint whose files are all readable but whose state the callback finds corrupt (an
// operator state file that decodes to nonsense) counts as unreadable too.
func TestRestoreEveryCheckpointRejected(t *testing.T) {
	f := newRestoreFixture(t)
	var tried []int64
	_, err := f.c.Restore(context.Background(), func(m *snapshot.Metadata) error {
		tried = append(tried, m.CheckpointID)
		return &snapshot.FileError{Path: fmt.Sprintf("chk-%d/op", m.CheckpointID), Err: snapshot.ErrCorrupt, Detail: "bad name"}
	})
	if !errors.Is(err, checkpoint.ErrNoReadableCheckpoint) || errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Fatalf("Restore = %v; want ErrNoReadableCheckpoint", err)
	}
	if !slices.Equal(tried, []int64{3, 2, 1}) {
		t.Errorf("tried checkpoints %v, want [3 2 1]", tried)
	}
	for id := 1; id <= 3; id++ {
		if want := fmt.Sprintf("checkpoint %d: checkpoint: corrupt file: chk-%d/op: bad name", id, id); !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

func TestRestoreNoCheckpoint(t *testing.T) {
	c, _ := cpOpen(t, cpMem(t), "job", 1)
	m, err := c.Restore(context.Background(), func(*snapshot.Metadata) error {
		t.Fatal("callback called")
		return nil
	})
	if !errors.Is(err, checkpoint.ErrNoCheckpoint) || m != nil {
		t.Fatalf("Restore = %v, %v; want ErrNoCheckpoint", m, err)
	}
	if errors.Is(err, checkpoint.ErrNoReadableCheckpoint) {
		t.Fatalf("no checkpoint at all is reported as unreadable checkpoints: %v", err)
	}
}

// An error that does not say the checkpoint is bad (a serializer mismatch, a canceled
// context, a storage outage) stops the restore: falling back would silently lose state.
func TestRestoreOtherErrorsAreReturned(t *testing.T) {
	ctx := context.Background()
	f := newRestoreFixture(t)
	boom := errors.New("state serializer changed")
	calls := 0
	m, err := f.c.Restore(ctx, func(*snapshot.Metadata) error { calls++; return fmt.Errorf("operator op: %w", boom) })
	if !errors.Is(err, boom) || m != nil || calls != 1 {
		t.Fatalf("Restore = %v, %v after %d callbacks; want the callback's error after 1", m, err, calls)
	}
	if errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Fatalf("the callback's error is reported as ErrNoCheckpoint: %v", err)
	}

	fs := checkpointtest.NewFaultStorage(f.st)
	c, _ := cpOpen(t, fs, "job", 3)
	fs.FailNth(checkpointtest.OpReadRange, "job/chk-3/_metadata", 1)
	if _, err := c.Restore(ctx, func(*snapshot.Metadata) error { return nil }); !errors.Is(err, checkpointtest.ErrInjected) {
		t.Fatalf("Restore with a failing storage = %v, want the storage's error", err)
	}
}

// ---------------------------------------------------------------------------------------------
// Failures while checkpointing

func TestJobManagerCheckpointTooLarge(t *testing.T) {
	ctx := context.Background()
	st := blobstore.NewJobManagerStorage(2048)
	t.Cleanup(func() { st.Close() })
	c, _ := cpOpen(t, st, "job", 1)
	m1 := cpTake(t, c, 1, "small")

	p, err := c.Begin(2)
	if err != nil {
		t.Fatal(err)
	}
	cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), "small")
	_, err = cpTryWrite(p, "op-1", keygroup.RangeFor(cpMaxP, 2, 1), strings.Repeat("x", 1000))
	if !errors.Is(err, checkpoint.ErrStateTooLarge) || !strings.Contains(err.Error(), blobstore.MaxStateSizeKey) {
		t.Fatalf("writing a handle over the limit: %v, want ErrStateTooLarge naming %s", err, blobstore.MaxStateSizeKey)
	}
	// The checkpoint fails: the coordinator aborts it.
	if err := p.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	cpExpectFiles(t, st, "", cpFiles("job", m1)...)
	cpExpectCompleted(t, c, 1)
	m, err := c.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	if err != nil || m.CheckpointID != 1 {
		t.Fatalf("Restore = %v, %v", m, err)
	}
	if vals, err := cpReadAll(ctx, c.Reader(), m); err != nil || !maps.Equal(vals, cpWant("small")) {
		t.Fatalf("restored %v, %v", vals, err)
	}
}

func TestMetadataWriteFailure(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(cpMem(t))
	c, _ := cpOpen(t, fs, "job", 1)
	m1 := cpTake(t, c, 1, "v1")
	before := cpList(t, fs, "")
	meta1 := readAll(t, fs, "job/chk-1/_metadata")

	fs.FailNth(checkpointtest.OpCommit, "job/chk-2/_metadata", 1)
	p, err := c.Begin(2)
	if err != nil {
		t.Fatal(err)
	}
	m2 := cpMetadata(cpMaxP,
		cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), "v2"),
		cpWrite(t, p, "op-1", keygroup.RangeFor(cpMaxP, 2, 1), "v2"))
	err = p.Complete(ctx, m2)
	if !errors.Is(err, checkpointtest.ErrInjected) {
		t.Fatalf("Complete with a failing metadata write: %v", err)
	}
	// No file of checkpoint 2 is left; checkpoint 1 is intact.
	cpExpectFiles(t, fs, "", before...)
	cpExpectFiles(t, fs, "", cpFiles("job", m1)...)
	cpExpectCompleted(t, c, 1)
	if got := readAll(t, fs, "job/chk-1/_metadata"); !bytes.Equal(got, meta1) {
		t.Fatal("checkpoint 1's metadata changed")
	}
	m, err := c.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	if err != nil || m.CheckpointID != 1 {
		t.Fatalf("Restore = %v, %v", m, err)
	}
	if vals, err := cpReadAll(ctx, c.Reader(), m); err != nil || !maps.Equal(vals, cpWant("v1")) {
		t.Fatalf("restored %v, %v", vals, err)
	}
	// The failed checkpoint is no longer in progress; the next one completes.
	cpTake(t, c, 2, "v2")
	cpExpectCompleted(t, c, 2)
}

// Complete reports an encoding failure (invalid metadata) the same way: nothing is left.
func TestCompleteInvalidMetadata(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	c, _ := cpOpen(t, st, "job", 1)
	p, err := c.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	h := cpWrite(t, p, "op-0", keygroup.Range{Start: 0, End: cpMaxP - 1}, "v")
	h.Blocks = h.Blocks[1:] // inconsistent with the key-group range
	if err := p.Complete(ctx, cpMetadata(cpMaxP, h)); err == nil {
		t.Fatal("Complete with invalid metadata succeeded")
	}
	cpExpectFiles(t, st, "")
	cpExpectCompleted(t, c)
}

// ---------------------------------------------------------------------------------------------
// Savepoints

func TestSavepointIsSelfContained(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "savepoint-1")
	st, err := blobstore.OpenURL(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	p := checkpoint.BeginSavepoint(st)
	h0 := cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), "saved")
	h1 := cpWrite(t, p, "op-1", keygroup.RangeFor(cpMaxP, 2, 1), "saved")
	m := cpMetadata(cpMaxP, h0, h1)
	m.JobID, m.CheckpointID = "job", 42
	if err := p.Complete(ctx, m); err != nil {
		t.Fatal(err)
	}
	if !m.Savepoint {
		t.Fatal("Complete did not mark the metadata a savepoint")
	}
	cpExpectFiles(t, st, "", h0.File.Path, h1.File.Path, "_metadata")
	if err := p.Complete(ctx, m); err == nil {
		t.Fatal("second Complete succeeded")
	}
	// The directory holds one savepoint: another one there fails and leaves nothing.
	p2 := checkpoint.BeginSavepoint(st)
	other := cpWrite(t, p2, "op-0", keygroup.Range{Start: 0, End: cpMaxP - 1}, "other")
	if err := p2.Complete(ctx, cpMetadata(cpMaxP, other)); !errors.Is(err, checkpoint.ErrExists) {
		t.Fatalf("a second savepoint in the directory: %v, want ErrExists", err)
	}
	cpExpectFiles(t, st, "", h0.File.Path, h1.File.Path, "_metadata")
	st.Close()

	// Move it: copy the directory elsewhere and delete the original.
	moved := filepath.Join(t.TempDir(), "elsewhere", "sp")
	if err := os.CopyFS(moved, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	st2 := openURL(t, "file://"+moved)
	got, r, err := checkpoint.LoadSavepoint(ctx, st2)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Savepoint || got.JobID != "job" || got.CheckpointID != 42 || len(got.Files()) != 2 {
		t.Fatalf("loaded metadata %+v", got)
	}
	vals, err := cpReadAll(ctx, r, got)
	if err != nil {
		t.Fatal(err)
	}
	if want := cpWant("saved"); !maps.Equal(vals, want) {
		t.Fatalf("read back %v, want %v", vals, want)
	}
	// A damaged copy is detected on load and names the file.
	if err := os.Remove(filepath.Join(moved, filepath.FromSlash(h1.File.Path))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkpoint.LoadSavepoint(ctx, st2); !errors.Is(err, snapshot.ErrMissing) || !strings.Contains(err.Error(), h1.File.Path) {
		t.Fatalf("LoadSavepoint of a damaged copy: %v", err)
	}
}

func TestSavepointAbortAndEmptyDir(t *testing.T) {
	ctx := context.Background()
	st := openURL(t, "file://"+t.TempDir())
	if _, _, err := checkpoint.LoadSavepoint(ctx, st); !errors.Is(err, snapshot.ErrMissing) {
		t.Fatalf("LoadSavepoint of an empty directory: %v, want ErrMissing", err)
	}
	p := checkpoint.BeginSavepoint(st)
	cpWrite(t, p, "op-0", keygroup.Range{Start: 0, End: cpMaxP - 1}, "v")
	if err := p.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	cpExpectFiles(t, st, "")
}

func TestOpenDeletesOrphanedSharedFilesAndChecksMetadataIdentity(t *testing.T) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cps.Begin(1)
	sh, err := p.CreateShared(ctx, "kept.sst")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sh.Write([]byte("referenced"))
	ref, err := sh.Close()
	if err != nil {
		t.Fatal(err)
	}
	w, _ := st.Create(ctx, "job/"+snapshot.SharedDir+"orphan.sst", false)
	_, _ = w.Write([]byte("from a crashed checkpoint"))
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	md := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128,
		Keyed: []*snapshot.KeyedStateHandle{{KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializer: "int64",
			Incremental: &snapshot.IncrementalHandle{Backend: "lsm", Shared: []snapshot.IncrementalFile{{Name: "000001.sst", Path: ref.Path, Size: ref.Size, SHA256: ref.SHA256}}}}}}}}
	if err := p.Complete(ctx, md); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{}); err != nil {
		t.Fatal(err)
	}
	names, _ := st.List(ctx, "job/"+snapshot.SharedDir)
	if len(names) != 1 || names[0] != "job/"+ref.Path {
		t.Fatalf("shared files after Open: %v, want only %s", names, ref.Path)
	}
	// Metadata copied under another checkpoint's directory is not that checkpoint.
	b, _ := st.ReadRange(ctx, "job/chk-1/_metadata", 0, -1)
	w, _ = st.Create(ctx, "job/chk-2/_metadata", false)
	_, _ = w.Write(b)
	_, _ = w.Commit()
	if _, err := cps.Load(ctx, 2); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("Load of misplaced metadata: %v", err)
	}
}

package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
)

// eventLog records, in order, what a test observes of a storage: fsyncs (from the file://
// sync hook) and the calls a recordingStorage sees. Safe for concurrent use.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
}

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// recordingStorage logs the start and end of every Commit and every Delete.
type recordingStorage struct {
	checkpoint.Storage
	log *eventLog
}

func (s *recordingStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	w, err := s.Storage.Create(ctx, name, ifNotExist)
	if err != nil {
		return nil, err
	}
	return &recordingWriter{Writer: w, name: name, log: s.log}, nil
}

func (s *recordingStorage) Delete(ctx context.Context, name string) error {
	s.log.add("delete %s", name)
	return s.Storage.Delete(ctx, name)
}

type recordingWriter struct {
	checkpoint.Writer
	name string
	log  *eventLog
}

func (w *recordingWriter) Commit() (int64, error) {
	w.log.add("commit-start %s", w.name)
	n, err := w.Writer.Commit()
	if err == nil {
		w.log.add("commit-done %s", w.name)
	}
	return n, err
}

// openSynced opens file:// storage in a new directory whose fsyncs go to log as
// "sync <path relative to the directory>" ("." for the directory itself).
func openSynced(t *testing.T, log *eventLog) (checkpoint.Storage, string) {
	t.Helper()
	dir := t.TempDir()
	st := openURL(t, "file://"+dir)
	if !checkpoint.SetFileSyncHook(st, func(p string) {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			rel = p
		}
		log.add("sync %s", filepath.ToSlash(rel))
	}) {
		t.Fatal("file:// storage has no sync hook")
	}
	return st, dir
}

// tempOf reports whether the synced path rel is a temporary file of object name.
func tempOf(rel, name string) bool {
	rest, ok := strings.CutPrefix(rel, name+".")
	return ok && strings.HasSuffix(rest, ".tmp") && len(rest) == 16+len(".tmp")
}

// Defect 8 (issue 17): a file:// Commit is durable when it returns: the bytes are fsynced
// before the rename gives them their name (the final name does not exist yet), then the
// directory holding the name, then the parent of every directory created for the object. A
// directory already linked durably is not fsynced into its parent again.
func TestFileCommitIsDurable(t *testing.T) {
	log := &eventLog{}
	st, dir := openSynced(t, log)
	var finalExistedAtDataSync []bool
	checkpoint.SetFileSyncHook(st, func(p string) {
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasSuffix(rel, ".tmp") {
			final := p[:len(p)-len(".0123456789abcdef.tmp")]
			_, err := os.Stat(final)
			finalExistedAtDataSync = append(finalExistedAtDataSync, err == nil)
		}
		log.add("sync %s", rel)
	})
	putObject(t, st, "job/chk-1/a", []byte("first file"))
	ev := log.all()
	if len(ev) != 4 || !tempOf(strings.TrimPrefix(ev[0], "sync "), "job/chk-1/a") ||
		!slices.Equal(ev[1:], []string{"sync job/chk-1", "sync job", "sync ."}) {
		t.Fatalf("commit of job/chk-1/a in a new directory fsynced\n  %q\nwant its temporary file, job/chk-1, job and the root", ev)
	}
	log.events = nil
	putObject(t, st, "job/chk-1/b", []byte("second file"))
	putObject(t, st, "job/chk-2/c", []byte("a new checkpoint directory"))
	ev = log.all()
	if len(ev) != 5 || !tempOf(strings.TrimPrefix(ev[0], "sync "), "job/chk-1/b") || ev[1] != "sync job/chk-1" ||
		!tempOf(strings.TrimPrefix(ev[2], "sync "), "job/chk-2/c") || !slices.Equal(ev[3:], []string{"sync job/chk-2", "sync job"}) {
		t.Fatalf("fsynced\n  %q\nwant b's temporary file and job/chk-1; c's, job/chk-2 and job", ev)
	}
	for i, existed := range finalExistedAtDataSync {
		if existed {
			t.Errorf("data fsync %d happened after the rename: the name could point at bytes a power loss loses", i)
		}
	}
	// A directory removed (its last object deleted) and created again is fsynced into its
	// parent again.
	for _, n := range []string{"job/chk-2/c"} {
		if err := st.Delete(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	log.events = nil
	putObject(t, st, "job/chk-2/d", []byte("again"))
	if ev := log.all(); len(ev) != 3 || !slices.Equal(ev[1:], []string{"sync job/chk-2", "sync job"}) {
		t.Fatalf("commit into a re-created directory fsynced %q, want its temporary file, job/chk-2 and job", ev)
	}
}

// Defect 8: the lifecycle order. Every file of a checkpoint is durable before its _metadata
// is written, the metadata is durable before retention deletes anything of the checkpoint
// before it. Checked through the calls every storage sees (Commit returned before the next
// step) and, on file://, through the fsyncs themselves.
func TestCheckpointDurabilityOrder(t *testing.T) {
	for _, kind := range []string{"file", "mem"} {
		t.Run(kind, func(t *testing.T) {
			log := &eventLog{}
			var inner checkpoint.Storage
			if kind == "file" {
				inner, _ = openSynced(t, log)
			} else {
				inner = openURL(t, "mem://")
			}
			st := &recordingStorage{Storage: inner, log: log}
			c, _ := cpOpen(t, st, "job", 1)
			cpTake(t, c, 1, "one", cpShared(t, st, "job", "s1"))
			start := len(log.all())
			m2 := cpTake(t, c, 2, "two", cpShared(t, st, "job", "s2"))
			ev := log.all()[start:]
			at := func(ok func(string) bool) int { return slices.IndexFunc(ev, ok) }
			const meta = "job/chk-2/_metadata"
			metaStart := at(func(e string) bool { return e == "commit-start "+meta })
			metaDone := at(func(e string) bool { return e == "commit-done "+meta })
			firstDelete := at(func(e string) bool { return strings.HasPrefix(e, "delete ") })
			if metaStart < 0 || metaDone < metaStart || firstDelete < metaDone {
				t.Fatalf("metadata commit at %d..%d, first delete at %d, want deletes after the metadata is committed:\n%s",
					metaStart, metaDone, firstDelete, strings.Join(ev, "\n"))
			}
			if !strings.HasPrefix(ev[firstDelete], "delete job/chk-1/") {
				t.Fatalf("first delete %q, want one of checkpoint 1", ev[firstDelete])
			}
			for _, f := range m2.Files() {
				name := "job/" + f.Path
				if done := at(func(e string) bool { return e == "commit-done "+name }); done < 0 && !strings.HasPrefix(f.Path, "shared/") || done > metaStart {
					t.Errorf("%s committed at %d, the metadata's commit started at %d", name, done, metaStart)
				}
			}
			if kind != "file" {
				return
			}
			// On file://: the data files' temporary files and directory are fsynced before
			// the metadata's temporary file, which is fsynced, renamed, and its directory
			// fsynced before the first delete.
			metaSync := at(func(e string) bool { return tempOf(strings.TrimPrefix(e, "sync "), meta) })
			metaDirSync := slices.IndexFunc(ev[metaSync+1:], func(e string) bool { return e == "sync job/chk-2" }) + metaSync + 1
			if metaSync < 0 || metaSync < metaStart || metaDirSync <= metaSync || metaDirSync > metaDone || firstDelete < metaDirSync {
				t.Fatalf("metadata fsync at %d, its directory at %d, first delete at %d:\n%s", metaSync, metaDirSync, firstDelete, strings.Join(ev, "\n"))
			}
			for _, f := range m2.Files() {
				name := "job/" + f.Path
				dataSync := at(func(e string) bool { return tempOf(strings.TrimPrefix(e, "sync "), name) })
				dirSync := slices.IndexFunc(ev[dataSync+1:], func(e string) bool { return e == "sync "+filepath.ToSlash(filepath.Dir(name)) })
				if dataSync < 0 || dirSync < 0 || dataSync+1+dirSync > metaSync {
					t.Errorf("%s: data fsync at %d, its directory's %d after, metadata fsync at %d:\n%s", name, dataSync, dirSync, metaSync, strings.Join(ev, "\n"))
				}
			}
		})
	}
}

// dirTree returns every file and directory under dir, relative, sorted.
func dirTree(t *testing.T, dir string) []string {
	t.Helper()
	var all []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			all = append(all, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	return all
}

// Defect 7 (issue 17): retention removes the directories of the checkpoints it deletes on
// file://; after many checkpoints only the retained ones (and the shared files they
// reference) remain.
func TestRetentionRemovesCheckpointDirectories(t *testing.T) {
	dir := t.TempDir()
	st := openURL(t, "file://"+dir)
	c, _ := cpOpen(t, st, "job", 2)
	var last []*checkpoint.Metadata
	for id := int64(1); id <= 12; id++ {
		m := cpTake(t, c, id, "v", cpShared(t, st, "job", fmt.Sprintf("s%d", id)))
		last = append(last, m)
	}
	want := []string{"job", "job/chk-11", "job/chk-12", "job/shared"}
	for _, m := range last[len(last)-2:] {
		want = append(want, cpFiles("job", m)...)
		for _, f := range m.Files() {
			if strings.HasPrefix(f.Path, "shared/") {
				want = append(want, "job/"+f.Path)
			}
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if got := dirTree(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after 12 checkpoints, 2 retained, the storage holds\n  %q\nwant\n  %q", got, want)
	}
}

// Defect 7: retention lists only the directories of the checkpoints it deletes, never every
// checkpoint directory, so a checkpoint's cost does not grow with the number taken before.
func TestRetentionListsOnlyWhatItDeletes(t *testing.T) {
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	c, _ := cpOpen(t, fs, "job", 2)
	var lists []string
	var mu sync.Mutex
	fs.SetHook(func(op checkpointtest.Op, name string) error {
		if op == checkpointtest.OpList {
			mu.Lock()
			lists = append(lists, name)
			mu.Unlock()
		}
		return nil
	})
	for id := int64(1); id <= 6; id++ {
		cpTake(t, c, id, "v")
	}
	want := []string{"job/chk-1/", "job/chk-2/", "job/chk-3/", "job/chk-4/"}
	if !slices.Equal(lists, want) {
		t.Fatalf("6 checkpoints with 2 retained listed %q, want only the directories deleted: %q", lists, want)
	}
}

// Defect 7: Open sweeps the temporary files of writes a killed process left (which List hides,
// so nothing else could delete them) and empty directories, under its job only; committed
// objects, the job directory itself and other jobs' files stay.
func TestOpenSweepsTemporaryFilesAndEmptyDirectories(t *testing.T) {
	dir := t.TempDir()
	st := openURL(t, "file://"+dir)
	ctx := context.Background()
	c, _ := cpOpen(t, st, "job", 1)
	cpTake(t, c, 1, "one")
	// A killed process: a write never committed (its temporary file stays), directories of
	// checkpoints emptied by a version that did not remove them, and a temp file in another
	// job, which is not this job's to sweep.
	w, err := st.Create(ctx, "job/chk-2/op-0-0123", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("interrupted")); err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf("%016x", time.Now().Add(-time.Hour).UnixNano())
	for _, p := range []string{"job/chk-7", "job/chk-8/nested/deeper", "job/shared", "other"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"job/shared/sst-1." + old + ".tmp", "other/x." + old + ".tmp"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("left by a crash"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A name that only looks like a temporary file of a write in progress right now (its
	// time is after the sweep started) is not swept: a sweep never races a new write.
	future := fmt.Sprintf("%016x", time.Now().Add(time.Hour).UnixNano())
	if err := os.WriteFile(filepath.Join(dir, "job/shared/sst-2."+future+".tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirTree(t, dir)
	if !slices.ContainsFunc(before, func(p string) bool { return strings.HasPrefix(p, "job/chk-2/op-0-0123.") }) {
		t.Fatalf("the uncommitted write left no temporary file: %q", before)
	}
	st2 := openURL(t, "file://"+dir) // the next process
	c2, _ := cpOpen(t, st2, "job", 1)
	cpExpectCompleted(t, c2, 1)
	got := dirTree(t, dir)
	var want []string
	for _, p := range before {
		if strings.HasPrefix(p, "job/") && strings.Contains(p, ".tmp") && !strings.Contains(p, future) ||
			strings.HasPrefix(p, "job/chk-2") || strings.HasPrefix(p, "job/chk-7") || strings.HasPrefix(p, "job/chk-8") {
			continue
		}
		want = append(want, p)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after Open:\n  %q\nwant\n  %q", got, want)
	}
	w.Abort()
}

// Deletes remove the directories they empty, up to but never including the storage root, and
// an aborted write leaves no directory behind.
func TestFileDeleteRemovesEmptyDirectories(t *testing.T) {
	dir := t.TempDir()
	st := openURL(t, "file://"+dir)
	ctx := context.Background()
	putObject(t, st, "job/chk-1/a", []byte("a"))
	putObject(t, st, "job/chk-1/b", []byte("b"))
	putObject(t, st, "job/shared/s", []byte("s"))
	del := func(n string) {
		t.Helper()
		if err := st.Delete(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	del("job/chk-1/a")
	if got, want := dirTree(t, dir), []string{"job", "job/chk-1", "job/chk-1/b", "job/shared", "job/shared/s"}; !slices.Equal(got, want) {
		t.Fatalf("after one delete: %q, want %q", got, want)
	}
	del("job/chk-1/b")
	if got, want := dirTree(t, dir), []string{"job", "job/shared", "job/shared/s"}; !slices.Equal(got, want) {
		t.Fatalf("after emptying chk-1: %q, want %q", got, want)
	}
	w, err := st.Create(ctx, "job/chk-2/x", false)
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	del("job/shared/s")
	if got := dirTree(t, dir); len(got) != 0 {
		t.Fatalf("after deleting everything and an aborted write: %q, want an empty root", got)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("the storage root is gone: %v", err)
	}
	putObject(t, st, "job/chk-3/_metadata", []byte("writes go on"))
}

// Open sweeps its job's directory, and a sweep that fails (debris it cannot remove) is logged,
// naming the cause, without failing the job's start.
func TestOpenSweepFailureIsLogged(t *testing.T) {
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	fs.FailNthWith(checkpointtest.OpSweep, "job/", 1, errors.New("remove job/chk-3/x.18eac6b57239f12d.tmp: permission denied"))
	c, log := cpOpen(t, fs, "job", 1)
	if got := fs.Calls(checkpointtest.OpSweep, "job/"); got != 1 {
		t.Fatalf("Open swept %d times, want once", got)
	}
	if !strings.Contains(log.String(), "permission denied") {
		t.Fatalf("the failed sweep was not logged: %q", log.String())
	}
	cpTake(t, c, 1, "v")
	cpExpectCompleted(t, c, 1)
}

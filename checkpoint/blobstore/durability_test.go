package blobstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
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
	if !blobstore.SetFileSyncHook(st, func(p string) {
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
	blobstore.SetFileSyncHook(st, func(p string) {
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
			c := cpOpen(t, st, "job", 1)
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

var dirTree = checkpointtest.DirTree

package checkpoint_test

// Retention and Open on file:// storage: what they leave in the directory tree.

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

	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// Defect 7 (issue 17): retention removes the directories of the checkpoints it deletes on
// file://; after many checkpoints only the retained ones (and the shared files they
// reference) remain.
func TestRetentionRemovesCheckpointDirectories(t *testing.T) {
	dir := t.TempDir()
	st := openURL(t, "file://"+dir)
	c, _ := cpOpen(t, st, "job", 2)
	var last []*snapshot.Metadata
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

var dirTree = checkpointtest.DirTree

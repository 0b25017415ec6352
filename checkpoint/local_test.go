package checkpoint_test

// Local recovery: the local copy of a job's checkpoint files, its lifecycle and the restore
// from it.

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// lcOpen opens the checkpoints of job "job" in st with local recovery into dir.
func lcOpen(t *testing.T, st checkpoint.Storage, dir string, retained int) (*checkpoint.Checkpoints, *cpLog) {
	t.Helper()
	log := &cpLog{}
	c, err := checkpoint.Open(context.Background(), st, "job", checkpoint.Options{
		NumRetained: retained, LocalRecovery: true, LocalDirs: []string{dir},
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

// lcRoot returns the job's one local directory.
func lcRoot(t *testing.T, c *checkpoint.Checkpoints) string {
	t.Helper()
	on, roots := c.LocalRecovery()
	if !on || len(roots) != 1 {
		t.Fatalf("LocalRecovery() = %v, %q; want on with one directory", on, roots)
	}
	return roots[0]
}

// lcFiles lists the files under root, relative, with '/'.
func lcFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// lcTake takes checkpoint id: two subtasks' own files with value val, and a shared file
// written by this checkpoint with value "shared <id>" plus the shared handles given (reused).
func lcTake(t *testing.T, c *checkpoint.Checkpoints, id int64, val string, reuse ...*snapshot.KeyedStateHandle) (*snapshot.Metadata, *snapshot.KeyedStateHandle) {
	t.Helper()
	p, err := c.Begin(id)
	if err != nil {
		t.Fatal(err)
	}
	sh := cpWrite(t, sharedOf{p}, fmt.Sprint("s", id), keygroup.Range{Start: 0, End: cpMaxP - 1}, fmt.Sprint("shared ", id))
	m := cpMetadata(cpMaxP,
		cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), val),
		cpWrite(t, p, "op-1", keygroup.RangeFor(cpMaxP, 2, 1), val))
	m.Operators = append(m.Operators, &snapshot.OperatorState{ID: "shared-op", Parallelism: 1 + len(reuse),
		MaxParallelism: cpMaxP, Keyed: append([]*snapshot.KeyedStateHandle{sh}, reuse...)})
	if err := p.Complete(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m, sh
}

// lcWantLocal is what the local copy holds for the retained metadata ms: every file they
// reference, and its fingerprint.
func lcWantLocal(ms ...*snapshot.Metadata) []string {
	var want []string
	for _, m := range ms {
		for _, f := range m.Files() {
			want = append(want, f.Path, f.Path+".crc32c")
		}
	}
	slices.Sort(want)
	return slices.Compact(want)
}

// lcRestore restores the latest checkpoint through RestoreReader, reading every keyed handle
// of its first operator; it returns the values and the reader's stats.
func lcRestore(t *testing.T, c *checkpoint.Checkpoints) (map[string]string, checkpoint.RestoreStats) {
	t.Helper()
	var vals map[string]string
	var stats checkpoint.RestoreStats
	_, err := c.Restore(context.Background(), func(m *snapshot.Metadata) error {
		r := c.RestoreReader(m)
		var err error
		vals, err = cpReadAll(context.Background(), r, &snapshot.Metadata{Operators: m.Operators[:1]})
		stats = r.Stats()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return vals, stats
}

func TestLocalCopyIsWrittenAndBoundedByRetention(t *testing.T) {
	st := openURL(t, "file://"+t.TempDir())
	c, _ := lcOpen(t, st, t.TempDir(), 2)
	root := lcRoot(t, c)
	m1, sh1 := lcTake(t, c, 1, "v1")
	if got, want := lcFiles(t, root), lcWantLocal(m1); !slices.Equal(got, want) {
		t.Fatalf("local copy after checkpoint 1:\n  %q\nwant\n  %q", got, want)
	}
	for _, f := range m1.Files() {
		fp, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)) + ".crc32c")
		if err != nil || !strings.HasPrefix(string(fp), "crc32c ") || !strings.HasSuffix(string(fp), fmt.Sprintf(" %d\n", f.Size)) {
			t.Fatalf("fingerprint of %s: %q, %v", f.Path, fp, err)
		}
		local, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if remote := readAll(t, st, "job/"+f.Path); !bytes.Equal(local, remote) {
			t.Fatalf("local copy of %s differs from the stored file", f.Path)
		}
	}
	// Checkpoints 2..6 reuse checkpoint 1's shared file; retention keeps two.
	var ms []*snapshot.Metadata
	for id := int64(2); id <= 6; id++ {
		m, _ := lcTake(t, c, id, fmt.Sprint("v", id), sh1)
		ms = append(ms, m)
	}
	if got, want := lcFiles(t, root), lcWantLocal(ms[len(ms)-2:]...); !slices.Equal(got, want) {
		t.Fatalf("local copy after 6 checkpoints, 2 retained:\n  %q\nwant\n  %q", got, want)
	}
	if !slices.Contains(lcFiles(t, root), sh1.File.Path) {
		t.Fatalf("the shared file %s the retained checkpoints reuse lost its local copy", sh1.File.Path)
	}
	// No empty directories of deleted checkpoints stay behind.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	if want := []string{"chk-5", "chk-6", "shared"}; !slices.Equal(dirs, want) {
		t.Fatalf("local directories %q, want %q", dirs, want)
	}
}

func TestLocalRestoreReadsOnlyTheVerifiedLocalCopy(t *testing.T) {
	fst := checkpointtest.NewFaultStorage(openURL(t, "file://"+t.TempDir()))
	c, log := lcOpen(t, fst, t.TempDir(), 1)
	m, _ := lcTake(t, c, 1, "v1")
	fst.ResetCounts()
	vals, stats := lcRestore(t, c)
	if !maps.Equal(vals, cpWant("v1")) {
		t.Fatalf("restored %v", vals)
	}
	var own int64
	for _, f := range m.Operators[0].Keyed {
		own += f.File.Size
	}
	if want := (checkpoint.RestoreStats{LocalFiles: 2, LocalBytes: own}); stats != want {
		t.Fatalf("stats %+v, want %+v", stats, want)
	}
	for name, rs := range fst.AllReads() {
		if !strings.HasSuffix(name, snapshot.MetadataName) && rs.Calls > 0 {
			t.Fatalf("the restore read %s from storage (%+v) although its local copy is intact", name, rs)
		}
	}
	if !strings.Contains(log.String(), "restored from the local copy") {
		t.Fatalf("no summary in the log:\n%s", log)
	}
}

// An aborted checkpoint and one whose metadata cannot be written leave no local file.
func TestLocalCopyOfFailedCheckpointsIsDeleted(t *testing.T) {
	fst := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	c, _ := lcOpen(t, fst, t.TempDir(), 1)
	root := lcRoot(t, c)
	p, err := c.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 2, 0), "v")
	cpWrite(t, sharedOf{p}, "s", keygroup.Range{Start: 0, End: cpMaxP - 1}, "s")
	if len(lcFiles(t, root)) != 4 {
		t.Fatalf("local copy while checkpoint 1 runs: %q, want its two files and their fingerprints", lcFiles(t, root))
	}
	if err := p.Abort(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := lcFiles(t, root); len(got) != 0 {
		t.Fatalf("an aborted checkpoint left local files %q", got)
	}

	p, err = c.Begin(2)
	if err != nil {
		t.Fatal(err)
	}
	h := cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 1, 0), "v")
	fst.FailNth(checkpointtest.OpCommit, snapshot.MetadataName, 1)
	if err := p.Complete(context.Background(), cpMetadata(cpMaxP, h)); err == nil {
		t.Fatal("Complete succeeded although its metadata could not be written")
	}
	if got := lcFiles(t, root); len(got) != 0 {
		t.Fatalf("a checkpoint whose metadata failed left local files %q", got)
	}
	// A stream aborted by its writer, and one committed after the checkpoint was aborted.
	p, err = c.Begin(3)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Create(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	out.Write([]byte("some bytes"))
	out.Abort()
	late, err := p.Create(context.Background(), "late")
	if err != nil {
		t.Fatal(err)
	}
	late.Write([]byte("more bytes"))
	if err := p.Abort(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Close(); err == nil {
		t.Fatal("a file committed after Abort was kept")
	}
	if got := lcFiles(t, root); len(got) != 0 {
		t.Fatalf("aborted streams left local files %q", got)
	}
}

// Open deletes the local files no complete checkpoint references: those of a checkpoint that
// never completed (a process killed), stray files, files of deleted checkpoints.
func TestLocalCopyIsSweptAtOpen(t *testing.T) {
	st := openURL(t, "file://"+t.TempDir())
	dir := t.TempDir()
	c, _ := lcOpen(t, st, dir, 1)
	root := lcRoot(t, c)
	m, _ := lcTake(t, c, 1, "v1")
	// A checkpoint that never completes (the process dies before its metadata).
	p, err := c.Begin(2)
	if err != nil {
		t.Fatal(err)
	}
	cpWrite(t, p, "op-0", keygroup.RangeFor(cpMaxP, 1, 0), "v")
	cpWrite(t, sharedOf{p}, "s", keygroup.Range{Start: 0, End: cpMaxP - 1}, "s")
	for _, debris := range []string{"chk-7/old", "shared/stray", "chk-1/stray", "chk-1/stray.crc32c", "notes.txt", "deep/er/file"} {
		p := filepath.Join(root, filepath.FromSlash(debris))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c2, _ := lcOpen(t, st, dir, 1)
	if got, want := lcFiles(t, lcRoot(t, c2)), lcWantLocal(m); !slices.Equal(got, want) {
		t.Fatalf("local copy after Open:\n  %q\nwant\n  %q", got, want)
	}
	for _, d := range []string{"chk-7", "chk-2", "deep"} {
		if _, err := os.Stat(filepath.Join(root, d)); !os.IsNotExist(err) {
			t.Fatalf("directory %s survived the sweep: %v", d, err)
		}
	}
	vals, stats := lcRestore(t, c2)
	if !maps.Equal(vals, cpWant("v1")) || stats.RemoteFiles != 0 {
		t.Fatalf("restored %v with %+v", vals, stats)
	}
	// Without local recovery nothing local is touched; the job's other storage has its own.
	other, _ := lcOpen(t, openURL(t, "file://"+t.TempDir()), dir, 1)
	if lcRoot(t, other) == root {
		t.Fatal("two storages share one local directory")
	}
	if got := lcFiles(t, root); !slices.Equal(got, lcWantLocal(m)) {
		t.Fatalf("opening the same job in another storage changed this one's local copy: %q", got)
	}
	if err := c2.DiscardLocal(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Fatalf("DiscardLocal left %s: %v", root, err)
	}
}

// A local copy that cannot be written never fails a checkpoint.
func TestLocalWriteFailureKeepsTheCheckpoint(t *testing.T) {
	c, log := lcOpen(t, openURL(t, "mem://"), t.TempDir(), 1)
	root := lcRoot(t, c)
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	// A file where checkpoint 1's directory would go.
	if err := os.WriteFile(filepath.Join(root, "chk-1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	lcTake(t, c, 1, "v1")
	if !strings.Contains(log.String(), "could not write the local copy") {
		t.Fatalf("the failed local write was not logged:\n%s", log)
	}
	vals, stats := lcRestore(t, c)
	if !maps.Equal(vals, cpWant("v1")) || stats.RemoteFiles != 2 || stats.Missing != 2 {
		t.Fatalf("restored %v with %+v", vals, stats)
	}
}

// LinkLocalCopy makes the local copy a hard link of the writer's own file: no second write.
func TestLinkLocalCopy(t *testing.T) {
	c, _ := lcOpen(t, openURL(t, "mem://"), t.TempDir(), 1)
	src := filepath.Join(t.TempDir(), "000001.sst")
	data := bytes.Repeat([]byte("sst bytes "), 1000)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := c.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.CreateShared(context.Background(), "000001.sst")
	if err != nil {
		t.Fatal(err)
	}
	linker, ok := out.(interface{ LinkLocalCopy(string) bool })
	if !ok || !linker.LinkLocalCopy(src) {
		t.Fatal("the stream did not link its local copy")
	}
	out.Write(data)
	ref, err := out.Close()
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(lcRoot(t, c), filepath.FromSlash(ref.Path))
	a, errA := os.Stat(src)
	b, errB := os.Stat(local)
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Fatalf("the local copy %s is not a hard link of %s (%v, %v)", local, src, errA, errB)
	}
	if linker.LinkLocalCopy(src) {
		t.Fatal("linked after the bytes were written")
	}
	// A savepoint has no local copy.
	sp := checkpoint.BeginSavepoint(openURL(t, "mem://"))
	spOut, err := sp.Create(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer spOut.Abort()
	if spOut.(interface{ LinkLocalCopy(string) bool }).LinkLocalCopy(src) {
		t.Fatal("a savepoint's stream linked a local copy")
	}
}

// Several local directories: every file goes to the one its path picks, and restores from it.
func TestLocalCopyOverSeveralDirs(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	c, err := checkpoint.Open(context.Background(), openURL(t, "mem://"), "job", checkpoint.Options{LocalRecovery: true, LocalDirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := lcTake(t, c, 1, "v1")
	_, roots := c.LocalRecovery()
	var all []string
	used := 0
	for _, r := range roots {
		fs := lcFiles(t, r)
		if len(fs) > 0 {
			used++
		}
		all = append(all, fs...)
	}
	slices.Sort(all)
	if !slices.Equal(all, lcWantLocal(m)) || len(roots) != 3 {
		t.Fatalf("local files over %d dirs: %q, want %q", len(roots), all, lcWantLocal(m))
	}
	vals, stats := lcRestore(t, c)
	if !maps.Equal(vals, cpWant("v1")) || stats.RemoteFiles != 0 {
		t.Fatalf("restored %v with %+v", vals, stats)
	}
	t.Logf("3 files spread over %d of 3 dirs", used)
}

package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/keygroup"
)

func openURL(t *testing.T, rawURL string) checkpoint.Storage {
	t.Helper()
	st, err := checkpoint.OpenURL(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestStorageConformance(t *testing.T) {
	t.Run("jobmanager", func(t *testing.T) {
		checkpointtest.RunStorageSuite(t, func(*testing.T) checkpoint.Storage {
			return checkpoint.NewJobManagerStorage(0)
		})
	})
	t.Run("mem", func(t *testing.T) {
		checkpointtest.RunStorageSuite(t, func(t *testing.T) checkpoint.Storage { return openURL(t, "mem://") })
	})
	t.Run("file", func(t *testing.T) {
		checkpointtest.RunStorageSuite(t, func(t *testing.T) checkpoint.Storage {
			return openURL(t, "file://"+t.TempDir())
		})
	})
	t.Run("file-missing-dir", func(t *testing.T) {
		checkpointtest.RunStorageSuite(t, func(t *testing.T) checkpoint.Storage {
			return openURL(t, "file://"+filepath.Join(t.TempDir(), "not", "yet"))
		})
	})
	// With no fault configured, FaultStorage is the storage it wraps.
	t.Run("fault-wrapper", func(t *testing.T) {
		checkpointtest.RunStorageSuite(t, func(t *testing.T) checkpoint.Storage {
			return checkpointtest.NewFaultStorage(openURL(t, "mem://"))
		})
	})
}

func TestMemURLsAreSeparate(t *testing.T) {
	a, b := openURL(t, "mem://"), openURL(t, "mem://")
	putObject(t, a, "x", []byte("in a"))
	if _, err := b.Size(context.Background(), "x"); !errors.Is(err, checkpoint.ErrMissing) {
		t.Fatalf("an object of one mem:// storage is visible in another: %v", err)
	}
}

func TestOpenURLErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"ftp://host/dir", "jobmanager", "::not a url", "/plain/path"} {
		st, err := checkpoint.OpenURL(ctx, u)
		if err == nil {
			st.Close()
			t.Errorf("OpenURL(%q) succeeded", u)
			continue
		}
		if !strings.Contains(err.Error(), "file://") && !strings.Contains(err.Error(), u) {
			t.Errorf("OpenURL(%q): error %q names neither the URL nor the supported schemes", u, err)
		}
	}
}

// The file:// storage must not depend on os.TempDir being on the checkpoint directory's
// filesystem (fileblob renames its temporary files into place).
func TestFileStorageTempDirOnOtherFilesystem(t *testing.T) {
	dir := t.TempDir()
	tmp, err := os.MkdirTemp("/dev/shm", "streamstate-test-")
	if err != nil {
		t.Skipf("no /dev/shm to put TMPDIR on: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	// Probe: a rename from there into dir must fail, or both are one filesystem.
	probe := filepath.Join(tmp, "probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Skip(err)
	}
	if err := os.Rename(probe, filepath.Join(dir, "probe")); err == nil {
		t.Skipf("/dev/shm and %s are one filesystem", dir)
	}
	t.Setenv("TMPDIR", tmp)
	st := openURL(t, "file://"+dir)
	putObject(t, st, "job/chk-1/_metadata", []byte("metadata"))
	if got := readAll(t, st, "job/chk-1/_metadata"); string(got) != "metadata" {
		t.Fatalf("read back %q", got)
	}
}

// Temporary files of writes in progress (or of a crashed process) are not objects; objects
// with a ".tmp" suffix of their own are.
func TestFileStorageListHidesTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	st := openURL(t, "file://"+dir)
	putObject(t, st, "job/report.tmp", []byte("mine"))
	putObject(t, st, "job/a.b.tmp", []byte("mine too"))
	putObject(t, st, "job/c.18eac6b57239f12.tmp", []byte("15 digits: mine"))
	if err := os.WriteFile(filepath.Join(dir, "job", "x.18eac6b57239f12d.tmp"), []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := st.Create(context.Background(), "job/open", false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write([]byte("in progress")); err != nil {
		t.Fatal(err)
	}
	names, err := st.List(context.Background(), "job/")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if want := []string{"job/a.b.tmp", "job/c.18eac6b57239f12.tmp", "job/report.tmp"}; !slices.Equal(names, want) {
		t.Fatalf("List = %q, want %q", names, want)
	}
}

func putObject(t *testing.T, st checkpoint.Storage, name string, data []byte) {
	t.Helper()
	w, err := st.Create(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, st checkpoint.Storage, name string) []byte {
	t.Helper()
	b, err := st.ReadRange(context.Background(), name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeInChunks writes n bytes to name in chunks and returns Commit's result.
func writeInChunks(st checkpoint.Storage, name string, n, chunk int) (int64, error) {
	w, err := st.Create(context.Background(), name, false)
	if err != nil {
		return 0, err
	}
	buf := bytes.Repeat([]byte{'s'}, chunk)
	for n > 0 {
		k := min(n, chunk)
		if _, err := w.Write(buf[:k]); err != nil {
			w.Abort()
			return 0, err
		}
		n -= k
	}
	return w.Commit()
}

func TestJobManagerMaxStateSize(t *testing.T) {
	ctx := context.Background()
	const limit = 1000
	st := checkpoint.NewJobManagerStorage(limit)
	defer st.Close()

	if n, err := writeInChunks(st, "job/chk-1/at-limit", limit, 300); err != nil || n != limit {
		t.Fatalf("a handle of exactly the limit: %d, %v", n, err)
	}
	for _, name := range []string{"job/chk-1/over", "job/chk-1/x_metadata", "job/shared/sst-1"} {
		_, err := writeInChunks(st, name, limit+1, 300)
		if !errors.Is(err, checkpoint.ErrStateTooLarge) {
			t.Fatalf("%s over the limit: %v, want ErrStateTooLarge", name, err)
		}
		for _, want := range []string{name, "1001 bytes", "1000 bytes", checkpoint.MaxStateSizeKey} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if _, err := st.Size(ctx, name); !errors.Is(err, checkpoint.ErrMissing) {
			t.Errorf("%s over the limit was stored: Size = %v", name, err)
		}
	}
	// _metadata is not a state handle.
	for _, name := range []string{"job/chk-1/_metadata", "_metadata"} {
		if n, err := writeInChunks(st, name, 10*limit, 300); err != nil || n != 10*limit {
			t.Fatalf("%s of %d bytes: %d, %v", name, 10*limit, n, err)
		}
	}
	names, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if want := []string{"_metadata", "job/chk-1/_metadata", "job/chk-1/at-limit"}; !slices.Equal(names, want) {
		t.Fatalf("List = %q, want %q", names, want)
	}
}

func TestJobManagerDefaultLimit(t *testing.T) {
	for _, limit := range []int64{0, -1} {
		st := checkpoint.NewJobManagerStorage(limit)
		defer st.Close()
		if limit == 0 {
			if _, err := writeInChunks(st, "h1", checkpoint.DefaultJobManagerMaxStateSize, 1<<20); err != nil {
				t.Fatalf("NewJobManagerStorage(%d): a handle of the default limit: %v", limit, err)
			}
		}
		_, err := writeInChunks(st, "h2", checkpoint.DefaultJobManagerMaxStateSize+1, 1<<20)
		if !errors.Is(err, checkpoint.ErrStateTooLarge) {
			t.Fatalf("NewJobManagerStorage(%d): over the default limit: %v", limit, err)
		}
		if want := "5.0 MiB (5242880 bytes)"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not state the limit as %q", err, want)
		}
	}
}

// A Write over the limit does not fail (the handle's full size is only known at Commit), and
// Abort discards it.
func TestJobManagerAbortOverLimit(t *testing.T) {
	st := checkpoint.NewJobManagerStorage(10)
	defer st.Close()
	w, err := st.Create(context.Background(), "h", false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write(make([]byte, 100)); err != nil || n != 100 {
		t.Fatalf("Write over the limit = %d, %v", n, err)
	}
	w.Abort()
	if names, _ := st.List(context.Background(), ""); len(names) != 0 {
		t.Fatalf("List = %q after Abort", names)
	}
}

func TestFaultStorageFailNth(t *testing.T) {
	ctx := context.Background()
	for _, op := range []checkpointtest.Op{checkpointtest.OpCreate, checkpointtest.OpWrite, checkpointtest.OpCommit,
		checkpointtest.OpReadRange, checkpointtest.OpSize, checkpointtest.OpDelete, checkpointtest.OpList} {
		t.Run(op.String(), func(t *testing.T) {
			fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
			putObject(t, fs, "job/chk-1/other", []byte("x"))
			fs.FailNth(op, "chk-1/target", 2)
			// do runs op once on name and returns its error.
			do := func(name string) error {
				switch op {
				case checkpointtest.OpCreate, checkpointtest.OpWrite, checkpointtest.OpCommit:
					w, err := fs.Create(ctx, name, false)
					if err != nil {
						return err
					}
					if _, err := w.Write([]byte("data")); err != nil {
						w.Abort()
						return err
					}
					_, err = w.Commit()
					return err
				case checkpointtest.OpReadRange:
					_, err := fs.ReadRange(ctx, name, 0, -1)
					return err
				case checkpointtest.OpSize:
					_, err := fs.Size(ctx, name)
					return err
				case checkpointtest.OpDelete:
					return fs.Delete(ctx, name)
				default:
					_, err := fs.List(ctx, name)
					return err
				}
			}
			if op != checkpointtest.OpCreate && op != checkpointtest.OpWrite && op != checkpointtest.OpCommit {
				putObject(t, fs.Inner(), "job/chk-1/target", []byte("data"))
			}
			if err := do("job/chk-1/other"); err != nil {
				t.Fatalf("a non-matching name failed: %v", err)
			}
			if err := do("job/chk-1/target"); err != nil {
				t.Fatalf("the first matching call failed: %v", err)
			}
			if op == checkpointtest.OpDelete {
				putObject(t, fs.Inner(), "job/chk-1/target", []byte("data"))
			}
			err := do("job/chk-1/target")
			if !errors.Is(err, checkpointtest.ErrInjected) || !strings.Contains(err.Error(), "job/chk-1/target") {
				t.Fatalf("the second matching call: %v, want an injected error naming the object", err)
			}
			if err := do("job/chk-1/target"); err != nil {
				t.Fatalf("the third matching call failed: %v", err)
			}
			if got := fs.Calls(op, "target"); got != 3 {
				t.Errorf("Calls(%v, target) = %d, want 3", op, got)
			}
		})
	}
}

// A failed Commit stores nothing; a failed Delete deletes nothing; FailAlways keeps failing
// until ClearFaults.
func TestFaultStorageEffects(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	fs.FailAlways(checkpointtest.OpCommit, "_metadata")
	for range 3 {
		if _, err := writeInChunks(fs, "job/chk-1/_metadata", 10, 10); !errors.Is(err, checkpointtest.ErrInjected) {
			t.Fatalf("commit: %v", err)
		}
	}
	if names, _ := fs.Inner().List(ctx, ""); len(names) != 0 {
		t.Fatalf("a failed commit stored %q", names)
	}
	putObject(t, fs, "keep", []byte("k"))
	fs.FailAlways(checkpointtest.OpDelete, "")
	if err := fs.Delete(ctx, "keep"); !errors.Is(err, checkpointtest.ErrInjected) {
		t.Fatalf("delete: %v", err)
	}
	if got := readAll(t, fs.Inner(), "keep"); string(got) != "k" {
		t.Fatalf("a failed delete deleted: %q", got)
	}
	fs.ClearFaults()
	if _, err := writeInChunks(fs, "job/chk-1/_metadata", 10, 10); err != nil {
		t.Fatal(err)
	}
	if err := fs.Delete(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
}

func TestFaultStorageHook(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	var seen []string
	boom := errors.New("boom")
	fs.SetHook(func(op checkpointtest.Op, name string) error {
		seen = append(seen, fmt.Sprintf("%v %s", op, name))
		if op == checkpointtest.OpSize && name == "fail" {
			return boom
		}
		if op == checkpointtest.OpCommit {
			// The hook may use the storage: here it sees the object is not yet visible.
			if _, err := fs.Size(ctx, name); !errors.Is(err, checkpoint.ErrMissing) {
				t.Errorf("object visible before its commit: %v", err)
			}
		}
		return nil
	})
	putObject(t, fs, "a", []byte("1"))
	if _, err := fs.Size(ctx, "fail"); err != boom {
		t.Fatalf("Size = %v, want the hook's error as is", err)
	}
	want := []string{"create a", "write a", "commit a", "size a", "size fail"}
	if !slices.Equal(seen, want) {
		t.Fatalf("hook saw %q, want %q", seen, want)
	}
}

func TestFaultStorageTruncateAndCount(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	data := []byte("0123456789")
	putObject(t, fs, "f", data)
	putObject(t, fs, "g", data)
	fs.TruncateReads("f", 6)
	for _, c := range []struct {
		off, n int64
		want   string
	}{{0, -1, "012345"}, {2, 2, "23"}, {4, 10, "45"}, {6, -1, ""}, {8, 1, ""}} {
		got, err := fs.ReadRange(ctx, "f", c.off, c.n)
		if err != nil || string(got) != c.want {
			t.Fatalf("truncated ReadRange(%d, %d) = %q, %v; want %q", c.off, c.n, got, err, c.want)
		}
	}
	if size, err := fs.Size(ctx, "f"); err != nil || size != 10 {
		t.Fatalf("Size of a truncated object = %d, %v; want the real size", size, err)
	}
	if got := readAll(t, fs, "g"); string(got) != string(data) {
		t.Fatalf("an object not truncated reads %q", got)
	}
	if got, want := fs.Reads("f"), (checkpointtest.ReadStats{Calls: 5, Bytes: 10}); got != want {
		t.Fatalf("Reads(f) = %+v, want %+v", got, want)
	}
	if got := fs.AllReads(); len(got) != 2 || got["g"].Bytes != 10 {
		t.Fatalf("AllReads = %+v", got)
	}
	fs.ResetCounts()
	if got := fs.Reads("f"); got != (checkpointtest.ReadStats{}) {
		t.Fatalf("Reads after ResetCounts = %+v", got)
	}
}

// The purpose of the read counts: prove that a restore of some key groups reads only their
// part of a full snapshot file, and that a truncated read is reported, not decoded.
func TestFaultStorageCountsPartialRestore(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	c, err := checkpoint.Open(ctx, fs, "job", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const maxP = 32
	all := keygroup.Range{Start: 0, End: maxP - 1}
	p, err := c.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	h := cpWrite(t, p, "op-0", all, strings.Repeat("v", 200))
	if err := p.Complete(ctx, cpMetadata(maxP, h)); err != nil {
		t.Fatal(err)
	}
	name := "job/" + h.File.Path
	fs.ResetCounts()
	part := keygroup.RangeFor(maxP, 4, 1)
	got, err := cpReadHandle(ctx, c.Reader(), h, part)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != part.Len() {
		t.Fatalf("read %d records, want %d", len(got), part.Len())
	}
	r := fs.Reads(name)
	var span int64
	for kg := range part.All() {
		span += h.Blocks[kg].Length
	}
	if r.Bytes >= h.File.Size/2 || r.Bytes > span+64 {
		t.Fatalf("restoring %v of %v read %d bytes in %d calls of a %d byte file (the blocks are %d bytes)",
			part, all, r.Bytes, r.Calls, h.File.Size, span)
	}
	// A torn read of the file is reported as a missing (short) file that names it.
	fs.TruncateReads(name, h.Blocks[part.Start].Offset+10)
	_, err = cpReadHandle(ctx, c.Reader(), h, part)
	if !errors.Is(err, checkpoint.ErrMissing) || !strings.Contains(err.Error(), h.File.Path) {
		t.Fatalf("truncated read: %v, want ErrMissing naming %s", err, h.File.Path)
	}
}

package blobstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

func openURL(t *testing.T, rawURL string) checkpoint.Storage {
	t.Helper()
	st, err := blobstore.OpenURL(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestStorageConformance(t *testing.T) {
	t.Run("jobmanager", func(t *testing.T) {
		checkpointtest.RunStorageSuite(t, func(*testing.T) checkpoint.Storage {
			return blobstore.NewJobManagerStorage(0)
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
	if _, err := b.Size(context.Background(), "x"); !errors.Is(err, snapshot.ErrMissing) {
		t.Fatalf("an object of one mem:// storage is visible in another: %v", err)
	}
}

func TestOpenURLErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"ftp://host/dir", "jobmanager", "::not a url", "/plain/path"} {
		st, err := blobstore.OpenURL(ctx, u)
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

func TestJobManagerMaxStateSize(t *testing.T) {
	ctx := context.Background()
	const limit = 1000
	st := blobstore.NewJobManagerStorage(limit)
	defer st.Close()

	if n, err := writeInChunks(st, "job/chk-1/at-limit", limit, 300); err != nil || n != limit {
		t.Fatalf("a handle of exactly the limit: %d, %v", n, err)
	}
	for _, name := range []string{"job/chk-1/over", "job/chk-1/x_metadata", "job/shared/sst-1"} {
		_, err := writeInChunks(st, name, limit+1, 300)
		if !errors.Is(err, checkpoint.ErrStateTooLarge) {
			t.Fatalf("%s over the limit: %v, want ErrStateTooLarge", name, err)
		}
		for _, want := range []string{name, "1001 bytes", "1000 bytes", blobstore.MaxStateSizeKey} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if _, err := st.Size(ctx, name); !errors.Is(err, snapshot.ErrMissing) {
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
		st := blobstore.NewJobManagerStorage(limit)
		defer st.Close()
		if limit == 0 {
			if _, err := writeInChunks(st, "h1", blobstore.DefaultJobManagerMaxStateSize, 1<<20); err != nil {
				t.Fatalf("NewJobManagerStorage(%d): a handle of the default limit: %v", limit, err)
			}
		}
		_, err := writeInChunks(st, "h2", blobstore.DefaultJobManagerMaxStateSize+1, 1<<20)
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
	st := blobstore.NewJobManagerStorage(10)
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

var (
	putObject     = checkpointtest.PutObject
	readAll       = checkpointtest.ReadObject
	writeInChunks = checkpointtest.WriteInChunks
)

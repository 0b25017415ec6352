package checkpoint_test

// Local recovery: restores from a damaged, incomplete or concurrently read local copy.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// A local copy that is damaged, truncated, missing or not a file is never used: the file is
// read from storage, the restore succeeds, the log names the file and the reason. The file is
// read into its local copy on the way (repaired), so the next restore is local again; where
// that cannot be done (a directory in the way) it stays remote.
func TestLocalRestoreFallsBackToStorage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, p string)
		want   checkpoint.RestoreStats
		reason string
	}{
		{"corrupted", lcFlip, checkpoint.RestoreStats{LocalFiles: 1, RemoteFiles: 1, Mismatched: 1, Repaired: 1}, "local copy is damaged: CRC-32C"},
		// Without (or with a garbled) fingerprint the copy is verified by its SHA-256.
		{"corrupted-without-fingerprint", func(t *testing.T, p string) {
			lcFlip(t, p)
			if err := os.Remove(p + ".crc32c"); err != nil {
				t.Fatal(err)
			}
		}, checkpoint.RestoreStats{LocalFiles: 1, RemoteFiles: 1, Mismatched: 1, Repaired: 1}, "checksum mismatch"},
		{"corrupted-garbled-fingerprint", func(t *testing.T, p string) {
			lcFlip(t, p)
			if err := os.WriteFile(p+".crc32c", []byte("crc32c zz 12\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, checkpoint.RestoreStats{LocalFiles: 1, RemoteFiles: 1, Mismatched: 1, Repaired: 1}, "checksum mismatch"},
		{"truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, 10); err != nil {
				t.Fatal(err)
			}
		}, checkpoint.RestoreStats{LocalFiles: 1, RemoteFiles: 1, Mismatched: 1, Repaired: 1}, "local copy has 10 bytes"},
		{"deleted", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, checkpoint.RestoreStats{LocalFiles: 1, RemoteFiles: 1, Missing: 1, Repaired: 1}, "no local copy"},
		{"directory", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, checkpoint.RestoreStats{LocalFiles: 1, RemoteFiles: 1, Mismatched: 1}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fst := checkpointtest.NewFaultStorage(openURL(t, "file://"+t.TempDir()))
			c, log := lcOpen(t, fst, t.TempDir(), 1)
			m, _ := lcTake(t, c, 1, "v1")
			bad := m.Operators[0].Keyed[1].File
			tc.damage(t, filepath.Join(lcRoot(t, c), filepath.FromSlash(bad.Path)))
			fst.ResetCounts()
			vals, stats := lcRestore(t, c)
			if !maps.Equal(vals, cpWant("v1")) {
				t.Fatalf("restored %v", vals)
			}
			stats.LocalBytes, stats.RemoteBytes = 0, 0
			if stats != tc.want {
				t.Fatalf("stats %+v, want %+v", stats, tc.want)
			}
			for name, rs := range fst.AllReads() {
				if rs.Calls > 0 && name != "job/"+bad.Path && !strings.HasSuffix(name, snapshot.MetadataName) {
					t.Fatalf("storage read %s, whose local copy is intact", name)
				}
			}
			if fst.Reads("job/"+bad.Path).Calls == 0 {
				t.Fatalf("the file with a bad local copy was not read from storage")
			}
			l := log.String()
			if !strings.Contains(l, bad.Path) || !strings.Contains(l, tc.reason) || !strings.Contains(l, "some files were read from checkpoint storage") {
				t.Fatalf("the log does not name %s and %q:\n%s", bad.Path, tc.reason, l)
			}
			// The next restore: local again where the copy was repaired.
			fst.ResetCounts()
			vals, stats = lcRestore(t, c)
			want := checkpoint.RestoreStats{LocalFiles: 2}
			if tc.want.Repaired == 0 {
				want = checkpoint.RestoreStats{LocalFiles: 1, RemoteFiles: 1, Mismatched: 1}
			}
			stats.LocalBytes, stats.RemoteBytes = 0, 0
			if !maps.Equal(vals, cpWant("v1")) || stats != want {
				t.Fatalf("second restore: %v with stats %+v, want %+v", vals, stats, want)
			}
			if tc.want.Repaired > 0 {
				if n := fst.Reads("job/" + bad.Path).Calls; n != 0 {
					t.Fatalf("the repaired file was read from storage again (%d reads)", n)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(lcRoot(t, c), "chk-1", "*.repair-*")); len(left) > 0 {
				t.Fatalf("the repair left %q", left)
			}
		})
	}
}

// lcFlip flips one bit of the file p in place.
func lcFlip(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// An intact local copy without its fingerprint (a process killed between the two) is still
// used, verified by its SHA-256.
func TestLocalRestoreWithoutFingerprint(t *testing.T) {
	fst := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	c, _ := lcOpen(t, fst, t.TempDir(), 1)
	m, _ := lcTake(t, c, 1, "v1")
	for _, f := range m.Files() {
		if err := os.Remove(filepath.Join(lcRoot(t, c), filepath.FromSlash(f.Path)) + ".crc32c"); err != nil {
			t.Fatal(err)
		}
	}
	vals, stats := lcRestore(t, c)
	if !maps.Equal(vals, cpWant("v1")) || stats.LocalFiles != 2 || stats.RemoteFiles != 0 {
		t.Fatalf("restored %v with %+v; want both files from the local copy", vals, stats)
	}
}

// Metadata format 1 records no checksums: nothing can be verified, so storage is read.
func TestLocalRestoreNeedsChecksums(t *testing.T) {
	fst := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	c, _ := lcOpen(t, fst, t.TempDir(), 1)
	m, _ := lcTake(t, c, 1, "v1")
	old := *m
	old.Version = snapshot.MetadataVersionNoChecksums
	r := c.RestoreReader(&old)
	if _, ok := r.LocalFile(context.Background(), m.Files()[0]); ok {
		t.Fatal("LocalFile offered a local copy for metadata without checksums")
	}
	fst.ResetCounts()
	vals, err := cpReadAll(context.Background(), r, &snapshot.Metadata{Operators: old.Operators[:1]})
	if err != nil || !maps.Equal(vals, cpWant("v1")) {
		t.Fatalf("read %v, %v", vals, err)
	}
	if s := r.Stats(); s.LocalFiles != 0 || s.RemoteFiles != 2 {
		t.Fatalf("stats %+v, want 2 remote files", s)
	}
}

// LocalFile hands out only verified copies of exactly the recorded file.
func TestLocalFile(t *testing.T) {
	c, _ := lcOpen(t, openURL(t, "mem://"), t.TempDir(), 1)
	m, sh := lcTake(t, c, 1, "v1")
	r := c.RestoreReader(m)
	ctx := context.Background()
	p, ok := r.LocalFile(ctx, sh.File)
	if !ok {
		t.Fatal("no local copy of the shared file")
	}
	if b, err := os.ReadFile(p); err != nil || snapshot.Checksum(b) != sh.File.SHA256 {
		t.Fatalf("LocalFile returned %s: %v", p, err)
	}
	other := sh.File
	other.Size++
	if _, ok := r.LocalFile(ctx, other); ok {
		t.Fatal("LocalFile offered a copy for a ref with another size than the checkpoint records")
	}
	if _, ok := r.LocalFile(ctx, snapshot.FileRef{Path: "shared/nope", Size: 1}); ok {
		t.Fatal("LocalFile offered a copy of a file the checkpoint does not reference")
	}
}

// Many readers of one file at once: it is verified once and read consistently (-race).
func TestLocalRestoreConcurrentReaders(t *testing.T) {
	c, _ := lcOpen(t, openURL(t, "mem://"), t.TempDir(), 1)
	m, sh := lcTake(t, c, 1, "v1")
	r := c.RestoreReader(m)
	want := cpWant("shared 1")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			got, err := cpReadHandle(context.Background(), r, sh, sh.KeyGroupRange)
			if err == nil && !maps.Equal(got, want) {
				err = fmt.Errorf("read %v", got)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s := r.Stats(); s.LocalFiles != 1 || s.RemoteFiles != 0 {
		t.Fatalf("stats %+v, want the one file from the local copy", s)
	}
}

// A local copy verified and then lost before it is read: the reads go to storage, logged once.
func TestLocalCopyLostAfterVerification(t *testing.T) {
	c, log := lcOpen(t, openURL(t, "mem://"), t.TempDir(), 1)
	m, sh := lcTake(t, c, 1, "v1")
	r := c.RestoreReader(m)
	p, ok := r.LocalFile(context.Background(), sh.File)
	if !ok {
		t.Fatal("no verified local copy")
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := cpReadHandle(context.Background(), r, sh, sh.KeyGroupRange)
		if err != nil || !maps.Equal(got, cpWant("shared 1")) {
			t.Fatalf("read %v, %v", got, err)
		}
	}
	if n := strings.Count(log.String(), "could not be read"); n != 1 {
		t.Fatalf("logged the lost local copy %d times, want once:\n%s", n, log)
	}
}

// A damaged local copy of a file that is damaged in storage too is not "repaired" with the bad
// bytes: the restore fails over to the previous checkpoint as without local recovery, and the
// local copy is left as it was.
func TestLocalRepairNeedsAGoodStoredFile(t *testing.T) {
	st := openURL(t, "mem://")
	c, _ := lcOpen(t, st, t.TempDir(), 2)
	lcTake(t, c, 1, "v1")
	m2, _ := lcTake(t, c, 2, "v2")
	bad := m2.Operators[0].Keyed[0].File
	local := filepath.Join(lcRoot(t, c), filepath.FromSlash(bad.Path))
	if err := os.Remove(local); err != nil {
		t.Fatal(err)
	}
	b := readAll(t, st, "job/"+bad.Path)
	b[len(b)/2] ^= 1
	putObject(t, st, "job/"+bad.Path, b)
	var got map[string]string
	m, err := c.Restore(context.Background(), func(m *snapshot.Metadata) error {
		var err error
		got, err = cpReadAll(context.Background(), c.RestoreReader(m), &snapshot.Metadata{Operators: m.Operators[:1]})
		return err
	})
	if err != nil || m.CheckpointID != 1 || !maps.Equal(got, cpWant("v1")) {
		t.Fatalf("restored %v (%v), want checkpoint 1", got, err)
	}
	if _, err := os.Stat(local); !os.IsNotExist(err) {
		t.Fatalf("the local copy of a file damaged in storage was written: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(local), "*.repair-*")); len(left) > 0 {
		t.Fatalf("the failed repair left %q", left)
	}
}

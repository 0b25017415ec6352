package lsm_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// notOSFS is the operating system's filesystem under another type: the backend then copies
// what it would hard-link (a restore from the local copy without links).
type notOSFS struct{ vfs.FS }

// BenchmarkLocalRecovery restores one incremental checkpoint of an lsm backend holding
// STREAMSTATE_BENCH_LOCAL_MB MB (default 256) of random 1 KiB values, in one of five ways:
//
//   - remote: from file:// checkpoint storage (the download: read, hash, write);
//   - local: from the verified local copy (local recovery; SSTs hard-linked after hashing);
//   - local-copy: from the local copy into a backend whose filesystem is not the OS's own,
//     so every byte is copied (local recovery where links are impossible);
//   - local-sha256: local, with every local file verified by its SHA-256 instead of its
//     CRC-32C fingerprint (a copy without fingerprints; the first version's verification);
//   - raw-read: reading the checkpoint's files once, 4 at a time, no hashing: the storage's
//     read rate of the same bytes, the baseline.
//
// It reports restore-ms and the rate over the state's stored bytes (MB/s). The storage and
// the local copy are on the same disk, and the files are in the page cache after the first
// iteration, so remote is the best case of a remote restore.
func BenchmarkLocalRecovery(b *testing.B) {
	mb := 256
	if s := os.Getenv("STREAMSTATE_BENCH_LOCAL_MB"); s != "" {
		var err error
		if mb, err = strconv.Atoi(s); err != nil || mb <= 0 {
			b.Fatalf("STREAMSTATE_BENCH_LOCAL_MB=%q: want a positive number of MB", s)
		}
	}
	ctx := context.Background()
	dir := b.TempDir()
	st, err := blobstore.OpenURL(ctx, "file://"+filepath.Join(dir, "checkpoints"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{LocalRecovery: true, LocalDirs: []string{filepath.Join(dir, "local")}})
	if err != nil {
		b.Fatal(err)
	}
	opts := backend.Options{OperatorID: "op", MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1},
		KeySerializerID: serde.Int64{}.ID()}
	be, err := lsm.New(ctx, lsm.Options{Options: opts, Dir: filepath.Join(dir, "work"), Incremental: true})
	if err != nil {
		b.Fatal(err)
	}
	kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
	v, _ := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
	val := make([]byte, 1024)
	rng := rand.New(rand.NewPCG(7, 8))
	for k := int64(0); k < int64(mb)<<10; k++ {
		_ = kb.SetCurrentKey(k)
		for i := 0; i < len(val); i += 8 {
			binary.LittleEndian.PutUint64(val[i:], rng.Uint64())
		}
		if err := v.Update(val); err != nil {
			b.Fatal(err)
		}
	}
	// Compacted, so that the restored database owes no compaction that would run into the
	// timings.
	if err := committed(b, be).Compact(ctx, []byte{0}, []byte{0xff, 0xff, 0xff, 0xff}, true); err != nil {
		b.Fatal(err)
	}
	p, err := cps.Begin(1)
	if err != nil {
		b.Fatal(err)
	}
	s, err := be.Snapshot(1, backend.SnapshotOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := s.Run(ctx, p)
	if err != nil {
		b.Fatal(err)
	}
	m := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h}}}}
	if err := p.Complete(ctx, m); err != nil {
		b.Fatal(err)
	}
	_ = be.Close() // the checkpoint's files and their local copy stay
	var stored int64
	for _, f := range m.Files() {
		stored += f.Size
	}
	b.Logf("state: %d MB of values, %d files, %.0f MB stored", mb, len(m.Files()), float64(stored)/1e6)

	// restore times lsm.New, the restore, until the backend is ready; not its Close.
	restore := func(b *testing.B, r snapshot.Reader, fsys vfs.FS) time.Duration {
		ro := opts
		ro.Restore, ro.Reader = m.Operators[0].Keyed, r
		start := time.Now()
		rb, err := lsm.New(ctx, lsm.Options{Options: ro, Dir: filepath.Join(dir, "restore"), FS: fsys, Incremental: true})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		_ = rb.Close()
		return d
	}
	for _, bc := range []struct {
		name string
		run  func(b *testing.B) time.Duration
	}{
		{"remote", func(b *testing.B) time.Duration { return restore(b, cps.Reader(), vfs.Default) }},
		{"local", func(b *testing.B) time.Duration {
			r := cps.RestoreReader(m)
			d := restore(b, r, vfs.Default)
			if s := r.Stats(); s.RemoteFiles != 0 {
				b.Fatalf("read %d files remotely", s.RemoteFiles)
			}
			return d
		}},
		{"local-copy", func(b *testing.B) time.Duration { return restore(b, cps.RestoreReader(m), notOSFS{vfs.Default}) }},
		{"local-sha256", func(b *testing.B) time.Duration {
			// Without the fingerprints every local file is hashed with SHA-256 (the first
			// version's verification). Last of the local cases: it deletes them.
			fps, _ := filepath.Glob(filepath.Join(dir, "local", "*", "*", "*.crc32c"))
			for _, fp := range fps {
				_ = os.Remove(fp)
			}
			return restore(b, cps.RestoreReader(m), vfs.Default)
		}},
		{"raw-read", func(b *testing.B) time.Duration {
			start := time.Now()
			readAllFiles(b, filepath.Join(dir, "checkpoints", "job"), m.Files())
			return time.Since(start)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				total += bc.run(b)
			}
			per := total / time.Duration(b.N)
			b.ReportMetric(float64(per.Milliseconds()), "restore-ms")
			b.ReportMetric(float64(stored)/1e6/per.Seconds(), "MB/s")
		})
	}
}

// readAllFiles reads every file once, 4 at a time, as a raw read-rate baseline.
func readAllFiles(b *testing.B, root string, files []snapshot.FileRef) {
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	buf := make([][]byte, 4)
	for i := range buf {
		buf[i] = make([]byte, 8<<20)
	}
	free := make(chan []byte, 4)
	for _, bb := range buf {
		free <- bb
	}
	for _, f := range files {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			bb := <-free
			defer func() { free <- bb }()
			fh, err := os.Open(filepath.Join(root, filepath.FromSlash(f.Path)))
			if err != nil {
				b.Error(err)
				return
			}
			defer fh.Close()
			for {
				n, err := fh.Read(bb)
				if n == 0 || err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

package checkpoint_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/internal/miniotest"
	"github.com/streamstate/streamstate/keygroup"
)

// benchSnapshot is one full snapshot on MinIO: 128 key groups of 512 KiB each (64 MiB).
type benchSnapshot struct {
	st   checkpoint.Storage
	fs   *checkpointtest.FaultStorage
	c    *checkpoint.Checkpoints
	h    *snapshot.KeyedStateHandle
	size int64
}

var (
	benchOnce sync.Once
	benchSnap *benchSnapshot
	benchErr  error
)

const (
	benchKeyGroups  = 128
	benchPerKG      = 512 << 10
	benchValueBytes = 4 << 10
)

func s3BenchSnapshot(b *testing.B) *benchSnapshot {
	rawURL := miniotest.URL(b) // skips without MinIO
	benchOnce.Do(func() {
		ctx := context.Background()
		st, err := blobstore.OpenURL(ctx, rawURL)
		if err != nil {
			benchErr = err
			return
		}
		fs := checkpointtest.NewFaultStorage(st)
		c, err := checkpoint.Open(ctx, fs, "bench", checkpoint.Options{})
		if err != nil {
			benchErr = err
			return
		}
		p, err := c.Begin(1)
		if err != nil {
			benchErr = err
			return
		}
		out, err := p.Create(ctx, "op-0")
		if err != nil {
			benchErr = err
			return
		}
		rng := keygroup.Range{Start: 0, End: benchKeyGroups - 1}
		w := snapshot.NewFullWriter(out, rng, "string", cpStates, snapshot.CompressionNone)
		v := make([]byte, benchValueBytes)
		for i := range v {
			v[i] = byte(i * 31)
		}
		for kg := range rng.All() {
			if err := w.BeginKeyGroup(kg); err != nil {
				benchErr = err
				return
			}
			for i := range benchPerKG / benchValueBytes {
				w.Value(0, fmt.Appendf(nil, "k%d-%d", kg, i), nil, v)
			}
		}
		h, err := w.Finish()
		if err != nil {
			benchErr = err
			return
		}
		if err := p.Complete(ctx, cpMetadata(benchKeyGroups, h)); err != nil {
			benchErr = err
			return
		}
		benchSnap = &benchSnapshot{st: st, fs: fs, c: c, h: h, size: h.File.Size}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchSnap
}

// BenchmarkS3Restore compares, in one run against one MinIO server, raw GETs of a 64 MiB
// full snapshot with restores of it through Checkpoints.Reader: the whole file (parallelism 1)
// and rescaled restores that own half or a quarter of the key groups, which read only their
// blocks. MB/s is of the bytes the operation needs (the whole file for raw GETs and the full
// restore, the owned key groups' blocks for rescaled ones).
//
//	./scripts/minio.sh run -- go test -run XXX -bench S3Restore -benchtime 5x ./checkpoint/
func BenchmarkS3Restore(b *testing.B) {
	s := s3BenchSnapshot(b)
	ctx := context.Background()
	path := "bench/" + s.h.File.Path
	b.Run("raw-get-1-stream", func(b *testing.B) {
		b.SetBytes(s.size)
		for b.Loop() {
			got, err := s.st.ReadRange(ctx, path, 0, -1)
			if err != nil || int64(len(got)) != s.size {
				b.Fatalf("read %d bytes: %v", len(got), err)
			}
		}
	})
	b.Run(fmt.Sprintf("raw-get-%d-streams", snapshot.ParallelReadConcurrency), func(b *testing.B) {
		b.SetBytes(s.size)
		for b.Loop() {
			got, err := s.c.Reader().ReadRange(ctx, s.h.File.Path, 0, s.size)
			if err != nil || int64(len(got)) != s.size {
				b.Fatalf("read %d bytes: %v", len(got), err)
			}
		}
	})
	for _, p := range []int{1, 2, 4} {
		rng := keygroup.RangeFor(benchKeyGroups, p, 0)
		b.Run(fmt.Sprintf("restore-subtask-0-of-%d", p), func(b *testing.B) {
			first, last := s.h.Blocks[rng.Start], s.h.Blocks[rng.End]
			need := last.Offset + last.Length - first.Offset
			b.SetBytes(need)
			s.fs.ResetCounts()
			records := 0
			for b.Loop() {
				err := snapshot.ReadKeyGroups(ctx, s.c.Reader(), s.h, rng, func(int, *snapshot.Record) error {
					records++
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if want := b.N * rng.Len() * (benchPerKG / benchValueBytes); records != want {
				b.Fatalf("read %d records, want %d", records, want)
			}
			read := s.fs.Reads(path).Bytes
			if per := read / int64(b.N); per > need+4096 {
				b.Fatalf("a restore of %d key groups read %d bytes, its blocks are %d", rng.Len(), per, need)
			}
			b.ReportMetric(float64(read)/float64(b.N)/float64(s.size), "file-fraction-read")
		})
	}
}

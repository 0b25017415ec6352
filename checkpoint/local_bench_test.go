package checkpoint_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
)

// BenchmarkLocalCopyWrite writes a checkpoint of 4 files of 16 MiB to file:// storage without
// and with local recovery (the tee: a second write of every byte and its CRC-32C), so the
// write cost of the local copy for a backend that cannot hard-link it (hashmap) is the ratio of
// the two. Each iteration takes and completes one checkpoint (retention keeps one).
func BenchmarkLocalCopyWrite(b *testing.B) {
	const files, size = 4, 16 << 20
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	for _, local := range []bool{false, true} {
		name := "storage-only"
		if local {
			name = "with-local-copy"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			st, err := blobstore.OpenURL(ctx, "file://"+filepath.Join(dir, "checkpoints"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			c, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{LocalRecovery: local, LocalDirs: []string{filepath.Join(dir, "local")}})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(files * size)
			id := int64(0)
			for b.Loop() {
				id++
				p, err := c.Begin(id)
				if err != nil {
					b.Fatal(err)
				}
				for range files {
					out, err := p.Create(ctx, "f")
					if err != nil {
						b.Fatal(err)
					}
					for off := 0; off < size; off += len(data) {
						if _, err := out.Write(data); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := out.Close(); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Complete(ctx, cpMetadata(cpMaxP)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

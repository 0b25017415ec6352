package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// readParallel reads length bytes at offset of name (length < 0: to the end), splitting a
// read of at least two chunks into concurrent ranged reads. It has ReadRange's contract: a
// short object returns fewer bytes.
func readParallel(ctx context.Context, st Storage, name string, offset, length int64) ([]byte, error) {
	if length < 2*snapshot.ParallelReadChunk || offset < 0 {
		return st.ReadRange(ctx, name, offset, length)
	}
	// The length may come from metadata: never trust it for an allocation. One HEAD per large
	// read bounds it by the object.
	size, err := st.Size(ctx, name)
	if err != nil {
		return nil, err
	}
	if offset >= size {
		return []byte{}, nil
	}
	length = min(length, size-offset)
	if length < 2*snapshot.ParallelReadChunk {
		return st.ReadRange(ctx, name, offset, length)
	}
	out := make([]byte, length)
	nChunks := int((length + snapshot.ParallelReadChunk - 1) / snapshot.ParallelReadChunk)
	got := make([]int64, nChunks) // bytes each chunk returned
	errs := make([]error, nChunks)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, snapshot.ParallelReadConcurrency)
	var wg sync.WaitGroup
	for i := range nChunks {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			lo := int64(i) * snapshot.ParallelReadChunk
			n := min(snapshot.ParallelReadChunk, length-lo)
			b, err := st.ReadRange(ctx, name, offset+lo, n)
			if err == nil && int64(len(b)) > n {
				err = fmt.Errorf("read %s: storage %s returned %d bytes for a range of %d", name, st, len(b), n)
			}
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			got[i] = int64(copy(out[lo:lo+n], b))
		})
	}
	wg.Wait()
	// The first failure canceled the others: report it, not their cancellation.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The object may have shrunk under the reader: return the bytes up to the first short
	// chunk, as a short object would.
	var n int64
	for i := range nChunks {
		n += got[i]
		if got[i] < min(snapshot.ParallelReadChunk, length-int64(i)*snapshot.ParallelReadChunk) {
			break
		}
	}
	return out[:n], nil
}

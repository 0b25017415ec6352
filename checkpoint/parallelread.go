package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Large reads of a Reader (NewReader, Checkpoints.Reader) are split into ranges of
// ParallelReadChunk bytes, read ParallelReadConcurrency at a time: one object-store GET is
// bounded by one connection's throughput, several in flight are not. A restore of a full
// snapshot (KeyGroupReader) reads the contiguous span of its key groups only, in ranged reads
// of the same size with as many in flight ahead of its decoder, so it reads just those bytes,
// in parallel, without holding them all.
const (
	// ParallelReadChunk is the size of one ranged read of a large read.
	ParallelReadChunk = 4 << 20
	// ParallelReadConcurrency is how many ranged reads of one large read are in flight.
	ParallelReadConcurrency = 4
)

// readParallel reads length bytes at offset of name (length < 0: to the end), splitting a
// read of at least two chunks into concurrent ranged reads. It has ReadRange's contract: a
// short object returns fewer bytes.
func readParallel(ctx context.Context, st Storage, name string, offset, length int64) ([]byte, error) {
	if length < 2*ParallelReadChunk || offset < 0 {
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
	if length < 2*ParallelReadChunk {
		return st.ReadRange(ctx, name, offset, length)
	}
	out := make([]byte, length)
	nChunks := int((length + ParallelReadChunk - 1) / ParallelReadChunk)
	got := make([]int64, nChunks) // bytes each chunk returned
	errs := make([]error, nChunks)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, ParallelReadConcurrency)
	var wg sync.WaitGroup
	for i := range nChunks {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			lo := int64(i) * ParallelReadChunk
			n := min(ParallelReadChunk, length-lo)
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
		if got[i] < min(ParallelReadChunk, length-int64(i)*ParallelReadChunk) {
			break
		}
	}
	return out[:n], nil
}

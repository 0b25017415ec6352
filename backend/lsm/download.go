package lsm

import (
	"context"
	"fmt"
	"sync"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// downloadReadAhead is how many ranged reads of one file a restore keeps in flight. With
// Options.TransferConcurrency files at a time, a download holds at most TransferConcurrency ×
// downloadReadAhead × downloadChunk bytes (4 × 4 × 8 MiB with the defaults) whatever the size
// of the state, and only while its files are larger than a chunk: a large SST is read by
// several ranged reads at once, as object stores serve best. (Downloading 16 small files at
// once instead of 4 was no faster in bench restore on the project machine and doubled the
// restore's peak RSS: docs/benchmarks.md, 2026-12-07.)
const downloadReadAhead = 4

// rangedRead is one ranged read of a file; done is closed when p and err are set.
type rangedRead struct {
	off, n int64
	done   chan struct{}
	p      []byte
	err    error
}

// readRanges reads the size bytes of path in ranged reads of chunk bytes, up to ahead in flight
// at once, and hands them to fn in file order (so a checksum sees the bytes in order while
// the reads ahead of it go on). A short read is an error wrapping snapshot.ErrMissing naming
// path; fn's first error, a read's first error or ctx's end stops the reads and is returned
// once every read started has returned. The bytes given to fn are valid only during the call.
func readRanges(ctx context.Context, r snapshot.Reader, path string, size, chunk int64, ahead int, fn func([]byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var queue []*rangedRead // in file order
	var next int64
	fill := func() {
		for len(queue) < max(ahead, 1) && next < size {
			c := &rangedRead{off: next, n: min(chunk, size-next), done: make(chan struct{})}
			next += c.n
			queue = append(queue, c)
			wg.Go(func() {
				defer close(c.done)
				c.p, c.err = r.ReadRange(ctx, path, c.off, c.n)
			})
		}
	}
	fill()
	for len(queue) > 0 {
		c := queue[0]
		queue[0] = nil
		queue = queue[1:]
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if c.err != nil {
			return c.err
		}
		if int64(len(c.p)) > c.n {
			return fmt.Errorf("read %s: the reader returned %d bytes for a range of %d", path, len(c.p), c.n)
		}
		if int64(len(c.p)) < c.n {
			return &snapshot.FileError{Path: path, Err: snapshot.ErrMissing,
				Detail: fmt.Sprintf("file is truncated: read %d bytes at offset %d, metadata says %d bytes in all", len(c.p), c.off, size)}
		}
		fill() // the next reads start before this chunk is written
		if err := fn(c.p); err != nil {
			return err
		}
	}
	return nil
}

package snapshot

import (
	"context"
	"sync"

	"github.com/streamstate/streamstate/keygroup"
)

// WriteFull writes a keyed state handle in the canonical full format to out. build fills the
// records of one key group; it is called once per key group of rng, from up to workers
// goroutines at once (workers <= 1: sequentially, in order), so it must be safe for concurrent
// use on distinct key groups. Blocks are built, compressed and checksummed in parallel and
// written in key-group order, with at most 2 x workers blocks in memory. On error the file is
// aborted.
func WriteFull(ctx context.Context, out OutputStream, rng keygroup.Range, keySerializer string, states []StateMeta,
	comp Compression, workers int, build func(kg int, b *BlockBuilder) error) (*KeyedStateHandle, error) {
	w := NewFullWriter(out, rng, keySerializer, states, comp)
	if workers <= 1 || rng.Len() <= 1 {
		for kg := range rng.All() {
			if err := ctx.Err(); err != nil {
				w.Abort()
				return nil, err
			}
			if err := w.BeginKeyGroup(kg); err != nil {
				w.Abort()
				return nil, err
			}
			if err := build(kg, &w.BlockBuilder); err != nil {
				w.Abort()
				return nil, err
			}
		}
		return w.Finish()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		b     *BlockBuilder
		block []byte
		err   error
	}
	n := rng.Len()
	results := make([]chan result, n)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	// free bounds the blocks in flight; each token is a reusable builder. Tokens are taken in
	// key-group order by the dispatcher, so the block the writer waits for always has one.
	free := make(chan *BlockBuilder, 2*workers)
	for range cap(free) {
		free <- &BlockBuilder{}
	}
	type job struct {
		i int
		b *BlockBuilder
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				err := ctx.Err()
				if err == nil {
					err = build(rng.Start+j.i, j.b)
				}
				var block []byte
				if err == nil {
					block = j.b.seal(comp)
				}
				results[j.i] <- result{b: j.b, block: block, err: err}
			}
		})
	}
	go func() {
		defer close(jobs)
		for i := range n {
			var b *BlockBuilder
			select {
			case b = <-free:
			case <-ctx.Done():
			}
			if b == nil {
				for ; i < n; i++ {
					results[i] <- result{err: ctx.Err()}
				}
				return
			}
			jobs <- job{i, b}
		}
	}()
	var firstErr error
	for i := range n {
		r := <-results[i]
		if r.err != nil && firstErr == nil {
			firstErr = r.err
			cancel()
		}
		if firstErr == nil {
			w.cur = rng.Start + i
			w.writeBlock(r.block)
			if w.err != nil {
				firstErr = w.err
				cancel()
			}
		}
		if r.b != nil {
			r.b.payload = r.b.payload[:0]
			free <- r.b
		}
	}
	wg.Wait()
	if firstErr != nil {
		w.Abort()
		return nil, firstErr
	}
	w.cur = rng.End + 1
	return w.finish()
}

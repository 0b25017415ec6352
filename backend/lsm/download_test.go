package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// jitterReader serves one file's bytes with random delays, so ranged reads complete out of
// order; it records the most reads it saw in flight at once.
type jitterReader struct {
	data     []byte
	rnd      *rand.Rand
	mu       sync.Mutex
	inFlight atomic.Int32
	peak     atomic.Int32
	short    int64 // if > 0, the file is cut to this many bytes
	failAt   int64 // if > 0, the read at this offset fails
	extra    bool  // every read returns one byte more than asked
}

var errInjected = errors.New("injected read failure")

func (j *jitterReader) ReadRange(ctx context.Context, _ string, off, n int64) ([]byte, error) {
	cur := j.inFlight.Add(1)
	defer j.inFlight.Add(-1)
	for {
		p := j.peak.Load()
		if cur <= p || j.peak.CompareAndSwap(p, cur) {
			break
		}
	}
	j.mu.Lock()
	d := time.Duration(j.rnd.IntN(3000)) * time.Microsecond
	j.mu.Unlock()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if j.failAt > 0 && off == j.failAt {
		return nil, errInjected
	}
	data := j.data
	if j.short > 0 {
		data = data[:j.short]
	}
	if off > int64(len(data)) {
		return nil, nil
	}
	p := bytes.Clone(data[off:min(off+n, int64(len(data)))])
	if j.extra {
		p = append(p, 0)
	}
	return p, nil
}

func TestReadRangesInOrder(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	for _, tc := range []struct{ size, chunk int64 }{{0, 8}, {1, 8}, {8, 8}, {100, 7}, {1000, 64}, {4096, 1000}} {
		t.Run(fmt.Sprintf("size=%d/chunk=%d", tc.size, tc.chunk), func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(rnd.Uint32())
			}
			r := &jitterReader{data: data, rnd: rand.New(rand.NewPCG(rnd.Uint64(), 0))}
			var got []byte
			err := readRanges(context.Background(), r, "f", tc.size, tc.chunk, 4, func(p []byte) error {
				if int64(len(p)) > tc.chunk {
					t.Errorf("chunk of %d bytes, want at most %d", len(p), tc.chunk)
				}
				got = append(got, p...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("bytes differ from the file's (%d vs %d bytes)", len(got), len(data))
			}
			if p := r.peak.Load(); p > 4 {
				t.Errorf("%d reads in flight at once, want at most 4", p)
			}
			if want := min(4, (tc.size+tc.chunk-1)/tc.chunk); tc.size >= 4*tc.chunk && int64(r.peak.Load()) < want {
				t.Errorf("at most %d reads in flight at once, want %d: the reads are not parallel", r.peak.Load(), want)
			}
		})
	}
}

func TestReadRangesFailures(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100)
	newReader := func() *jitterReader {
		return &jitterReader{data: data, rnd: rand.New(rand.NewPCG(1, 2))}
	}
	t.Run("truncated", func(t *testing.T) {
		r := newReader()
		r.short = 555
		err := readRanges(context.Background(), r, "shared/x.sst", 1000, 100, 4, func([]byte) error { return nil })
		var fe *snapshot.FileError
		if !errors.Is(err, snapshot.ErrMissing) || !errors.As(err, &fe) || fe.Path != "shared/x.sst" {
			t.Fatalf("err = %v, want ErrMissing naming shared/x.sst", err)
		}
	})
	t.Run("longer than asked", func(t *testing.T) {
		r := newReader()
		r.extra = true
		err := readRanges(context.Background(), r, "f", 50, 100, 4, func([]byte) error { return nil })
		if err == nil {
			t.Fatal("a reader returning more bytes than asked was accepted")
		}
	})
	t.Run("read error", func(t *testing.T) {
		r := newReader()
		r.failAt = 300
		var got int
		err := readRanges(context.Background(), r, "f", 1000, 100, 4, func(p []byte) error { got += len(p); return nil })
		if !errors.Is(err, errInjected) {
			t.Fatalf("err = %v, want the read's error", err)
		}
		if got != 300 {
			t.Fatalf("%d bytes handed out before the failed read, want 300", got)
		}
		if n := r.inFlight.Load(); n != 0 {
			t.Fatalf("%d reads still in flight after return", n)
		}
	})
	t.Run("consumer error", func(t *testing.T) {
		r := newReader()
		stop := errors.New("stop")
		calls := 0
		err := readRanges(context.Background(), r, "f", 1000, 100, 4, func([]byte) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("err = %v after %d calls, want stop after 1", err, calls)
		}
		if n := r.inFlight.Load(); n != 0 {
			t.Fatalf("%d reads still in flight after return", n)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := readRanges(ctx, newReader(), "f", 1000, 100, 4, func([]byte) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

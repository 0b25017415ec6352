package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// RangeReader reads a byte range of a named file: a checkpoint storage's ReadRange, or
// FileRangeReader for a directory. It must be safe for concurrent use.
type RangeReader func(ctx context.Context, name string, offset, length int64) ([]byte, error)

// RawFile is one file of a raw read: its name for the RangeReader and its size.
type RawFile struct {
	Name string
	Size int64
}

// RawRead is the raw read baseline of a restore: it reads every byte of files once, in ranged
// reads of chunk bytes, with conc reads in flight at once across all files (the files' chunks
// in order, one queue), and discards them. It returns the bytes read and how long the reads
// took. A short read is an error naming the file: the baseline would read less than the
// restore.
func RawRead(ctx context.Context, read RangeReader, files []RawFile, chunk int64, conc int) (int64, time.Duration, error) {
	return rawTransfer(ctx, read, files, chunk, conc, nil)
}

// RawCopy is RawRead writing every byte read into a file of its own in dir (pwrite at the
// same offset, no fsync, as a restore writes what it downloads), the files removed before it
// returns: the baseline of a restore that writes the bytes it reads to a local disk.
func RawCopy(ctx context.Context, read RangeReader, files []RawFile, chunk int64, conc int, dir string) (_ int64, _ time.Duration, err error) {
	out := make(map[string]*os.File, len(files))
	defer func() {
		for _, f := range out {
			err = errors.Join(err, f.Close(), os.Remove(f.Name()))
		}
	}()
	for i, f := range files {
		if _, ok := out[f.Name]; ok {
			continue
		}
		w, err := os.Create(filepath.Join(dir, fmt.Sprintf("raw-copy-%d", i)))
		if err != nil {
			return 0, 0, err
		}
		out[f.Name] = w
	}
	return rawTransfer(ctx, read, files, chunk, conc, func(name string, off int64, p []byte) error {
		_, err := out[name].WriteAt(p, off)
		return err
	})
}

func rawTransfer(ctx context.Context, read RangeReader, files []RawFile, chunk int64, conc int, sink func(name string, off int64, p []byte) error) (int64, time.Duration, error) {
	if chunk < 1 || conc < 1 {
		return 0, 0, fmt.Errorf("raw read: chunk %d and concurrency %d must be at least 1", chunk, conc)
	}
	type job struct {
		name   string
		off, n int64
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job)
	var (
		mu    sync.Mutex
		first error
		total int64
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	start := time.Now()
	for range conc {
		wg.Go(func() {
			var n int64
			for j := range jobs {
				p, err := read(ctx, j.name, j.off, j.n)
				if err != nil {
					fail(fmt.Errorf("raw read of %s at %d: %w", j.name, j.off, err))
					continue
				}
				if int64(len(p)) != j.n {
					fail(fmt.Errorf("raw read of %s at %d: got %d bytes, want %d", j.name, j.off, len(p), j.n))
					continue
				}
				if sink != nil {
					if err := sink(j.name, j.off, p); err != nil {
						fail(fmt.Errorf("raw copy of %s at %d: %w", j.name, j.off, err))
						continue
					}
				}
				n += j.n
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
feed:
	for _, f := range files {
		for off := int64(0); off < f.Size; off += chunk {
			select {
			case jobs <- job{f.Name, off, min(chunk, f.Size-off)}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return total, elapsed, first
	}
	return total, elapsed, ctx.Err()
}

// FileRangeReader reads the files of a directory with pread, as dd would, for the raw read
// baseline of file:// storage: no checkpoint storage layer in between.
func FileRangeReader(dir string) RangeReader {
	return func(_ context.Context, name string, off, n int64) ([]byte, error) {
		f, err := os.Open(dir + string(os.PathSeparator) + name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		p := make([]byte, n)
		m, err := f.ReadAt(p, off)
		if m == len(p) {
			err = nil
		}
		return p[:m], err
	}
}

// DropPageCache asks the kernel to drop the cached pages of the named files
// (posix_fadvise POSIX_FADV_DONTNEED), so that the next read of them reads the disk. It
// touches those files only, not the machine's whole page cache. Dirty pages are written back
// first (fsync), since DONTNEED leaves them cached.
func DropPageCache(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if err == nil {
			err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("drop the page cache of %s: %w", p, err)
		}
	}
	return nil
}

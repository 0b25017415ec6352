package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// boundedReader is a fullFileReader that records the largest range asked for and the most
// reads in flight at once, and fails the test if a read is still in flight when it is checked.
type boundedReader struct {
	*fullFileReader
	mu       sync.Mutex
	inFlight int
	maxIn    int
	maxLen   int64
	failAt   int64 // a read at or after this offset of the file fails (0: none)
}

var errReadFailed = errors.New("test: read failed")

func (r *boundedReader) ReadRange(ctx context.Context, path string, off, n int64) ([]byte, error) {
	r.mu.Lock()
	r.inFlight++
	r.maxIn = max(r.maxIn, r.inFlight)
	r.maxLen = max(r.maxLen, n)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	if r.failAt > 0 && off >= r.failAt {
		return nil, errReadFailed
	}
	return r.fullFileReader.ReadRange(ctx, path, off, n)
}

func (r *boundedReader) idle(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight != 0 {
		t.Fatalf("%d reads still in flight after the read returned", r.inFlight)
	}
}

// readChunked is readFull through ReadKeyGroupsChunked: the records as strings.
func readChunked(r snapshot.Reader, h *snapshot.KeyedStateHandle, rng keygroup.Range, chunk int64, ahead int) ([]string, error) {
	var got []string
	err := snapshot.ReadKeyGroupsChunked(context.Background(), r, h, rng, chunk, ahead, func(kg int, rec *snapshot.Record) error {
		got = append(got, fmt.Sprintf("%d %d %q %q %q %q %q", kg, rec.State, rec.Key, rec.Namespace, rec.UserKey, rec.Value, rec.List))
		return nil
	})
	return got, err
}

// TestKeyGroupReaderStreams: streaming a handle in chunks far smaller than its blocks (so that
// blocks span chunks, and chunks hold several blocks) yields exactly what one read of the span
// does, for every sub-range, reads only the header and the wanted blocks, never asks for more
// than a chunk at a time nor keeps more than the read-ahead in flight, and leaves no read in
// flight behind.
func TestKeyGroupReaderStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(fullSeed(t), 7))
	rng := keygroup.Range{Start: 3, End: 20}
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionSnappy} {
		files := map[string][]byte{}
		recs, skip := genFull(r, rng)
		h := writeFull(t, files, "f", rng, recs, skip, comp)
		for _, chunk := range []int64{1, 5, 64, 1 << 20} {
			for _, ahead := range []int{1, 3} {
				for lo := rng.Start - 1; lo <= rng.End+1; lo += 2 {
					for hi := lo; hi <= rng.End+1; hi += 3 {
						sub := keygroup.Range{Start: lo, End: hi}
						want, err := readChunked(&fullFileReader{files: files}, h, sub, 1<<30, 1)
						if err != nil {
							t.Fatalf("%q %v: one read: %v", comp, sub, err)
						}
						rd := &boundedReader{fullFileReader: &fullFileReader{files: files}}
						got, err := readChunked(rd, h, sub, chunk, ahead)
						if err != nil {
							t.Fatalf("%q %v chunk %d ahead %d: %v", comp, sub, chunk, ahead, err)
						}
						rd.idle(t)
						if strings.Join(got, "\n") != strings.Join(want, "\n") {
							t.Fatalf("%q %v chunk %d ahead %d:\n got %q\nwant %q", comp, sub, chunk, ahead, got, want)
						}
						in := rng.Intersect(sub)
						var wantRead int64
						if in.Len() > 0 {
							wantRead = 12
							for kg := in.Start; kg <= in.End; kg++ {
								wantRead += h.Blocks[kg-rng.Start].Length
							}
						}
						if rd.read != wantRead {
							t.Fatalf("%q %v chunk %d: read %d bytes, want %d", comp, sub, chunk, rd.read, wantRead)
						}
						if rd.maxIn > ahead || rd.maxLen > max(chunk, 12) {
							t.Fatalf("%q %v chunk %d ahead %d: %d reads in flight, largest %d bytes", comp, sub, chunk, ahead, rd.maxIn, rd.maxLen)
						}
					}
				}
			}
		}
	}
}

// fourBlocks writes a handle of four non-empty key groups.
func fourBlocks(t *testing.T, files map[string][]byte) *snapshot.KeyedStateHandle {
	t.Helper()
	rng := keygroup.Range{Start: 0, End: 3}
	var recs []fullRec
	for kg := 0; kg <= 3; kg++ {
		recs = append(recs, fullRec{KG: kg, State: 0, Key: fmt.Sprintf("key %d", kg), Value: strings.Repeat("v", 100)})
	}
	return writeFull(t, files, "f", rng, recs, nil, snapshot.CompressionNone)
}

// TestKeyGroupReaderWholeFileChecksum: a whole-file read that streams verifies the file's
// SHA-256 once the last block is read, before that block's records are handed out; a read of
// some key groups does not (it relies on the CRCs). A damaged last block is reported by its
// CRC, naming the key group, rather than by the file checksum.
func TestKeyGroupReaderWholeFileChecksum(t *testing.T) {
	files := map[string][]byte{}
	h := fourBlocks(t, files)
	bad := *h
	bad.File.SHA256 = snapshot.Checksum([]byte("another file"))
	seen := map[int]bool{}
	err := snapshot.ReadKeyGroupsChunked(context.Background(), &fullFileReader{files: files}, &bad, bad.KeyGroupRange, 7, 2, func(kg int, _ *snapshot.Record) error {
		seen[kg] = true
		return nil
	})
	if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "f") {
		t.Fatalf("whole read of a file with another checksum: %v, want ErrCorrupt checksum mismatch naming the file", err)
	}
	if seen[3] {
		t.Errorf("the last block's records were handed out before the file checksum was verified")
	}
	if _, err := readChunked(&fullFileReader{files: files}, &bad, keygroup.Range{Start: 1, End: 3}, 7, 2); err != nil {
		t.Errorf("read of some key groups checked the whole-file checksum: %v", err)
	}

	// Flip the last byte: the last block's CRC (and the file's checksum) no longer match.
	damaged := map[string][]byte{"f": append([]byte(nil), files["f"]...)}
	damaged["f"][len(damaged["f"])-1] ^= 1
	_, err = readChunked(&fullFileReader{files: damaged}, h, h.KeyGroupRange, 7, 2)
	if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "key group 3") {
		t.Fatalf("damaged last block: %v, want ErrCorrupt naming key group 3", err)
	}
}

// TestKeyGroupReaderShortAndFailingReads: a file shorter than its metadata says is ErrMissing
// naming it, whichever chunk comes short; a failing read returns the reader's error; neither
// leaves a read in flight.
func TestKeyGroupReaderShortAndFailingReads(t *testing.T) {
	files := map[string][]byte{}
	h := fourBlocks(t, files)
	size := int64(len(files["f"]))
	for cut := int64(13); cut < size; cut += 37 {
		short := map[string][]byte{"f": files["f"][:cut]}
		rd := &boundedReader{fullFileReader: &fullFileReader{files: short}}
		_, err := readChunked(rd, h, h.KeyGroupRange, 16, 3)
		if !errors.Is(err, snapshot.ErrMissing) || !strings.Contains(err.Error(), "f") {
			t.Fatalf("file cut at %d of %d: %v, want ErrMissing naming the file", cut, size, err)
		}
		rd.idle(t)
	}
	rd := &boundedReader{fullFileReader: &fullFileReader{files: files}, failAt: size / 2}
	if _, err := readChunked(rd, h, h.KeyGroupRange, 16, 3); !errors.Is(err, errReadFailed) {
		t.Fatalf("failing read: %v, want the reader's error", err)
	}
	rd.idle(t)
}

// TestKeyGroupReaderCallbackError: the callback's error stops the read at once, with no read
// left in flight.
func TestKeyGroupReaderCallbackError(t *testing.T) {
	files := map[string][]byte{}
	h := fourBlocks(t, files)
	stop := errors.New("stop")
	rd := &boundedReader{fullFileReader: &fullFileReader{files: files}}
	calls := 0
	err := snapshot.ReadKeyGroupsChunked(context.Background(), rd, h, h.KeyGroupRange, 8, 4, func(int, *snapshot.Record) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("ReadKeyGroups = %v after %d calls; want the callback's error after 1", err, calls)
	}
	rd.idle(t)
}

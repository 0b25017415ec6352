package snapshot

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/streamstate/streamstate/keygroup"
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

// A restore streams a full snapshot: it never holds more of the file than the block it is
// decoding and a bounded read-ahead. The contiguous span of the wanted key groups is read in
// ranged reads of ParallelReadChunk bytes, ParallelReadConcurrency of them in flight ahead of
// the decoder, so the throughput stays that of the parallel reads a single large read makes,
// and the memory of a restore is bounded by
//
//	(ParallelReadConcurrency+1) × ParallelReadChunk  (chunks in flight and the one being cut)
//	+ the largest block (a block spanning chunks is assembled)
//	+ the largest decompressed block
//
// whatever the size of the state.

// KeyGroupReader reads the key groups of a full snapshot handle one block at a time, in
// ascending key-group order: Next reads and verifies the next key group's block, Records
// decodes it. Create it with NewKeyGroupReader and Close it when done. Not safe for concurrent
// use; the Reader it reads through is called from several goroutines at once.
//
// Verification is that of ReadKeyGroups: every block's CRC-32C before its records are handed
// out, and, when the wanted key groups cover the whole file, the file's size and SHA-256,
// computed over the bytes as they stream past and checked once the last block has been read,
// before that block's records are handed out. The records of earlier blocks have then been
// handed out already: a caller that applies records as it reads them must treat a failing
// Next as the failure of everything it applied from this handle (a backend's restore fails
// and the restore falls back to an earlier checkpoint, with a new backend).
type KeyGroupReader struct {
	h     *KeyedStateHandle
	want  keygroup.Range
	kg    int         // key group of the block Next reads next
	pos   int64       // file offset of the next byte of the span
	span  *spanReader // nil if no key group is wanted
	hash  *FileHasher // non-nil when the whole file is read
	block []byte      // payload of the current block
	buf   []byte      // decompression buffer
	rec   Record
	err   error // sticky
}

// NewKeyGroupReader returns a reader of the key groups of h that lie in rng. It reads and
// checks the file's header (when any key group is wanted); its errors are those of
// ReadKeyGroups.
func NewKeyGroupReader(ctx context.Context, r Reader, h *KeyedStateHandle, rng keygroup.Range) (*KeyGroupReader, error) {
	return newKeyGroupReader(ctx, r, h, rng, ParallelReadChunk, ParallelReadConcurrency)
}

func newKeyGroupReader(ctx context.Context, r Reader, h *KeyedStateHandle, rng keygroup.Range, chunk int64, ahead int) (*KeyGroupReader, error) {
	if h.Incremental != nil && h.Incremental.Savepoint {
		return nil, fmt.Errorf("%w: it is a native savepoint of the %s backend; restore it with that backend, or take a canonical savepoint (streamstate savepoint --type canonical) to change backends",
			ErrNotFull, h.Incremental.Backend)
	}
	if h.Incremental != nil {
		return nil, fmt.Errorf("%w: it is an incremental checkpoint of the %s backend; restore it with that backend, or take a savepoint to change backends",
			ErrNotFull, h.Incremental.Backend)
	}
	want := h.KeyGroupRange.Intersect(rng)
	kr := &KeyGroupReader{h: h, want: want, kg: want.Start}
	if want.Len() == 0 {
		return kr, nil
	}
	p := h.File.Path
	hdr, err := r.ReadRange(ctx, p, 0, fullHeaderLen)
	if err != nil {
		return nil, err
	}
	if len(hdr) < int(fullHeaderLen) {
		return nil, &FileError{Path: p, Err: ErrMissing, Detail: fmt.Sprintf("file has %d bytes, metadata says %d", len(hdr), h.File.Size)}
	}
	if string(hdr[:len(fullMagic)]) != fullMagic {
		return nil, Corrupt(p, "not a streamstate full snapshot (bad magic)")
	}
	if v := binary.BigEndian.Uint32(hdr[len(fullMagic):]); v != fullVersion {
		return nil, Corrupt(p, "full snapshot version %d is not supported (this build reads %d)", v, fullVersion)
	}
	if len(h.Blocks) != h.KeyGroupRange.Len() {
		return nil, Corrupt(p, "handle has %d blocks for the %d key groups of %v", len(h.Blocks), h.KeyGroupRange.Len(), h.KeyGroupRange)
	}
	first := h.Blocks[want.Start-h.KeyGroupRange.Start]
	last := h.Blocks[want.End-h.KeyGroupRange.Start]
	// Checked so that the span length below is positive and cannot overflow; a negative length
	// would ask the storage for the rest of the file.
	if first.Offset < fullHeaderLen || last.Offset < first.Offset || last.Length < blockOverhead || last.Length > math.MaxInt64-last.Offset {
		return nil, Corrupt(p, "blocks of key groups %v are out of order or outside the file", want)
	}
	end := last.Offset + last.Length
	if first.Offset == fullHeaderLen && end == h.File.Size {
		// The header and the span are the whole file.
		kr.hash = NewFileHasher()
		_, _ = kr.hash.Write(hdr)
	}
	kr.pos = first.Offset
	kr.span = newSpanReader(ctx, r, h.File, first.Offset, end, chunk, ahead)
	return kr, nil
}

// Next reads the block of the next wanted key group, verifies it and returns its key group;
// Records then decodes it. After the last key group it returns io.EOF. Bad bytes give an error
// wrapping ErrCorrupt (ErrMissing for a truncated file) that names the file; a failed read
// returns the Reader's error. Once Next has failed it keeps returning that error.
func (kr *KeyGroupReader) Next() (int, error) {
	if kr.err != nil {
		return 0, kr.err
	}
	if kr.kg > kr.want.End || kr.want.Len() == 0 {
		kr.block = nil
		return 0, io.EOF
	}
	kg, err := kr.next()
	if err != nil {
		kr.err, kr.block = err, nil
		kr.span.close()
		return 0, err
	}
	return kg, nil
}

func (kr *KeyGroupReader) next() (int, error) {
	h, p, kg := kr.h, kr.h.File.Path, kr.kg
	b := h.Blocks[kg-h.KeyGroupRange.Start]
	// Blocks are in key-group order and do not overlap; the last one ends the span.
	if b.Offset < kr.pos || b.Length < 0 || b.Length > kr.span.end-b.Offset {
		return 0, Corrupt(p, "block of key group %d is out of order", kg)
	}
	if gap := b.Offset - kr.pos; gap > 0 {
		// Bytes between blocks are part of the file: hash them too.
		g, err := kr.span.take(gap)
		if err != nil {
			return 0, err
		}
		kr.hashBytes(g)
	}
	blk, err := kr.span.take(b.Length)
	if err != nil {
		return 0, err
	}
	kr.pos = b.Offset + b.Length
	kr.hashBytes(blk)
	kr.kg++
	// The block's own CRC first, so that damage is reported where it is.
	if err := checkBlock(p, kg, blk); err != nil {
		return 0, err
	}
	if kg == kr.want.End && kr.hash != nil {
		if err := kr.hash.Verify(h.File); err != nil {
			return 0, err
		}
	}
	if kr.block, err = openBlock(p, kg, blk, &kr.buf); err != nil {
		return 0, err
	}
	return kg, nil
}

func (kr *KeyGroupReader) hashBytes(b []byte) {
	if kr.hash != nil {
		_, _ = kr.hash.Write(b)
	}
}

// Records calls fn for every record of the block Next returned last, in order. The record and
// its slices are valid only during the call. A record that does not decode gives an error
// wrapping ErrCorrupt that names the file; fn's error is returned as it is.
func (kr *KeyGroupReader) Records(fn func(rec *Record) error) error {
	payload := kr.block
	var err error
	for len(payload) > 0 {
		if payload, err = decodeRecord(payload, kr.h.States, kr.h.Delta, &kr.rec); err != nil {
			return Corrupt(kr.h.File.Path, "key group %d: %v", kr.kg-1, err)
		}
		if err := fn(&kr.rec); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the reads in flight and waits for them. It may be called more than once.
func (kr *KeyGroupReader) Close() {
	if kr.span != nil {
		kr.span.close()
	}
	kr.block = nil
}

// spanReader reads the bytes [next, end) of a file in order, in ranged reads of chunk bytes,
// ahead of them in flight.
type spanReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	r      Reader
	file   FileRef
	next   int64 // offset of the next ranged read to start
	end    int64
	chunk  int64
	ahead  int
	queue  []*chunkRead // in file order
	cur    []byte       // unconsumed bytes of the last chunk taken
	asm    []byte       // a block assembled from several chunks
	wg     sync.WaitGroup
	closed bool
}

type chunkRead struct {
	off, n int64
	done   chan struct{}
	b      []byte
	err    error
}

func newSpanReader(ctx context.Context, r Reader, f FileRef, start, end, chunk int64, ahead int) *spanReader {
	ctx, cancel := context.WithCancel(ctx)
	s := &spanReader{ctx: ctx, cancel: cancel, r: r, file: f, next: start, end: end, chunk: chunk, ahead: max(ahead, 1)}
	s.fill()
	return s
}

// fill starts ranged reads until ahead are in flight or the span is requested.
func (s *spanReader) fill() {
	for len(s.queue) < s.ahead && s.next < s.end {
		c := &chunkRead{off: s.next, n: min(s.chunk, s.end-s.next), done: make(chan struct{})}
		s.next += c.n
		s.queue = append(s.queue, c)
		s.wg.Go(func() {
			defer close(c.done)
			c.b, c.err = s.r.ReadRange(s.ctx, s.file.Path, c.off, c.n)
		})
	}
}

// pop waits for the oldest read in flight and returns its bytes, exactly the bytes asked for.
func (s *spanReader) pop() ([]byte, error) {
	if len(s.queue) == 0 {
		// take asks for no more than the span: the reads were cut short.
		return nil, &FileError{Path: s.file.Path, Err: ErrMissing, Detail: fmt.Sprintf("file is truncated: metadata says %d bytes", s.file.Size)}
	}
	c := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	<-c.done
	s.fill()
	switch {
	case c.err != nil:
		return nil, c.err
	case int64(len(c.b)) < c.n:
		return nil, &FileError{Path: s.file.Path, Err: ErrMissing, Detail: fmt.Sprintf("file is truncated: metadata says %d bytes", s.file.Size)}
	case int64(len(c.b)) > c.n:
		return nil, fmt.Errorf("read %s: the reader returned %d bytes for a range of %d", s.file.Path, len(c.b), c.n)
	}
	return c.b, nil
}

// take returns the next n bytes of the span. They are valid until the next call; they may be
// the reader's own bytes and must not be modified.
func (s *spanReader) take(n int64) ([]byte, error) {
	if int64(len(s.cur)) >= n {
		out := s.cur[:n:n]
		s.cur = s.cur[n:]
		return out, nil
	}
	// The bytes span chunks: assemble them. The buffer grows with the bytes that arrive, never
	// with a length from metadata alone.
	s.asm = append(s.asm[:0], s.cur...)
	s.cur = nil
	for int64(len(s.asm)) < n {
		c, err := s.pop()
		if err != nil {
			return nil, err
		}
		need := n - int64(len(s.asm))
		if int64(len(c)) > need {
			s.asm, s.cur = append(s.asm, c[:need]...), c[need:]
		} else {
			s.asm = append(s.asm, c...)
		}
	}
	return s.asm, nil
}

// close cancels the reads in flight and waits for them.
func (s *spanReader) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.cancel()
	s.wg.Wait()
	s.queue, s.cur, s.asm = nil, nil, nil
}

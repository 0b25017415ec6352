package snapshot

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/s2"

	"github.com/streamstate/streamstate/keygroup"
)

// The canonical full snapshot format, shared by every backend and by savepoints:
//
//	file   = header block*
//	header = "STRMSTKG" version:uint32be            (12 bytes)
//	block  = compression:byte payload crc32c:uint32be  (CRC-32C of compression+payload)
//	payload (after decompression) = record*
//	record = uvarint(state index) bytes(key) bytes(namespace) [bytes(user key), map only] value
//	value  = bytes(v)                       for value, map, reducing, aggregating
//	       | uvarint(n) bytes(element)*n    for list
//	bytes(x) = uvarint(len(x)) x
//
// One block per key group of the handle's range, in order; the metadata records each block's
// offset and length, so a rescaled restore reads only the key groups it owns.

const (
	fullMagic      = "STRMSTKG"
	fullVersion    = 1
	fullHeaderLen  = int64(len(fullMagic) + 4)
	blockOverhead  = 1 + 4
	compNone       = 0
	compSnappy     = 1
	maxSnappyRatio = 32 // Snappy cannot expand a block more than this; larger claims are corrupt
)

// OutputStream is a file being written for a snapshot.
type OutputStream interface {
	Write(p []byte) (int, error)
	// Close commits the file and returns its reference.
	Close() (FileRef, error)
	// Abort discards the file.
	Abort()
}

// StreamFactory creates the files of one snapshot (a checkpoint's task-owned files, or a
// savepoint's). Safe for concurrent use.
type StreamFactory interface {
	// Create opens a new file whose name starts with hint.
	Create(ctx context.Context, hint string) (OutputStream, error)
}

// BlockBuilder encodes the records of one key group. The zero value is ready to use.
type BlockBuilder struct {
	payload []byte // records
	frame   []byte // compressed records
	block   []byte // the sealed block
}

func (b *BlockBuilder) head(state int, key, ns []byte) {
	b.payload = binary.AppendUvarint(b.payload, uint64(state))
	b.payload = appendBytes(b.payload, key)
	b.payload = appendBytes(b.payload, ns)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// Value adds a value (also reducing or aggregating accumulator) record.
func (b *BlockBuilder) Value(state int, key, ns, v []byte) {
	b.head(state, key, ns)
	b.payload = appendBytes(b.payload, v)
}

// MapEntry adds one map entry record.
func (b *BlockBuilder) MapEntry(state int, key, ns, userKey, v []byte) {
	b.head(state, key, ns)
	b.payload = appendBytes(b.payload, userKey)
	b.payload = appendBytes(b.payload, v)
}

// List adds a list record with n elements; append each with ListElement.
func (b *BlockBuilder) List(state int, key, ns []byte, n int) {
	b.head(state, key, ns)
	b.payload = binary.AppendUvarint(b.payload, uint64(n))
}

// ListElement adds an element to the list record begun last.
func (b *BlockBuilder) ListElement(v []byte) { b.payload = appendBytes(b.payload, v) }

// seal returns the block (compression byte, payload, CRC-32C) and empties the builder. The
// returned slice is valid until the builder is used again.
func (b *BlockBuilder) seal(comp Compression) []byte {
	var c byte = compNone
	body := b.payload
	// Blocks too large for Snappy (over 4 GiB) are stored uncompressed.
	if comp == CompressionSnappy && len(body) > 0 && s2.MaxEncodedLen(len(body)) > 0 {
		b.frame = s2.EncodeSnappy(b.frame[:cap(b.frame)], body)
		if len(b.frame) < len(body) {
			c, body = compSnappy, b.frame
		}
	}
	b.block = append(b.block[:0], c)
	b.block = append(b.block, body...)
	b.block = binary.BigEndian.AppendUint32(b.block, crc32.Checksum(b.block, castagnoli))
	b.payload = b.payload[:0]
	return b.block
}

// FullWriter writes a keyed state handle in the canonical full format. Call BeginKeyGroup for
// key groups in ascending order (skipped ones get empty blocks), add records with the embedded
// BlockBuilder's methods, then Finish. WriteFull builds blocks in parallel on top of it.
type FullWriter struct {
	BlockBuilder
	out    OutputStream
	rng    keygroup.Range
	comp   Compression
	states []StateMeta
	keySer string
	off    int64
	cur    int
	blocks []Block
	err    error
}

// NewFullWriter writes the header to out and returns a writer for the key groups of rng.
// states lists the snapshot's states; records name them by index.
func NewFullWriter(out OutputStream, rng keygroup.Range, keySerializer string, states []StateMeta, comp Compression) *FullWriter {
	w := &FullWriter{out: out, rng: rng, comp: comp, states: states, keySer: keySerializer, cur: rng.Start - 1}
	hdr := binary.BigEndian.AppendUint32([]byte(fullMagic), fullVersion)
	w.write(hdr)
	return w
}

func (w *FullWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	n, err := w.out.Write(p)
	w.off += int64(n)
	w.err = err
}

// BeginKeyGroup ends the current key group's block and starts kg's.
func (w *FullWriter) BeginKeyGroup(kg int) error {
	if kg <= w.cur || !w.rng.Contains(kg) {
		return fmt.Errorf("checkpoint: key group %d out of order or outside %v", kg, w.rng)
	}
	for w.cur < kg {
		if w.cur >= w.rng.Start {
			w.flush()
		}
		w.cur++
	}
	return w.err
}

func (w *FullWriter) flush() { w.writeBlock(w.seal(w.comp)) }

func (w *FullWriter) writeBlock(block []byte) {
	start := w.off
	w.write(block)
	w.blocks = append(w.blocks, Block{Offset: start, Length: w.off - start})
}

// Abort discards the file.
func (w *FullWriter) Abort() { w.out.Abort() }

// Finish writes the remaining blocks, commits the file and returns the handle.
func (w *FullWriter) Finish() (*KeyedStateHandle, error) {
	for w.cur < w.rng.End {
		if w.cur >= w.rng.Start {
			w.flush()
		}
		w.cur++
	}
	if w.rng.Len() > 0 {
		w.flush()
	}
	return w.finish()
}

func (w *FullWriter) finish() (*KeyedStateHandle, error) {
	if w.err != nil {
		w.out.Abort()
		return nil, w.err
	}
	ref, err := w.out.Close()
	if err != nil {
		return nil, err
	}
	return &KeyedStateHandle{KeyGroupRange: w.rng, KeySerializer: w.keySer, States: w.states,
		File: ref, Compression: w.comp, Blocks: w.blocks}, nil
}

// Record is one decoded record. Its slices point into the block being read and are valid only
// during the callback that receives it.
type Record struct {
	State     int
	Kind      StateKind
	Key       []byte
	Namespace []byte
	UserKey   []byte
	Value     []byte
	List      [][]byte
	// Tombstone, in a delta of a hashmap chain (KeyedStateHandle.Delta), marks a tombstone:
	// it removes the (key, namespace) of State, or all its records of the key group, from
	// what the chain's earlier handles hold. TombstoneNone for every other record.
	Tombstone Tombstone
}

// Reader reads byte ranges of a snapshot's files, by the relative paths of the metadata. It
// must be safe for concurrent use: a restore keeps several ranged reads in flight.
type Reader interface {
	ReadRange(ctx context.Context, path string, offset, length int64) ([]byte, error)
}

// ReadKeyGroups reads the key groups of h that lie in rng, calling fn for every record, key
// group by key group in ascending order. It reads only those key groups' blocks (and the file
// header), streaming them through a KeyGroupReader: its memory is bounded by the largest block
// and a fixed read-ahead, not by the size of the state. Bad bytes give an error wrapping
// ErrCorrupt that names the file.
//
// Every block's CRC-32C is verified before its records are handed out. A read that covers the
// whole file (rng holds all of h's key groups) also verifies the file's size and checksum,
// hashing the blocks as they stream past; a mismatch is found once the last block has been
// read, after the records of the blocks before it were handed to fn, and ReadKeyGroups returns
// it: a caller that applies records as they arrive must discard what it applied when
// ReadKeyGroups fails (a backend's restore fails, and the restore falls back to an earlier
// checkpoint). A read of some key groups only (a restore at another parallelism) relies on the
// CRC-32C of every block read and on the file's length (Checkpoints.Load and LoadSavepoint
// check every file's size), since verifying the checksum would mean reading all of the file on
// every subtask that owns a part of it.
func ReadKeyGroups(ctx context.Context, r Reader, h *KeyedStateHandle, rng keygroup.Range, fn func(kg int, rec *Record) error) error {
	kr, err := NewKeyGroupReader(ctx, r, h, rng)
	if err != nil {
		return err
	}
	defer kr.Close()
	return readAll(kr, fn)
}

func readAll(kr *KeyGroupReader, fn func(kg int, rec *Record) error) error {
	for {
		kg, err := kr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := kr.Records(func(rec *Record) error { return fn(kg, rec) }); err != nil {
			return err
		}
	}
}

// checkBlock verifies the length and CRC of the block of key group kg.
func checkBlock(p string, kg int, blk []byte) error {
	if len(blk) < blockOverhead {
		return Corrupt(p, "block of key group %d is too short", kg)
	}
	body := blk[:len(blk)-4]
	if want, got := binary.BigEndian.Uint32(blk[len(blk)-4:]), crc32.Checksum(body, castagnoli); want != got {
		return Corrupt(p, "checksum mismatch in the block of key group %d (stored %08x, computed %08x)", kg, want, got)
	}
	return nil
}

func openBlock(p string, kg int, blk []byte, buf *[]byte) ([]byte, error) {
	if err := checkBlock(p, kg, blk); err != nil {
		return nil, err
	}
	body := blk[:len(blk)-4]
	switch body[0] {
	case compNone:
		return body[1:], nil
	case compSnappy:
		n, err := s2.DecodedLen(body[1:])
		if err != nil || n > maxSnappyRatio*len(body)+4096 {
			return nil, Corrupt(p, "block of key group %d has a bad compressed length", kg)
		}
		if cap(*buf) < n {
			*buf = make([]byte, n)
		}
		out, err := s2.Decode((*buf)[:cap(*buf)], body[1:])
		if err != nil {
			return nil, Corrupt(p, "block of key group %d does not decompress: %v", kg, err)
		}
		return out, nil
	}
	return nil, Corrupt(p, "block of key group %d has unknown compression %d", kg, body[0])
}

// decodeRecord decodes the next record of a block; a delta's (chain.go) may be a tombstone.
func decodeRecord(b []byte, states []StateMeta, delta bool, r *Record) ([]byte, error) {
	idx, b, err := readUvarint(b)
	if err != nil {
		return nil, err
	}
	if delta && idx >= uint64(len(states)) {
		return decodeTombstone(b, states, idx, r)
	}
	r.Tombstone = TombstoneNone
	if idx >= uint64(len(states)) {
		return nil, fmt.Errorf("record names state %d of %d", idx, len(states))
	}
	r.State, r.Kind = int(idx), states[idx].Kind
	if r.Key, b, err = readBytes(b); err != nil {
		return nil, err
	}
	if r.Namespace, b, err = readBytes(b); err != nil {
		return nil, err
	}
	r.UserKey, r.List = nil, r.List[:0]
	switch r.Kind {
	case KindMap:
		if r.UserKey, b, err = readBytes(b); err != nil {
			return nil, err
		}
	case KindList:
		var n uint64
		if n, b, err = readUvarint(b); err != nil {
			return nil, err
		}
		if n > uint64(len(b)) { // every element takes at least one byte
			return nil, fmt.Errorf("list claims %d elements in %d bytes", n, len(b))
		}
		for i := uint64(0); i < n; i++ {
			var e []byte
			if e, b, err = readBytes(b); err != nil {
				return nil, err
			}
			r.List = append(r.List, e)
		}
		r.Value = nil
		return b, nil
	}
	r.Value, b, err = readBytes(b)
	return b, err
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("bad varint")
	}
	return v, b[n:], nil
}

func readBytes(b []byte) ([]byte, []byte, error) {
	n, b, err := readUvarint(b)
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(b))
	}
	return b[:n:n], b[n:], nil
}

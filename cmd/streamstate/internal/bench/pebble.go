package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/keygroup"
)

// The raw Pebble baseline of the lsm backend: the same operations on the same int64 keys,
// straight on a Pebble database of its own (in a fresh temporary directory), opened with the
// settings the lsm backend uses by default: the same block cache and memtables, block size,
// bloom filters, no write-ahead log. What the comparison shows is the cost of the state layer
// (key layout, serializers, state lookup), not Pebble's.
//
// Layout: every key starts with its key group (2 bytes, big-endian; the group the backend
// assigns it) and then the key, so that the keys spread over the key space in the same order
// as the backend's: written in key order, both make overlapping L0 files, which reads pay for.
// A value is key → value; a list is key → elements, extended with Pebble merges that
// concatenate (as the lsm backend's list merge operator does); a map entry is key‖user key →
// value, and iterating a map is a prefix scan. Keys and values are 8-byte big-endian, with
// int64 order (the sign bit flipped), as serde.Int64 encodes them.

// listMergerName names the baseline's list merge operator. It is not the lsm backend's: the
// baseline database is private to one run.
const listMergerName = "streamstate.bench.list.v1"

var listMerger = &pebble.Merger{
	Name: listMergerName,
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &listValueMerger{buf: append([]byte(nil), value...)}, nil
	},
}

// listValueMerger concatenates list encodings: associative, as Pebble requires.
type listValueMerger struct{ buf []byte }

func (m *listValueMerger) MergeNewer(v []byte) error { m.buf = append(m.buf, v...); return nil }

func (m *listValueMerger) MergeOlder(v []byte) error {
	buf := make([]byte, 0, len(v)+len(m.buf))
	m.buf = append(append(buf, v...), m.buf...)
	return nil
}

func (m *listValueMerger) Finish(bool) ([]byte, io.Closer, error) { return m.buf, nil, nil }

// pebbleOptions are the lsm backend's default Pebble settings (lsm.Options with only the
// required fields set), for a database that uses the baseline's merge operator.
func pebbleOptions() *pebble.Options {
	po := &pebble.Options{
		Merger:                      listMerger,
		DisableWAL:                  true,
		FormatMajorVersion:          pebble.FormatTableFormatV6,
		CacheSize:                   lsm.DefaultBlockCacheSize + lsm.DefaultWriteBufferSize*lsm.DefaultWriteBufferCount,
		MemTableSize:                lsm.DefaultWriteBufferSize,
		MemTableStopWritesThreshold: lsm.DefaultWriteBufferCount,
		Logger:                      pebbleLogger{},
	}
	for i := range po.Levels {
		po.Levels[i].BlockSize = lsm.DefaultBlockSize
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].FilterType = pebble.TableFilter
	}
	return po
}

// pebbleLogger drops Pebble's informational lines, as the lsm backend's default logger does,
// so that they do not mix with the results.
type pebbleLogger struct{}

func (pebbleLogger) Infof(string, ...any)  {}
func (pebbleLogger) Errorf(string, ...any) {}

// Fatalf is called on unrecoverable errors and must not return.
func (pebbleLogger) Fatalf(format string, args ...any) {
	panic("raw pebble baseline: " + fmt.Sprintf(format, args...))
}

// pebbleStore is an open baseline database; close removes its directory. Its buffers make it
// unsafe for concurrent use.
type pebbleStore struct {
	db  *pebble.DB
	dir string

	key, val     []byte // key group ‖ key ‖ user key; one value
	list         []byte // a list encoding
	lower, upper []byte // a map's scan bounds
	// addAll is the encoding of the last list ListAddAll was given (addAllOf): the same
	// elements are added again and again, encoded once, as a caller would.
	addAllOf []int64
	addAll   []byte
}

func openPebbleStore() (*pebbleStore, error) {
	dir, err := os.MkdirTemp("", "streamstate-bench-pebble-")
	if err != nil {
		return nil, fmt.Errorf("raw pebble baseline: %w", err)
	}
	db, err := pebble.Open(dir, pebbleOptions())
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("raw pebble baseline: open %s: %w", dir, err)
	}
	return &pebbleStore{db: db, dir: dir, key: make([]byte, keyLen+8), val: make([]byte, 8),
		lower: make([]byte, keyLen), upper: make([]byte, keyLen)}, nil
}

func (p *pebbleStore) close() error {
	err := p.db.Close()
	return errors.Join(err, os.RemoveAll(p.dir))
}

// put8 writes v as 8 big-endian bytes in int64 order at dst[off:].
func put8(dst []byte, off int, v int64) {
	binary.BigEndian.PutUint64(dst[off:], uint64(v)^(1<<63))
}

func get8(src []byte) int64 { return int64(binary.BigEndian.Uint64(src) ^ (1 << 63)) }

// keyLen is the length of a baseline key: key group and key.
const keyLen = 2 + 8

// putKey writes the baseline key of k, key group first, at dst[:keyLen].
func putKey(dst []byte, k int64) {
	put8(dst, 2, k)
	binary.BigEndian.PutUint16(dst, uint16(keygroup.Of(dst[2:keyLen], MaxParallelism)))
}

// appendListElem appends one element in list encoding: uvarint(8), then its 8 bytes.
func appendListElem(dst []byte, v int64) []byte {
	dst = binary.AppendUvarint(dst, 8)
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

// decodeList returns the sum of the elements of a list encoding.
func decodeList(b []byte) (int64, error) {
	var sum int64
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || n != 8 || uint64(len(b)-w) < n {
			return 0, errors.New("raw pebble baseline: corrupt list value")
		}
		sum += get8(b[w:])
		b = b[w+8:]
	}
	return sum, nil
}

// get returns key's value read with decode (nil: not read); found is false if the key is
// absent.
func (p *pebbleStore) get(key []byte, decode func([]byte) (int64, error)) (v int64, found bool, err error) {
	b, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if decode != nil {
		v, err = decode(b)
	}
	return v, true, errors.Join(err, closer.Close())
}

func decode8(b []byte) (int64, error) { return get8(b), nil }

func (p *pebbleStore) ValueGet(k int64) (int64, error) {
	putKey(p.key, k)
	v, _, err := p.get(p.key[:keyLen], decode8)
	return v, err
}

func (p *pebbleStore) ValueSet(k, v int64) error {
	putKey(p.key, k)
	put8(p.val, 0, v)
	return p.db.Set(p.key[:keyLen], p.val, pebble.NoSync)
}

func (p *pebbleStore) ValueClear(k int64) error {
	putKey(p.key, k)
	return p.db.Delete(p.key[:keyLen], pebble.NoSync)
}

func (p *pebbleStore) ListSet(k int64, vs []int64) error {
	putKey(p.key, k)
	p.list = p.list[:0]
	for _, v := range vs {
		p.list = appendListElem(p.list, v)
	}
	return p.db.Set(p.key[:keyLen], p.list, pebble.NoSync)
}

func (p *pebbleStore) ListAdd(k, v int64) error {
	putKey(p.key, k)
	p.list = appendListElem(p.list[:0], v)
	return p.db.Merge(p.key[:keyLen], p.list, pebble.NoSync)
}

func (p *pebbleStore) ListAddAll(k int64, vs []int64) error {
	if len(vs) != len(p.addAllOf) || len(vs) > 0 && &vs[0] != &p.addAllOf[0] {
		p.addAllOf, p.addAll = vs, p.addAll[:0]
		for _, v := range vs {
			p.addAll = appendListElem(p.addAll, v)
		}
	}
	putKey(p.key, k)
	return p.db.Merge(p.key[:keyLen], p.addAll, pebble.NoSync)
}

func (p *pebbleStore) ListSum(k int64, a *acc) {
	putKey(p.key, k)
	v, _, err := p.get(p.key[:keyLen], decodeList)
	a.sum, a.err = a.sum+v, err
}

func (p *pebbleStore) ListClear(k int64) error { return p.ValueClear(k) }

// mapKey sets p.key to k's map entry uk.
func (p *pebbleStore) mapKey(k, uk int64) []byte {
	putKey(p.key, k)
	put8(p.key, keyLen, uk)
	return p.key
}

func (p *pebbleStore) MapGet(k, uk int64) (int64, error) {
	v, _, err := p.get(p.mapKey(k, uk), decode8)
	return v, err
}

func (p *pebbleStore) MapPut(k, uk, v int64) error {
	put8(p.val, 0, v)
	return p.db.Set(p.mapKey(k, uk), p.val, pebble.NoSync)
}

func (p *pebbleStore) MapRemove(k, uk int64) error {
	return p.db.Delete(p.mapKey(k, uk), pebble.NoSync)
}

func (p *pebbleStore) MapContains(k, uk int64) (bool, error) {
	_, ok, err := p.get(p.mapKey(k, uk), nil)
	return ok, err
}

func (p *pebbleStore) MapSum(k int64, a *acc) {
	v, err := p.mapSum(k)
	a.sum, a.err = a.sum+v, err
}

func (p *pebbleStore) mapSum(k int64) (int64, error) {
	// Every entry of k's map lies in [group‖k, group‖k+1): keys have a fixed width. k+1 does
	// not overflow: preloaded keys are below the number of keys.
	putKey(p.lower, k)
	copy(p.upper, p.lower)
	put8(p.upper, 2, k+1)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: p.lower, UpperBound: p.upper})
	if err != nil {
		return 0, err
	}
	var sum int64
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return 0, errors.Join(err, it.Close())
		}
		sum += get8(it.Key()[keyLen:]) ^ get8(v)
	}
	return sum, it.Close()
}

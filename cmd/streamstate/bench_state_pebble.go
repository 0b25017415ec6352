package main

import (
	"context"
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

// The raw Pebble baseline of `bench state --backend lsm`: the same operations on the same
// int64 keys, straight on a Pebble database of its own (in a fresh temporary directory),
// opened with the settings the lsm backend uses by default: the same block cache and
// memtables, block size, bloom filters, no write-ahead log. What the comparison shows is the
// cost of the state layer (key layout, serializers, state lookup), not Pebble's.
//
// Layout: every key starts with its key group (2 bytes, big-endian; the group the backend
// assigns it) and then the key, so that the keys spread over the key space in the same order
// as the backend's: written in key order, both make overlapping L0 files, which reads pay for.
// A value is key → value; a list is key → elements, extended with Pebble merges that
// concatenate (as the lsm backend's list merge operator does); a map entry is key‖user key →
// value, and iterating a map is a prefix scan. Keys and values are 8-byte big-endian, with
// int64 order (the sign bit flipped), as serde.Int64 encodes them.

// benchListMergerName names the baseline's list merge operator. It is not the lsm backend's:
// the baseline database is private to one run.
const benchListMergerName = "streamstate.bench.list.v1"

var benchListMerger = &pebble.Merger{
	Name: benchListMergerName,
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &benchListValueMerger{buf: append([]byte(nil), value...)}, nil
	},
}

// benchListValueMerger concatenates list encodings: associative, as Pebble requires.
type benchListValueMerger struct{ buf []byte }

func (m *benchListValueMerger) MergeNewer(v []byte) error { m.buf = append(m.buf, v...); return nil }

func (m *benchListValueMerger) MergeOlder(v []byte) error {
	buf := make([]byte, 0, len(v)+len(m.buf))
	m.buf = append(append(buf, v...), m.buf...)
	return nil
}

func (m *benchListValueMerger) Finish(bool) ([]byte, io.Closer, error) { return m.buf, nil, nil }

// benchPebbleOptions are the lsm backend's default Pebble settings (lsm.Options with only
// the required fields set), for a database that uses the baseline's merge operator.
func benchPebbleOptions() *pebble.Options {
	po := &pebble.Options{
		Merger:                      benchListMerger,
		DisableWAL:                  true,
		FormatMajorVersion:          pebble.FormatTableFormatV6,
		CacheSize:                   lsm.DefaultBlockCacheSize + lsm.DefaultWriteBufferSize*lsm.DefaultWriteBufferCount,
		MemTableSize:                lsm.DefaultWriteBufferSize,
		MemTableStopWritesThreshold: lsm.DefaultWriteBufferCount,
		Logger:                      benchPebbleLogger{},
	}
	for i := range po.Levels {
		po.Levels[i].BlockSize = lsm.DefaultBlockSize
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].FilterType = pebble.TableFilter
	}
	return po
}

// benchPebbleLogger drops Pebble's informational lines, as the lsm backend's default logger
// does, so that they do not mix with the results.
type benchPebbleLogger struct{}

func (benchPebbleLogger) Infof(string, ...any)  {}
func (benchPebbleLogger) Errorf(string, ...any) {}

// Fatalf is called on unrecoverable errors and must not return.
func (benchPebbleLogger) Fatalf(format string, args ...any) {
	panic("raw pebble baseline: " + fmt.Sprintf(format, args...))
}

// benchPebble is an open baseline database; close removes its directory.
type benchPebble struct {
	db  *pebble.DB
	dir string
}

func openBenchPebble() (*benchPebble, error) {
	dir, err := os.MkdirTemp("", "streamstate-bench-pebble-")
	if err != nil {
		return nil, fmt.Errorf("raw pebble baseline: %w", err)
	}
	db, err := pebble.Open(dir, benchPebbleOptions())
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("raw pebble baseline: open %s: %w", dir, err)
	}
	return &benchPebble{db: db, dir: dir}, nil
}

func (p *benchPebble) close() error {
	err := p.db.Close()
	return errors.Join(err, os.RemoveAll(p.dir))
}

// benchPut8 writes v as 8 big-endian bytes in int64 order at dst[off:].
func benchPut8(dst []byte, off int, v int64) {
	binary.BigEndian.PutUint64(dst[off:], uint64(v)^(1<<63))
}

func benchGet8(src []byte) int64 { return int64(binary.BigEndian.Uint64(src) ^ (1 << 63)) }

// benchKeyLen is the length of a baseline key: key group and key.
const benchKeyLen = 2 + 8

// benchPutKey writes the baseline key of k, key group first, at dst[:benchKeyLen].
func benchPutKey(dst []byte, k int64) {
	benchPut8(dst, 2, k)
	binary.BigEndian.PutUint16(dst, uint16(keygroup.Of(dst[2:benchKeyLen], benchMaxParallelism)))
}

// benchAppendListElem appends one element in list encoding: uvarint(8), then its 8 bytes.
func benchAppendListElem(dst []byte, v int64) []byte {
	dst = binary.AppendUvarint(dst, 8)
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

// benchDecodeList calls fn for every element of a list encoding.
func benchDecodeList(b []byte, fn func(int64)) error {
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || n != 8 || uint64(len(b)-w) < n {
			return errors.New("raw pebble baseline: corrupt list value")
		}
		fn(benchGet8(b[w:]))
		b = b[w+8:]
	}
	return nil
}

// get reads key's value into fn; found is false if the key is absent.
func (p *benchPebble) get(key []byte, fn func([]byte) error) (found bool, err error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fn != nil {
		err = fn(v)
	}
	return true, errors.Join(err, closer.Close())
}

// setupPebble opens the raw Pebble baseline of a fixture, preloads it with the fixture's
// contents key by key, as the backend was, and sets the baseline side of every operation.
func (f *benchFixture) setupPebble(ctx context.Context, kind string, keys int, s *benchSeqs) error {
	p, err := openBenchPebble()
	if err != nil {
		return err
	}
	f.raw = p
	switch kind {
	case "value":
		return f.setupPebbleValue(ctx, p, keys, s)
	case "list":
		return f.setupPebbleList(ctx, p, keys, s)
	case "map":
		return f.setupPebbleMap(ctx, p, keys, s)
	}
	return fmt.Errorf("unknown fixture %q", kind)
}

// setBaseline replaces the baseline side of op.
func (f *benchFixture) setBaseline(op string, w benchWork) {
	ws := f.work[op]
	ws[1] = w
	f.work[op] = ws
}

func (f *benchFixture) setupPebbleValue(ctx context.Context, p *benchPebble, keys int, s *benchSeqs) error {
	key, val := make([]byte, benchKeyLen), make([]byte, 8)
	for k := range int64(keys) {
		if err := preloadStep(ctx, k); err != nil {
			return err
		}
		benchPutKey(key, k)
		benchPut8(val, 0, benchValueOf(k))
		if err := p.db.Set(key, val, pebble.NoSync); err != nil {
			return err
		}
	}
	seq, fresh := s.keys, s.fresh
	set := func(keySeq []int64, mask int) func(off, n int) {
		return func(off, n int) {
			for i := off; i < off+n; i++ {
				benchPutKey(key, keySeq[i&mask])
				benchPut8(val, 0, int64(i))
				if err := p.db.Set(key, val, pebble.NoSync); err != nil {
					f.fail(err)
					return
				}
			}
		}
	}
	f.setBaseline("valueGet", benchWork{run: func(off, n int) {
		var sum int64
		add := func(v []byte) error { sum += benchGet8(v); return nil }
		for i := off; i < off+n; i++ {
			benchPutKey(key, seq[i&seqMask])
			if _, err := p.get(key, add); err != nil {
				f.fail(err)
				return
			}
		}
		f.sink += sum
	}})
	f.setBaseline("valueUpdate", benchWork{run: set(seq, seqMask)})
	f.setBaseline("valueAdd", benchWork{run: set(fresh, freshMask), reset: func(off, n int) {
		for i := off; i < off+n; i++ {
			benchPutKey(key, fresh[i&freshMask])
			if err := p.db.Delete(key, pebble.NoSync); err != nil {
				f.fail(err)
				return
			}
		}
	}})
	return nil
}

func (f *benchFixture) setupPebbleList(ctx context.Context, p *benchPebble, keys int, s *benchSeqs) error {
	key := make([]byte, benchKeyLen)
	var buf []byte
	var elems []int64
	listOf := func(k int64) []byte {
		buf = buf[:0]
		elems = benchListOf(k, elems)
		for _, v := range elems {
			buf = benchAppendListElem(buf, v)
		}
		return buf
	}
	for k := range int64(keys) {
		if err := preloadStep(ctx, k); err != nil {
			return err
		}
		benchPutKey(key, k)
		if err := p.db.Set(key, listOf(k), pebble.NoSync); err != nil {
			return err
		}
	}
	seq, fresh := s.keys, s.fresh
	var addAll []byte
	for _, v := range s.addAll {
		addAll = benchAppendListElem(addAll, v)
	}
	reset := func(off, n int) {
		for i := off; i < off+n; i++ {
			k := seq[i&seqMask]
			benchPutKey(key, k)
			if err := p.db.Set(key, listOf(k), pebble.NoSync); err != nil {
				f.fail(err)
				return
			}
		}
	}
	elem := make([]byte, 0, 9)
	f.setBaseline("listAdd", benchWork{run: func(off, n int) {
		for i := off; i < off+n; i++ {
			benchPutKey(key, fresh[i&freshMask])
			if err := p.db.Set(key, benchAppendListElem(elem[:0], int64(i)), pebble.NoSync); err != nil {
				f.fail(err)
				return
			}
		}
	}, reset: func(off, n int) {
		for i := off; i < off+n; i++ {
			benchPutKey(key, fresh[i&freshMask])
			if err := p.db.Delete(key, pebble.NoSync); err != nil {
				f.fail(err)
				return
			}
		}
	}})
	f.setBaseline("listAppend", benchWork{run: func(off, n int) {
		for i := off; i < off+n; i++ {
			benchPutKey(key, seq[i&seqMask])
			if err := p.db.Merge(key, benchAppendListElem(elem[:0], int64(i)), pebble.NoSync); err != nil {
				f.fail(err)
				return
			}
		}
	}, reset: reset})
	f.setBaseline("listGet", benchWork{run: func(off, n int) {
		var sum int64
		add := func(v int64) { sum += v }
		decode := func(v []byte) error { return benchDecodeList(v, add) }
		for i := off; i < off+n; i++ {
			benchPutKey(key, seq[i&seqMask])
			if _, err := p.get(key, decode); err != nil {
				f.fail(err)
				return
			}
		}
		f.sink += sum
	}})
	f.setBaseline("listAddAll", benchWork{run: func(off, n int) {
		for i := off; i < off+n; i++ {
			benchPutKey(key, seq[i&seqMask])
			if err := p.db.Merge(key, addAll, pebble.NoSync); err != nil {
				f.fail(err)
				return
			}
		}
	}, reset: reset})
	return nil
}

func (f *benchFixture) setupPebbleMap(ctx context.Context, p *benchPebble, keys int, s *benchSeqs) error {
	key, val := make([]byte, benchKeyLen+8), make([]byte, 8)
	for k := range int64(keys) {
		if err := preloadStep(ctx, k); err != nil {
			return err
		}
		benchPutKey(key, k)
		for j, uk := range s.mapKeys {
			benchPut8(key, benchKeyLen, uk)
			benchPut8(val, 0, benchMapValue(k, j))
			if err := p.db.Set(key, val, pebble.NoSync); err != nil {
				return err
			}
		}
	}
	seq, uks := s.keys, s.uks
	f.setBaseline("mapGet", benchWork{run: func(off, n int) {
		var sum int64
		add := func(v []byte) error { sum += benchGet8(v); return nil }
		for i := off; i < off+n; i++ {
			benchPutKey(key, seq[i&seqMask])
			benchPut8(key, benchKeyLen, uks[i&seqMask])
			if _, err := p.get(key, add); err != nil {
				f.fail(err)
				return
			}
		}
		f.sink += sum
	}})
	f.setBaseline("mapAdd", benchWork{run: func(off, n int) {
		for i := off; i < off+n; i++ {
			benchPutKey(key, seq[i&seqMask])
			benchPut8(key, benchKeyLen, int64(i))
			benchPut8(val, 0, int64(i))
			if err := p.db.Set(key, val, pebble.NoSync); err != nil {
				f.fail(err)
				return
			}
		}
	}, reset: func(off, n int) {
		for i := off; i < off+n; i++ {
			benchPutKey(key, seq[i&seqMask])
			benchPut8(key, benchKeyLen, int64(i))
			if err := p.db.Delete(key, pebble.NoSync); err != nil {
				f.fail(err)
				return
			}
		}
	}})
	f.setBaseline("mapContains", benchWork{run: func(off, n int) {
		var hits int64
		for i := off; i < off+n; i++ {
			benchPutKey(key, seq[i&seqMask])
			benchPut8(key, benchKeyLen, uks[i&seqMask])
			ok, err := p.get(key, nil)
			if err != nil {
				f.fail(err)
				return
			}
			if ok {
				hits++
			}
		}
		f.sink += hits
	}})
	lower, upper := make([]byte, benchKeyLen), make([]byte, benchKeyLen)
	f.setBaseline("mapIterator", benchWork{run: func(off, n int) {
		var sum int64
		for i := off; i < off+n; i++ {
			k := seq[i&seqMask]
			// Every entry of k's map lies in [group‖k, group‖k+1): keys have a fixed width.
			// k+1 does not overflow: preloaded keys are below --keys.
			benchPutKey(lower, k)
			copy(upper, lower)
			benchPut8(upper, 2, k+1)
			it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
			if err != nil {
				f.fail(err)
				return
			}
			for ok := it.First(); ok; ok = it.Next() {
				v, err := it.ValueAndErr()
				if err != nil {
					f.fail(errors.Join(err, it.Close()))
					return
				}
				sum += benchGet8(it.Key()[benchKeyLen:]) ^ benchGet8(v)
			}
			if err := it.Close(); err != nil {
				f.fail(err)
				return
			}
		}
		f.sink += sum
	}})
	return nil
}

package lsm_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// The state benchmarks compare each operation of the lsm backend with raw Pebble doing the
// same reads and writes on the same database keys, in the same run and the same database:
// the raw side uses precomputed keys and encoded values, so the difference is what the
// backend adds (key serialization and hashing, the key layout, value serialization).
// Compare with benchstat, or read the ratio of each pair:
//
//	go test -run '^$' -bench . ./backend/lsm

const (
	benchKeys    = 200_000
	benchListLen = 4
	benchSeq     = 1 << 16
)

type benchFixture struct {
	b    *lsm.Backend
	kb   *state.KeyedBackend[int64]
	v    state.ValueState[int64]
	l    state.ListState[int64]
	db   *pebble.DB
	seq  []int64  // random keys
	vkey [][]byte // database key of seq[i]'s value
	lkey [][]byte // database key of seq[i]'s list
}

// dbKey builds the database key the backend uses for key k of state sid (2 bytes), void
// namespace; it mirrors keys.go.
func dbKey(k int64, sid uint16) []byte {
	key, _ := serde.AppendKey(serde.Int64{}, nil, k)
	kg := keygroup.Of(key, maxP)
	out := binary.BigEndian.AppendUint16(nil, uint16(kg))
	out = binary.BigEndian.AppendUint16(out, sid)
	out = binary.AppendUvarint(out, uint64(len(key)))
	out = append(out, key...)
	return binary.AppendUvarint(out, 0)
}

func newBenchFixture(b *testing.B) *benchFixture { return newBenchFixtureT(b) }

func newBenchFixtureT(b testing.TB) *benchFixture {
	b.Helper()
	be, err := lsm.New(context.Background(), lsm.Options{Options: backend.Options{MaxParallelism: maxP,
		KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID()}, Dir: b.TempDir(), BlockCacheSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	f := &benchFixture{b: be, db: be.DB()}
	f.kb, _ = state.NewKeyedBackend[int64](be, serde.Int64{})
	f.v, _ = state.GetValueState(f.kb, state.ValueDescriptor[int64]{Name: "v"}) // state id 1
	f.l, _ = state.GetListState(f.kb, state.ListDescriptor[int64]{Name: "l"})   // state id 2
	for k := int64(0); k < benchKeys; k++ {
		if err := f.kb.SetCurrentKey(k); err != nil {
			b.Fatal(err)
		}
		_ = f.v.Update(k)
		_ = f.l.Update([]int64{1, 2, 3, 4}[:benchListLen])
	}
	if err := be.CommitWrites(); err != nil {
		b.Fatal(err)
	}
	if err := f.db.Flush(); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range benchSeq {
		k := rng.Int64N(benchKeys)
		f.seq = append(f.seq, k)
		f.vkey = append(f.vkey, dbKey(k, 1))
		f.lkey = append(f.lkey, dbKey(k, 2))
	}
	// Check the mirrored layout against the backend.
	if v, c, err := f.db.Get(f.vkey[0]); err != nil || len(v) != 8 {
		b.Fatalf("raw key does not match the backend's layout: %v", err)
	} else {
		c.Close()
	}
	return f
}

func BenchmarkValueGet(b *testing.B) {
	f := newBenchFixture(b)
	b.Run("impl=lsm", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_ = f.kb.SetCurrentKey(f.seq[i&(benchSeq-1)])
			if _, ok, err := f.v.Value(); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("impl=pebble", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			v, c, err := f.db.Get(f.vkey[i&(benchSeq-1)])
			if err != nil || len(v) != 8 {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

func BenchmarkValueUpdate(b *testing.B) {
	f := newBenchFixture(b)
	b.Run("impl=lsm", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_ = f.kb.SetCurrentKey(f.seq[i&(benchSeq-1)])
			if err := f.v.Update(int64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=pebble", func(b *testing.B) {
		var val [8]byte
		for i := 0; b.Loop(); i++ {
			binary.BigEndian.PutUint64(val[:], uint64(i)^1<<63)
			if err := f.db.Set(f.vkey[i&(benchSeq-1)], val[:], pebble.NoSync); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkListAdd(b *testing.B) {
	f := newBenchFixture(b)
	b.Run("impl=lsm", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_ = f.kb.SetCurrentKey(f.seq[i&(benchSeq-1)])
			if err := f.l.Add(int64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=pebble", func(b *testing.B) {
		var elem [9]byte
		elem[0] = 8
		for i := 0; b.Loop(); i++ {
			binary.BigEndian.PutUint64(elem[1:], uint64(i)^1<<63)
			if err := f.db.Merge(f.lkey[i&(benchSeq-1)], elem[:], pebble.NoSync); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkListGet(b *testing.B) {
	f := newBenchFixture(b)
	b.Run("impl=lsm", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_ = f.kb.SetCurrentKey(f.seq[i&(benchSeq-1)])
			n := 0
			for _, err := range f.l.Get() {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != benchListLen {
				b.Fatal(n)
			}
		}
	})
	b.Run("impl=pebble", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			v, c, err := f.db.Get(f.lkey[i&(benchSeq-1)])
			if err != nil || len(v) != benchListLen*9 {
				b.Fatal(err, len(v))
			}
			c.Close()
		}
	})
}

// BenchmarkCheckpoint loads 1M keys with 100-byte values, then repeatedly changes 1% of them
// and takes a checkpoint, full or incremental, reporting the bytes written to checkpoint
// storage per checkpoint and the synchronous phase's time.
func BenchmarkCheckpoint(b *testing.B) {
	const keys, changed = 1_000_000, 10_000
	for _, incremental := range []bool{false, true} {
		b.Run(fmt.Sprintf("incremental=%v", incremental), func(b *testing.B) {
			ctx := context.Background()
			be, err := lsm.New(ctx, lsm.Options{Options: backend.Options{MaxParallelism: maxP,
				KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID()},
				Dir: b.TempDir(), Incremental: incremental})
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
			v, _ := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
			val := make([]byte, 100)
			for k := int64(0); k < keys; k++ {
				_ = kb.SetCurrentKey(k)
				binary.BigEndian.PutUint64(val, uint64(k))
				_ = v.Update(val)
			}
			st, err := blobstore.OpenURL(ctx, "file://"+b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			cps, err := checkpoint.Open(ctx, st, "bench", checkpoint.Options{NumRetained: 2})
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			id := int64(0)
			checkpointOnce := func() (written int64, sync time.Duration) {
				id++
				p, err := cps.Begin(id)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				s, err := be.Snapshot(id, backend.SnapshotOptions{})
				if err != nil {
					b.Fatal(err)
				}
				sync = time.Since(start)
				h, err := s.Run(ctx, p)
				if err != nil {
					b.Fatal(err)
				}
				before := map[string]bool{}
				if id > 1 {
					if md, err := cps.Load(ctx, id-1); err == nil {
						for _, f := range md.Files() {
							before[f.Path] = true
						}
					}
				}
				md := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h}}}}
				for _, f := range md.Files() {
					if !before[f.Path] {
						written += f.Size
					}
				}
				if err := p.Complete(ctx, md); err != nil {
					b.Fatal(err)
				}
				_ = be.NotifyCheckpointComplete(id)
				return written, sync
			}
			checkpointOnce() // the first checkpoint writes everything in both modes
			var total int64
			var syncTotal time.Duration
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				for range changed {
					_ = kb.SetCurrentKey(rng.Int64N(keys))
					_ = v.Update(val)
				}
				b.StartTimer()
				w, s := checkpointOnce()
				total += w
				syncTotal += s
			}
			b.ReportMetric(float64(total)/float64(b.N), "bytes/checkpoint")
			b.ReportMetric(float64(syncTotal.Microseconds())/1000/float64(b.N), "sync-ms/checkpoint")
		})
	}
}

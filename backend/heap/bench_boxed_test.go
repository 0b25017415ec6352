package heap_test

import (
	"context"
	"testing"

	"github.com/streamstate/streamstate/backend"
	heapbackend "github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// benchAcc is a mutable accumulator, held by pointer as Flink's mutable-accumulator pattern
// does.
type benchAcc struct {
	Sum, N int64
}

const boxedKeys = 100_000

// loadBoxed preloads boxedKeys keys of a value state of V, each set to val(k).
func loadBoxed[V any](b *testing.B, ser serde.Serializer[V], val func(k int64) V) (*heapbackend.Backend, *state.KeyedBackend[int64], state.ValueState[V]) {
	b.Helper()
	be, err := heapbackend.New(context.Background(), backend.Options{MaxParallelism: 128,
		KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializerID: serde.Int64{}.ID()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
	v, err := state.GetValueState(kb, state.ValueDescriptor[V]{Name: "v", Serializer: ser})
	if err != nil {
		b.Fatal(err)
	}
	for k := range int64(boxedKeys) {
		_ = kb.SetCurrentKey(k)
		if err := v.Update(val(k)); err != nil {
			b.Fatal(err)
		}
	}
	return be, kb, v
}

// benchGets reads key i*7919 mod boxedKeys for i in [0, b.N). With snapshotEvery > 0 it
// takes a snapshot (untimed) every snapshotEvery reads and releases the one before, so each
// read is the first of its key since a snapshot: what copy-on-read costs at most.
func benchGets[V any](b *testing.B, be *heapbackend.Backend, kb *state.KeyedBackend[int64], v state.ValueState[V], snapshotEvery int) {
	b.Helper()
	var snap backend.AsyncSnapshot
	defer func() {
		if snap != nil {
			snap.Release()
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if snapshotEvery > 0 && i%snapshotEvery == 0 {
			b.StopTimer()
			if snap != nil {
				snap.Release()
			}
			var err error
			if snap, err = be.Snapshot(int64(i), backend.SnapshotOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		_ = kb.SetCurrentKey(int64(i) * 7919 % boxedKeys)
		if _, _, err := v.Value(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoxedValue measures value state of boxed (not word-sized) values: reads and
// writes of immutable strings, reads of []byte, and reads of a pointer accumulator with no
// snapshot running and as the first read of each key after a snapshot (copied through the
// serializer, CBOR and the JSON default).
func BenchmarkBoxedValue(b *testing.B) {
	b.Run("get/string", func(b *testing.B) {
		be, kb, v := loadBoxed(b, serde.String{}, func(k int64) string { return "value-of-some-key" })
		benchGets(b, be, kb, v, 0)
	})
	b.Run("get/string/after-snapshot", func(b *testing.B) {
		be, kb, v := loadBoxed(b, serde.String{}, func(k int64) string { return "value-of-some-key" })
		benchGets(b, be, kb, v, boxedKeys)
	})
	b.Run("update/string", func(b *testing.B) {
		_, kb, v := loadBoxed(b, serde.String{}, func(k int64) string { return "value-of-some-key" })
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_ = kb.SetCurrentKey(int64(i) * 7919 % boxedKeys)
			if err := v.Update("another-value"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get/bytes", func(b *testing.B) {
		be, kb, v := loadBoxed(b, serde.Bytes{}, func(k int64) []byte { return make([]byte, 16) })
		benchGets(b, be, kb, v, 0)
	})
	b.Run("get/bytes/after-snapshot", func(b *testing.B) {
		be, kb, v := loadBoxed(b, serde.Bytes{}, func(k int64) []byte { return make([]byte, 16) })
		benchGets(b, be, kb, v, boxedKeys)
	})
	for _, ser := range []struct {
		name string
		ser  serde.Serializer[*benchAcc]
	}{{"cbor", serde.CBOR[*benchAcc]{}}, {"json", serde.JSON[*benchAcc]{}}} {
		b.Run("get/pointer-"+ser.name, func(b *testing.B) {
			be, kb, v := loadBoxed(b, ser.ser, func(k int64) *benchAcc { return &benchAcc{Sum: k, N: 1} })
			benchGets(b, be, kb, v, 0)
		})
		b.Run("get/pointer-"+ser.name+"/after-snapshot", func(b *testing.B) {
			be, kb, v := loadBoxed(b, ser.ser, func(k int64) *benchAcc { return &benchAcc{Sum: k, N: 1} })
			benchGets(b, be, kb, v, boxedKeys)
		})
	}
}

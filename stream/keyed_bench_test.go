package stream

import (
	"context"
	"fmt"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// benchRecord is a record of the keyed pipeline benchmark: a string key and an int64 key.
type benchRecord struct {
	name string
	id   int64
}

// benchSource is one split of n records over keys distinct names (and ids).
type benchSource struct {
	n     int
	names []string
}

func (s *benchSource) NumSplits() int { return 1 }

func (s *benchSource) OpenSplit(_ int, pos int64) (SplitReader[benchRecord], error) {
	return &benchReader{s: s, pos: pos}, nil
}

type benchReader struct {
	s   *benchSource
	pos int64
}

func (r *benchReader) Next() (benchRecord, int64, ReadStatus, error) {
	if r.pos >= int64(r.s.n) {
		return benchRecord{}, 0, Done, nil
	}
	i := r.pos
	r.pos++
	k := int(i*7919) % len(r.s.names) // spread keys over key groups and subtasks
	return benchRecord{name: r.s.names[k], id: int64(k)}, i, Record, nil
}

func (r *benchReader) Position() int64 { return r.pos }

// benchCounter counts the records of its key in ValueState.
type benchCounter[K any] struct{ n state.ValueState[int64] }

func (c *benchCounter[K]) Open(ctx *RuntimeContext[K]) (err error) {
	c.n, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int64]{Name: "count"})
	return err
}

func (c *benchCounter[K]) ProcessElement(_ benchRecord, ctx *Context[K, int64]) error {
	n, _, err := c.n.Value()
	if err != nil {
		return err
	}
	return c.n.Update(n + 1)
}

func (c *benchCounter[K]) OnTimer(int64, *Context[K, int64]) error { return nil }

// runKeyedBench runs b.N records through source → keyBy(key) → a counting process function
// at parallelism p, so that ns/op and allocs/op are per record (job start-up included).
func runKeyedBench[K any](b *testing.B, p int, names []string, key func(benchRecord) K) {
	g := NewGraph()
	s := FromSource(g, "source", &benchSource{n: b.N, names: names}, WatermarkStrategy{})
	counts := Process(KeyBy(s, key, nil), "count",
		func() KeyedProcessFunction[K, benchRecord, int64] { return &benchCounter[K]{} })
	Sink(counts, func(int64, int64) error { return nil })
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	j, err := Execute(context.Background(), g, Options{Parallelism: p})
	if err != nil {
		b.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		b.Fatal(err)
	}
}

// reportCPU starts measuring the process's CPU time; the function it returns reports it per
// operation as cpu-ns/op.
func reportCPU(b *testing.B) func() {
	start := processCPUTime()
	return func() {
		b.ReportMetric(float64(processCPUTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkKeyedPipeline measures the per-record cost of source → keyBy → keyed process
// (a ValueState counter) on the default backend, for a string key (serialized bytes) and an
// int64 key (a word key), at parallelism 1 and 2. Run with -benchtime=1000000x or more so
// that job start-up is amortised. cpu-ns/op is the CPU time of all the job's goroutines per
// record (garbage collection included), which a shared machine disturbs less than ns/op.
func BenchmarkKeyedPipeline(b *testing.B) {
	names := make([]string, 10_000)
	for i := range names {
		names[i] = fmt.Sprintf("user-%06d", i)
	}
	for _, p := range []int{1, 2} {
		b.Run(fmt.Sprintf("string/p%d", p), func(b *testing.B) {
			runKeyedBench(b, p, names, func(r benchRecord) string { return r.name })
		})
		b.Run(fmt.Sprintf("int64/p%d", p), func(b *testing.B) {
			runKeyedBench(b, p, names, func(r benchRecord) int64 { return r.id })
		})
	}
}

// BenchmarkKeyedHop measures, on one goroutine, what a record's key costs across a keyed
// edge: the partitioner's routing into a batch and the keyed task's setting of the current
// key, plus a ValueState update, on the hashmap backend. "once" is the runtime's path
// (keyRouter.keyGroup and batch.addRecord, then SetCurrentKeyRouted with the key group and
// serialized key the record carries);
// "twice" is the path before keys were routed once (the partitioner serializes and hashes
// the key to pick the subtask, the keyed task selects, serializes and hashes it again), kept
// here as the baseline. On a shared machine compare cpu-ns/op (the process's CPU time per record).
func BenchmarkKeyedHop(b *testing.B) {
	names := make([]string, 10_000)
	for i := range names {
		names[i] = fmt.Sprintf("user-%06d", i)
	}
	recs := make([]benchRecord, 1<<16)
	for i := range recs {
		k := i * 7919 % len(names)
		recs[i] = benchRecord{name: names[k], id: int64(k)}
	}
	b.Run("string/once", func(b *testing.B) {
		benchHopOnce(b, recs, func(r benchRecord) string { return r.name }, serde.String{})
	})
	b.Run("string/twice", func(b *testing.B) {
		benchHopTwice(b, recs, func(r benchRecord) string { return r.name }, serde.String{})
	})
	b.Run("int64/once", func(b *testing.B) {
		benchHopOnce(b, recs, func(r benchRecord) int64 { return r.id }, serde.Int64{})
	})
	b.Run("int64/twice", func(b *testing.B) {
		benchHopTwice(b, recs, func(r benchRecord) int64 { return r.id }, serde.Int64{})
	})
}

const hopMaxP = 128

func hopBackend[K any](b *testing.B, ser serde.Serializer[K]) (*state.KeyedBackend[K], state.ValueState[int64]) {
	be, err := heap.New(context.Background(), backend.Options{OperatorID: "hop", MaxParallelism: hopMaxP,
		KeyGroupRange: keygroup.RangeFor(hopMaxP, 1, 0), KeySerializerID: ser.ID()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	kb, err := state.NewKeyedBackend(be, ser)
	if err != nil {
		b.Fatal(err)
	}
	count, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "count"})
	if err != nil {
		b.Fatal(err)
	}
	return kb, count
}

func hopUpdate(b *testing.B, count state.ValueState[int64]) {
	n, _, err := count.Value()
	if err == nil {
		err = count.Update(n + 1)
	}
	if err != nil {
		b.Fatal(err)
	}
}

func benchHopOnce[K any](b *testing.B, recs []benchRecord, key func(benchRecord) K, ser serde.Serializer[K]) {
	kb, count := hopBackend(b, ser)
	r := newKeyRouter(key, ser, hopMaxP)
	bt := batch[benchRecord]{els: make([]element[benchRecord], 0, batchSize)}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; {
		for ; len(bt.els) < batchSize && i < b.N; i++ {
			raw, kg, err := r.keyGroup(recs[i&(len(recs)-1)])
			if err != nil {
				b.Fatal(err)
			}
			_ = keygroup.OperatorIndex(hopMaxP, 1, kg)
			bt.addRecord(recs[i&(len(recs)-1)], int64(i), raw, kg)
		}
		for j := range bt.els {
			el := &bt.els[j]
			if err := kb.SetCurrentKeyRouted(key(el.v), bt.key(el), int(el.kg)); err != nil {
				b.Fatal(err)
			}
			hopUpdate(b, count)
		}
		clear(bt.els)
		bt.els, bt.keys = bt.els[:0], bt.keys[:0]
	}
}

func benchHopTwice[K any](b *testing.B, recs []benchRecord, key func(benchRecord) K, ser serde.Serializer[K]) {
	kb, count := hopBackend(b, ser)
	var buf []byte
	batch := make([]element[benchRecord], 0, batchSize)
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; {
		for ; len(batch) < batchSize && i < b.N; i++ {
			v := recs[i&(len(recs)-1)]
			var err error
			if buf, err = serde.AppendKey(ser, buf[:0], key(v)); err != nil {
				b.Fatal(err)
			}
			_ = keygroup.OperatorIndex(hopMaxP, 1, keygroup.Of(buf, hopMaxP))
			batch = append(batch, element[benchRecord]{v: v, ts: int64(i)})
		}
		for j := range batch {
			el := &batch[j]
			if err := kb.SetCurrentKey(key(el.v)); err != nil {
				b.Fatal(err)
			}
			hopUpdate(b, count)
		}
		clear(batch)
		batch = batch[:0]
	}
}

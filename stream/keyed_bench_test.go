package stream

import (
	"context"
	"fmt"
	"testing"

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
	j, err := Execute(context.Background(), g, Options{Parallelism: p})
	if err != nil {
		b.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkKeyedPipeline measures the per-record cost of source → keyBy → keyed process
// (a ValueState counter) on the default backend, for a string key (serialized bytes) and an
// int64 key (a word key), at parallelism 1 and 2. Run with -benchtime=1000000x or more so
// that job start-up is amortised.
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

package stream_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/stream"
)

// words is a Source of one split over a fixed list of words, one per second of event time.
type words []string

func (w words) NumSplits() int { return 1 }

func (w words) OpenSplit(_ int, pos int64) (stream.SplitReader[string], error) {
	return &wordReader{w: w, pos: pos}, nil
}

type wordReader struct {
	w   words
	pos int64
}

func (r *wordReader) Next() (string, int64, stream.ReadStatus, error) {
	if r.pos >= int64(len(r.w)) {
		return "", 0, stream.Done, nil
	}
	r.pos++
	return r.w[r.pos-1], r.pos * 1000, stream.Record, nil
}

func (r *wordReader) Position() int64 { return r.pos }

// counter counts the words of its key in ValueState and emits the running count.
type counter struct{ n state.ValueState[int] }

func (c *counter) Open(ctx *stream.RuntimeContext[string]) (err error) {
	c.n, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int]{Name: "count"})
	return err
}

func (c *counter) ProcessElement(w string, ctx *stream.Context[string, string]) error {
	n, _, err := c.n.Value()
	if err != nil {
		return err
	}
	if err := c.n.Update(n + 1); err != nil {
		return err
	}
	return ctx.Collect(fmt.Sprintf("%s %d", w, n+1))
}

func (c *counter) OnTimer(int64, *stream.Context[string, string]) error { return nil }

// A keyed word count at parallelism 2 whose output goes to exactly-once files.
func Example() {
	out, _ := os.MkdirTemp("", "wordcount")
	defer os.RemoveAll(out)

	g := stream.NewGraph()
	ws := stream.FromSource(g, "words", words{"to", "be", "or", "not", "to", "be"}, stream.WatermarkStrategy{})
	counts := stream.Process(stream.KeyBy(ws, func(w string) string { return w }, nil), "count",
		func() stream.KeyedProcessFunction[string, string, string] { return &counter{} })
	stream.SinkToFiles(counts, "counts", out, func(dst []byte, s string) []byte { return append(dst, s...) })

	job, err := stream.Execute(context.Background(), g, stream.Options{StateBackend: &heap.StateBackend{}, Parallelism: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := job.Wait(); err != nil {
		fmt.Println(err)
		return
	}
	files, _ := filepath.Glob(filepath.Join(out, "part-*"))
	var lines []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines = append(lines, strings.Fields(strings.ReplaceAll(string(b), " ", ":"))...)
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, " "))
	// Output: be:1 be:2 not:1 or:1 to:1 to:2
}

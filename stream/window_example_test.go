package stream_test

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/stream"
)

// click is the record of the example: a user clicked at TS (milliseconds).
type click struct {
	User string
	TS   int64
}

// clicks is a Source of one split over a slice.
type clicks []click

func (c clicks) NumSplits() int { return 1 }

func (c clicks) OpenSplit(_ int, pos int64) (stream.SplitReader[click], error) {
	return &clickReader{c: c, pos: pos}, nil
}

type clickReader struct {
	c   clicks
	pos int64
}

func (r *clickReader) Next() (click, int64, stream.ReadStatus, error) {
	if r.pos >= int64(len(r.c)) {
		return click{}, 0, stream.Done, nil
	}
	c := r.c[r.pos]
	r.pos++
	return c, c.TS, stream.Record, nil
}

func (r *clickReader) Position() int64 { return r.pos }

// Count the clicks of each user per minute with tumbling event-time windows, and the clicks
// of each user's sessions (ended by 30 s without clicks).
func ExampleWindow() {
	const sec = int64(time.Second / time.Millisecond)
	src := clicks{{"ann", 5 * sec}, {"bob", 20 * sec}, {"ann", 50 * sec}, {"ann", 70 * sec}, {"bob", 200 * sec}, {"bob", 215 * sec}}
	g := stream.NewGraph()
	in := stream.FromSource(g, "clicks", src, stream.WatermarkStrategy{OutOfOrderness: time.Second})
	byUser := stream.KeyBy(in, func(c click) string { return c.User }, nil)

	type count struct {
		User string
		N    int
	}
	one := func(c click) count { return count{User: c.User, N: 1} }
	perMinute := stream.Reduce(
		stream.Window(stream.KeyBy(stream.Map(in, one), func(c count) string { return c.User }, nil),
			stream.TumblingEventTimeWindows(time.Minute, 0)),
		"clicks-per-minute",
		func(a, b count) count { a.N += b.N; return a },
		func(user string, w stream.TimeWindow, c count, emit func(string)) error {
			emit(fmt.Sprintf("minute %d: %s clicks: %d", w.Start/(60*sec), user, c.N))
			return nil
		})
	sessions := stream.ProcessWindow(stream.Window(byUser, stream.EventTimeSessionWindows(30*time.Second)), "sessions",
		func(user string, w stream.TimeWindow, elems iter.Seq[click], emit func(string)) error {
			n := 0
			for range elems {
				n++
			}
			emit(fmt.Sprintf("session of %s from %ds to %ds, clicks: %d", user, w.Start/sec, w.End/sec, n))
			return nil
		})
	for _, s := range []*stream.Stream[string]{perMinute, sessions} {
		stream.FlatMap(s, func(line string, _ func(string)) error {
			fmt.Println(line)
			return nil
		})
	}
	j, err := stream.Execute(context.Background(), g, stream.Options{StateBackend: &heap.StateBackend{}, Parallelism: 1})
	if err != nil {
		panic(err)
	}
	if err := j.Wait(); err != nil {
		panic(err)
	}
	// Unordered output:
	// minute 0: ann clicks: 2
	// minute 0: bob clicks: 1
	// minute 1: ann clicks: 1
	// minute 3: bob clicks: 2
	// session of ann from 5s to 35s, clicks: 1
	// session of ann from 50s to 100s, clicks: 2
	// session of bob from 20s to 50s, clicks: 1
	// session of bob from 200s to 245s, clicks: 2
}

// Count each user's clicks over the last two minutes, every minute, pre-aggregated in memory
// by one-minute slice: each click folds into one slice instead of two windows, and the
// windows fire from memory without touching the state backend.
func ExampleWindowedStream_Slicing() {
	const sec = int64(time.Second / time.Millisecond)
	src := clicks{{"ann", 5 * sec}, {"ann", 50 * sec}, {"ann", 70 * sec}, {"bob", 80 * sec}}
	g := stream.NewGraph()
	in := stream.FromSource(g, "clicks", src, stream.WatermarkStrategy{OutOfOrderness: time.Second})
	type count struct {
		User string
		N    int64
	}
	counts := stream.Map(in, func(c click) count { return count{c.User, 1} })
	windows := stream.Window(stream.KeyBy(counts, func(c count) string { return c.User }, nil),
		stream.SlidingEventTimeWindows(2*time.Minute, time.Minute, 0)).MiniBatch(10_000).Slicing()
	res := stream.Reduce(windows, "clicks-last-2-minutes",
		func(a, b count) count { a.N += b.N; return a }, // commutative, as Slicing requires
		func(user string, w stream.TimeWindow, c count, emit func(string)) error {
			emit(fmt.Sprintf("%s, minutes %d-%d: %d", user, w.Start/(60*sec), w.End/(60*sec), c.N))
			return nil
		})
	stream.FlatMap(res, func(line string, _ func(string)) error {
		fmt.Println(line)
		return nil
	})
	j, err := stream.Execute(context.Background(), g, stream.Options{StateBackend: &heap.StateBackend{}, Parallelism: 1})
	if err != nil {
		panic(err)
	}
	if err := j.Wait(); err != nil {
		panic(err)
	}
	// Unordered output:
	// ann, minutes -1-1: 2
	// ann, minutes 0-2: 3
	// ann, minutes 1-3: 1
	// bob, minutes 0-2: 1
	// bob, minutes 1-3: 1
}

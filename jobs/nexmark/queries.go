package nexmark

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/stream"
)

// Source generates the event stream, split round robin by event number into a fixed number of
// splits: split s holds events s, s+splits, s+2·splits… whose timestamps ascend, so nothing is
// ever late. A split's position is its count of events read.
type Source struct {
	cfg    Config
	events int64 // 0: unbounded
	splits int
	rate   float64 // events per second over all splits; 0: unlimited
}

// NewSource returns a source of events (0: unbounded) of cfg in splits splits, at most rate
// events per second in processing time (0: as fast as possible).
func NewSource(cfg Config, events int64, splits int, rate float64) *Source {
	return &Source{cfg: cfg, events: events, splits: splits, rate: rate}
}

// NumSplits implements stream.Source.
func (s *Source) NumSplits() int { return s.splits }

// OpenSplit implements stream.Source.
func (s *Source) OpenSplit(split int, pos int64) (stream.SplitReader[Event], error) {
	return &splitReader{s: s, split: int64(split), pos: pos, start: time.Now(), startPos: pos}, nil
}

type splitReader struct {
	s        *Source
	split    int64
	pos      int64
	start    time.Time
	startPos int64
}

// Next implements stream.SplitReader.
func (r *splitReader) Next() (Event, int64, stream.ReadStatus, error) {
	n := r.split + r.pos*int64(r.s.splits)
	if r.s.events > 0 && n >= r.s.events {
		return Event{}, 0, stream.Done, nil
	}
	if r.s.rate > 0 {
		due := r.start.Add(time.Duration(float64(r.pos-r.startPos) * float64(r.s.splits) / r.s.rate * float64(time.Second)))
		if time.Now().Before(due) {
			return Event{}, 0, stream.NoData, nil
		}
	}
	var e Event
	r.s.cfg.Event(n, &e)
	r.pos++
	return e, e.Timestamp(), stream.Record, nil
}

// Position implements stream.SplitReader.
func (r *splitReader) Position() int64 { return r.pos }

// Queries are the queries this package implements.
var Queries = []string{"q5", "q7", "q8", "q11"}

// JobConfig configures a Nexmark job.
type JobConfig struct {
	Query     string
	Generator Config
	Events    int64
	Splits    int     // default 8
	Rate      float64 // events per second; 0: unlimited
	// MiniBatch is the size of the windows' in-memory pre-aggregation (0: off).
	MiniBatch int
}

// Build adds the source, the query and sink to g; sink receives the query's result lines.
func Build(g *stream.Graph, c JobConfig, sink func(*stream.Stream[string])) error {
	if c.Splits == 0 {
		c.Splits = 8
	}
	if c.Generator.FirstEventRate == 0 {
		c.Generator = DefaultConfig()
	}
	var q func(*stream.Stream[Event], int) *stream.Stream[string]
	switch c.Query {
	case "q5":
		q = Q5
	case "q7":
		q = Q7
	case "q8":
		q = Q8
	case "q11":
		q = Q11
	default:
		return fmt.Errorf("nexmark: unknown query %q; queries: %v", c.Query, Queries)
	}
	events := stream.FromSource(g, "nexmark-source", NewSource(c.Generator, c.Events, c.Splits, c.Rate), stream.WatermarkStrategy{})
	sink(q(events, c.MiniBatch))
	return nil
}

func bids(events *stream.Stream[Event]) *stream.Stream[Bid] {
	return stream.Map(stream.Filter(events, func(e Event) bool { return e.Kind == KindBid }), func(e Event) Bid { return e.Bid })
}

// windowState sets how the queries' reduce windows keep their values: in CBOR (binary, as
// Flink SQL keeps binary rows; a few times faster than the JSON fallback) and, when n > 0,
// pre-aggregated in a mini-batch of n pairs. The serializer is named name (a fixed name, so
// renaming the Go type keeps checkpoints readable); goType is the Go type's name it was
// recorded under before it was named, kept as an alias.
func windowState[K, T any](ws *stream.WindowedStream[K, T], n int, name, goType string) *stream.WindowedStream[K, T] {
	ws.StateSerializer(serde.CBOR[T]{Name: name, Aliases: []string{goType}})
	if n > 0 {
		return ws.MiniBatch(n)
	}
	return ws
}

// auctionCount is q5's count of bids of an auction in a window.
type auctionCount struct {
	Auction int64
	Count   int64
	Start   int64
	End     int64
}

// hotItems is q5's second stage: the largest count of a window and the auctions that have it.
type hotItems struct {
	Start, End int64
	Count      int64
	Auctions   []int64
}

// Q5 is "hot items": per sliding window of 10 s every 2 s, the auctions with the most bids
// (all of them on a tie), as the suite's SQL joins the counts with their maximum:
// output "auction count windowStart windowEnd".
func Q5(events *stream.Stream[Event], mb int) *stream.Stream[string] {
	ones := stream.Map(bids(events), func(b Bid) auctionCount { return auctionCount{Auction: b.Auction, Count: 1} })
	perAuction := windowState(stream.Window(stream.KeyBy(ones, func(a auctionCount) int64 { return a.Auction }, nil),
		stream.SlidingEventTimeWindows(10*time.Second, 2*time.Second, 0)), mb, "nexmark.auction-count", "nexmark.auctionCount")
	if mb > 0 {
		perAuction = perAuction.Slicing() // a count is commutative: one slice per bid, not five windows
	}
	counts := stream.Reduce(perAuction, "q5-count",
		func(a, b auctionCount) auctionCount { a.Count += b.Count; return a },
		func(auction int64, w stream.TimeWindow, v auctionCount, emit func(hotItems)) error {
			emit(hotItems{Start: w.Start, End: w.End, Count: v.Count, Auctions: []int64{auction}})
			return nil
		})
	// Every count of a window has the timestamp End−1: a tumbling window of the slide
	// collects exactly the counts of one sliding window.
	return stream.Reduce(windowState(stream.Window(stream.KeyBy(counts, func(h hotItems) int64 { return h.End }, nil),
		stream.TumblingEventTimeWindows(2*time.Second, 0)), mb, "nexmark.hot-items", "nexmark.hotItems"), "q5-max",
		func(a, b hotItems) hotItems {
			switch {
			case a.Count > b.Count:
				return a
			case b.Count > a.Count:
				return b
			}
			a.Auctions = append(slices.Clip(a.Auctions), b.Auctions...)
			return a
		},
		func(_ int64, _ stream.TimeWindow, h hotItems, emit func(string)) error {
			slices.Sort(h.Auctions)
			for _, a := range h.Auctions {
				emit(fmt.Sprintf("%d %d %d %d", a, h.Count, h.Start, h.End))
			}
			return nil
		})
}

// maxBids is q7's highest bids of a window: every bid with the largest price.
type maxBids struct {
	Price int64
	Bids  []Bid
}

func higherBids(a, b maxBids) maxBids {
	switch {
	case a.Price > b.Price:
		return a
	case b.Price > a.Price:
		return b
	}
	a.Bids = append(slices.Clip(a.Bids), b.Bids...)
	return a
}

// Q7 is "highest bid": per tumbling window of 10 s, the bids with the highest price, as the
// suite's SQL joins the bids with the window's maximum: output "auction price bidder
// dateTime extra". Computed in two stages: per auction, then per window.
func Q7(events *stream.Stream[Event], mb int) *stream.Stream[string] {
	window := stream.TumblingEventTimeWindows(10*time.Second, 0)
	one := stream.Map(bids(events), func(b Bid) maxBids { return maxBids{Price: b.Price, Bids: []Bid{b}} })
	perAuction := stream.Reduce(windowState(stream.Window(stream.KeyBy(one, func(m maxBids) int64 { return m.Bids[0].Auction }, nil), window), mb, "nexmark.max-bids", "nexmark.maxBids"),
		"q7-auction-max", higherBids, stream.PassWindowResult[int64, maxBids])
	windowKey := func(m maxBids) int64 { return m.Bids[0].DateTime / 10000 }
	return stream.Reduce(windowState(stream.Window(stream.KeyBy(perAuction, windowKey, nil), window), mb, "nexmark.max-bids", "nexmark.maxBids"), "q7-max", higherBids,
		func(_ int64, _ stream.TimeWindow, m maxBids, emit func(string)) error {
			for _, b := range m.Bids {
				emit(fmt.Sprintf("%d %d %d %d %s", b.Auction, b.Price, b.Bidder, b.DateTime, b.Extra))
			}
			return nil
		})
}

// newUser is q8's state of a person id in a window: the person's name if they joined in it,
// and whether they started an auction in it.
type newUser struct {
	Name      string
	Joined    bool
	Auctioned bool
}

// Q8 is "monitor new users": persons who joined and created an auction in the same tumbling
// window of 10 s: output "id name windowStart".
func Q8(events *stream.Stream[Event], mb int) *stream.Stream[string] {
	type keyed struct {
		ID int64
		U  newUser
	}
	recs := stream.FlatMap(events, func(e Event, emit func(keyed)) error {
		switch e.Kind {
		case KindPerson:
			emit(keyed{e.Person.ID, newUser{Name: e.Person.Name, Joined: true}})
		case KindAuction:
			emit(keyed{e.Auction.Seller, newUser{Auctioned: true}})
		}
		return nil
	})
	return stream.Reduce(windowState(stream.Window(stream.KeyBy(recs, func(k keyed) int64 { return k.ID }, nil),
		stream.TumblingEventTimeWindows(10*time.Second, 0)), mb, "nexmark.keyed-user", "nexmark.keyed"), "q8-join",
		func(a, b keyed) keyed {
			if b.U.Joined {
				a.U.Name, a.U.Joined = b.U.Name, true
			}
			a.U.Auctioned = a.U.Auctioned || b.U.Auctioned
			return a
		},
		func(id int64, w stream.TimeWindow, k keyed, emit func(string)) error {
			if k.U.Joined && k.U.Auctioned {
				emit(strconv.FormatInt(id, 10) + " " + k.U.Name + " " + strconv.FormatInt(w.Start, 10))
			}
			return nil
		})
}

// Q11 is "user sessions": per bidder, the number of bids in each session window with a gap
// of 10 s: output "bidder count sessionStart sessionEnd".
func Q11(events *stream.Stream[Event], _ int) *stream.Stream[string] {
	bidders := stream.Map(bids(events), func(b Bid) int64 { return b.Bidder })
	return stream.Aggregate(stream.Window(stream.KeyBy(bidders, func(bidder int64) int64 { return bidder }, nil),
		stream.EventTimeSessionWindows(10*time.Second)), "q11-sessions", countAll[int64]{},
		func(bidder int64, w stream.TimeWindow, n int64, emit func(string)) error {
			emit(fmt.Sprintf("%d %d %d %d", bidder, n, w.Start, w.End))
			return nil
		})
}

// countAll is COUNT(*) as an AggregateFunction: an int64 accumulator, merged by addition.
type countAll[T any] struct{}

func (countAll[T]) CreateAccumulator() int64         { return 0 }
func (countAll[T]) Add(_ T, n int64) (int64, error)  { return n + 1, nil }
func (countAll[T]) GetResult(n int64) (int64, error) { return n, nil }
func (countAll[T]) Merge(a, b int64) (int64, error)  { return a + b, nil }

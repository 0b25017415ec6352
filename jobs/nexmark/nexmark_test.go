package nexmark

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/stream"
)

func testConfig() Config {
	c := DefaultConfig()
	c.FirstEventRate = 2000 // 100k events: 50 s of event time, a few windows
	return c
}

func generate(c Config, n int64) []Event {
	evs := make([]Event, n)
	for i := range evs {
		c.Event(int64(i), &evs[i])
	}
	return evs
}

func TestProportionsAndDeterminism(t *testing.T) {
	c := DefaultConfig()
	evs := generate(c, 100_000)
	var kinds [3]int
	hot := 0
	for i, e := range evs {
		kinds[e.Kind]++
		if e.Timestamp() != c.TimestampOf(int64(i)) {
			t.Fatalf("event %d at %d, want %d", i, e.Timestamp(), c.TimestampOf(int64(i)))
		}
		if i > 0 && e.Timestamp() < evs[i-1].Timestamp() {
			t.Fatalf("timestamps go back at %d", i)
		}
		if e.Kind == KindBid {
			if e.Bid.Auction < FirstAuctionID || e.Bid.Auction > lastBase0AuctionID(int64(i))+FirstAuctionID+auctionIDLead {
				t.Fatalf("bid %d refers to auction %d", i, e.Bid.Auction)
			}
			if (e.Bid.Auction-FirstAuctionID)%hotAuctionRatio == 0 {
				hot++
			}
		}
	}
	if kinds != [3]int{2000, 6000, 92000} {
		t.Errorf("kinds %v, want 1:3:46", kinds)
	}
	if f := float64(hot) / float64(kinds[KindBid]); f < 0.45 || f > 0.6 {
		t.Errorf("%.2f of bids go to hot auctions, want about half", f)
	}
	var again Event
	c.Event(12345, &again)
	if fmt.Sprint(again) != fmt.Sprint(evs[12345]) {
		t.Error("event 12345 differs when generated again")
	}
	var b Event
	c.Event(10, &b)
	if len(b.Bid.Extra) == 0 || len(b.Bid.Extra) > 100 {
		t.Errorf("bid extra of %d bytes", len(b.Bid.Extra))
	}
}

// model computes each query's result lines directly from the events.
func model(query string, evs []Event) []string {
	var lines []string
	switch query {
	case "q5":
		type aw struct{ a, start int64 }
		counts := map[aw]int64{}
		for _, e := range evs {
			if e.Kind != KindBid {
				continue
			}
			ts := e.Bid.DateTime
			for s := ts - ts%2000; s > ts-10000; s -= 2000 {
				counts[aw{e.Bid.Auction, s}]++
			}
		}
		best := map[int64]int64{}
		for k, n := range counts {
			best[k.start] = max(best[k.start], n)
		}
		for k, n := range counts {
			if n == best[k.start] {
				lines = append(lines, fmt.Sprintf("%d %d %d %d", k.a, n, k.start, k.start+10000))
			}
		}
	case "q7":
		top := map[int64]int64{}
		for _, e := range evs {
			if e.Kind == KindBid {
				w := e.Bid.DateTime / 10000
				top[w] = max(top[w], e.Bid.Price)
			}
		}
		for _, e := range evs {
			if b := e.Bid; e.Kind == KindBid && b.Price == top[b.DateTime/10000] {
				lines = append(lines, fmt.Sprintf("%d %d %d %d %s", b.Auction, b.Price, b.Bidder, b.DateTime, b.Extra))
			}
		}
	case "q8":
		type iw struct{ id, w int64 }
		joined, sold := map[iw]string{}, map[iw]bool{}
		for _, e := range evs {
			switch e.Kind {
			case KindPerson:
				joined[iw{e.Person.ID, e.Person.DateTime / 10000}] = e.Person.Name
			case KindAuction:
				sold[iw{e.Auction.Seller, e.Auction.DateTime / 10000}] = true
			}
		}
		for k, name := range joined {
			if sold[k] {
				lines = append(lines, strconv.FormatInt(k.id, 10)+" "+name+" "+strconv.FormatInt(k.w*10000, 10))
			}
		}
	case "q11":
		byBidder := map[int64][]int64{}
		for _, e := range evs {
			if e.Kind == KindBid {
				byBidder[e.Bid.Bidder] = append(byBidder[e.Bid.Bidder], e.Bid.DateTime)
			}
		}
		for _, bidder := range slices.Sorted(maps.Keys(byBidder)) {
			ts := byBidder[bidder]
			slices.Sort(ts)
			start, n := ts[0], int64(1)
			for i := 1; i <= len(ts); i++ {
				if i == len(ts) || ts[i] > ts[i-1]+10000 {
					lines = append(lines, fmt.Sprintf("%d %d %d %d", bidder, n, start, ts[i-1]+10000))
					if i < len(ts) {
						start, n = ts[i], 0
					}
				}
				n++
			}
		}
	}
	slices.Sort(lines)
	return lines
}

func runQuery(t *testing.T, c JobConfig, backend backend.StateBackend, p int) []string {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	g := stream.NewGraph()
	err := Build(g, c, func(s *stream.Stream[string]) {
		stream.Sink(s, func(v string, _ int64) error {
			mu.Lock()
			lines = append(lines, v)
			mu.Unlock()
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	j, err := stream.Execute(context.Background(), g, stream.Options{Parallelism: p, StateBackend: backend})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

// The state backends of the tests: hashmap, and lsm with its default options.
var heapBackend, lsmBackend = backend.StateBackend(&heap.StateBackend{}), mustLSM()

func mustLSM() backend.StateBackend {
	f, err := lsm.NewStateBackend(lsm.Config{}, 0, 0)
	if err != nil {
		panic(err) // without a memory budget there is nothing that can fail
	}
	return f
}

func TestQueriesMatchModel(t *testing.T) {
	const n = 60_000
	gen := testConfig()
	evs := generate(gen, n)
	for _, q := range Queries {
		want := model(q, evs)
		if len(want) < 3 {
			t.Fatalf("%s: the model has %d results; the test would prove little", q, len(want))
		}
		for _, tc := range []struct {
			name    string
			backend backend.StateBackend
			p, mb   int
		}{{"hashmap", heapBackend, 2, 0}, {"hashmap-minibatch", heapBackend, 3, 100}, {"lsm-minibatch", lsmBackend, 2, 1000}} {
			t.Run(q+"/"+tc.name, func(t *testing.T) {
				got := runQuery(t, JobConfig{Query: q, Generator: gen, Events: n, Splits: 4, MiniBatch: tc.mb}, tc.backend, tc.p)
				if !slices.Equal(got, want) {
					t.Fatalf("%d lines, want %d; first got %q, first want %q", len(got), len(want), got[:min(2, len(got))], want[:min(2, len(want))])
				}
			})
		}
	}
}

// TestQueriesSurviveCrashes cancels each query mid-run three times and resumes it from its
// latest checkpoint at another parallelism: the committed output equals the model's. The
// mini-batch (sliced for q5) is in every checkpoint; with a batch of 500 it also spills into
// keyed state between checkpoints.
func TestQueriesSurviveCrashes(t *testing.T) {
	const n = 40_000
	gen := testConfig()
	evs := generate(gen, n)
	for _, q := range Queries {
		want := model(q, evs)
		for _, tc := range []struct {
			name    string
			backend backend.StateBackend
			mb      int
		}{{"hashmap", heapBackend, 100_000}, {"lsm", lsmBackend, 500}} {
			t.Run(q+"/"+tc.name, func(t *testing.T) {
				out, cpDir := t.TempDir(), t.TempDir()
				st, err := blobstore.OpenURL(context.Background(), "file://"+cpDir)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				cps, err := checkpoint.Open(context.Background(), st, "nexmark", checkpoint.Options{NumRetained: 2})
				if err != nil {
					t.Fatal(err)
				}
				for attempt, p := range []int{2, 3, 1, 2} {
					g := stream.NewGraph()
					// 200k events/s: a run takes 0.2 s, so the cancels below land mid-run.
					err := Build(g, JobConfig{Query: q, Generator: gen, Events: n, Splits: 4, MiniBatch: tc.mb, Rate: 200_000},
						func(s *stream.Stream[string]) {
							stream.SinkToFiles(s, "out", out, func(dst []byte, v string) []byte { return append(dst, v...) })
						})
					if err != nil {
						t.Fatal(err)
					}
					var completed atomic.Int64
					j, err := stream.Execute(context.Background(), g, stream.Options{Parallelism: p, StateBackend: tc.backend, Checkpoints: cps,
						Checkpointing: stream.CheckpointConfig{Interval: 10 * time.Millisecond}, Restore: stream.Restore{Latest: true},
						OnCheckpoint: func(s stream.CheckpointStats) {
							if s.Failed == nil {
								completed.Add(1)
							}
						}})
					if err != nil {
						t.Fatal(err)
					}
					if attempt < 3 { // cancel after this run's first checkpoint and n/8 events
					wait:
						for j.Records() < n/8 || completed.Load() == 0 {
							select {
							case <-j.Done(): // a restore near the end may finish first
								break wait
							case <-time.After(time.Millisecond):
							}
						}
						j.Cancel()
					}
					if err := j.Wait(); err != nil && attempt == 3 {
						t.Fatal(err)
					}
				}
				if got := readParts(t, out); !slices.Equal(got, want) {
					t.Fatalf("%d lines, want %d; first got %q, first want %q", len(got), len(want), got[:min(2, len(got))], want[:min(2, len(want))])
				}
			})
		}
	}
}

// readParts returns the sorted lines a file sink published in dir.
func readParts(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := stream.CommittedLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

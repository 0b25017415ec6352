package lsm_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

type newFunc func(t *testing.T, opts backend.Options) backend.Keyed

func heapNew(t *testing.T, opts backend.Options) backend.Keyed {
	b, err := heap.New(context.Background(), opts)
	must(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

func lsmNew(incremental bool) newFunc { return lsmNewTimers(incremental, lsm.TimerServiceLSM) }

// lsmNewTimers is lsmNew with the given timer store.
func lsmNewTimers(incremental bool, timers lsm.TimerServiceFactory) newFunc {
	return func(t *testing.T, opts backend.Options) backend.Keyed {
		b, err := lsm.New(context.Background(), lsm.Options{Options: opts, Dir: t.TempDir(), Incremental: incremental,
			TimerService: timers})
		must(t, err)
		t.Cleanup(func() { b.Close() })
		return b
	}
}

var (
	ivalue = state.ValueDescriptor[string]{Name: "value"}
	ilist  = state.ListDescriptor[int64]{Name: "list"}
	imap   = state.MapDescriptor[string, int64]{Name: "map"}
	iwmap  = state.MapDescriptor[int64, int64]{Name: "wmap"} // word keys and values: unboxed on hashmap
	isum   = state.ReducingDescriptor[int64]{Name: "sum", Reduce: func(a, b int64) (int64, error) { return a + b, nil }}
)

type subtask struct {
	b  backend.Keyed
	kb *state.KeyedBackend[int64]
	v  state.ValueState[string]
	l  state.ListState[int64]
	m  state.MapState[string, int64]
	w  state.MapState[int64, int64]
	r  state.ReducingState[int64]
}

func openSubtasks(t *testing.T, f newFunc, p int, restore []*snapshot.KeyedStateHandle, r snapshot.Reader) []*subtask {
	out := make([]*subtask, p)
	for i := range out {
		b := f(t, backend.Options{OperatorID: "op", MaxParallelism: maxP, KeyGroupRange: keygroup.RangeFor(maxP, p, i),
			KeySerializerID: serde.Int64{}.ID(), Restore: restore, Reader: r})
		kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
		must(t, err)
		s := &subtask{b: b, kb: kb}
		s.v, err = state.GetValueState(kb, ivalue)
		must(t, err)
		s.l, err = state.GetListState(kb, ilist)
		must(t, err)
		s.m, err = state.GetMapState(kb, imap)
		must(t, err)
		s.w, err = state.GetMapState(kb, iwmap)
		must(t, err)
		s.r, err = state.GetReducingState(kb, isum)
		must(t, err)
		out[i] = s
	}
	return out
}

func routeKey(t *testing.T, subs []*subtask, k int64) *subtask {
	kg, err := subs[0].kb.KeyGroupOf(k)
	must(t, err)
	s := subs[keygroup.OperatorIndex(maxP, len(subs), kg)]
	must(t, s.kb.SetCurrentKey(k))
	return s
}

func fillAll(t *testing.T, subs []*subtask, n int64) {
	for k := int64(0); k < n; k++ {
		s := routeKey(t, subs, k)
		for _, ns := range []string{"", "w"} {
			for _, st := range []state.State{s.v, s.l, s.m, s.w, s.r} {
				st.SetNamespace([]byte(ns))
			}
			must(t, s.v.Update(fmt.Sprint(ns, k)))
			must(t, s.l.AddAll([]int64{k, -k, 0}))
			must(t, s.m.Put("a"+ns, k))
			must(t, s.m.Put("", -k))
			for uk := range wmapKeys(k) { // more than 16 entries for some keys, fewer for others
				must(t, s.w.Put(uk, k*uk))
			}
			must(t, s.r.Add(k))
			must(t, s.r.Add(1))
		}
	}
}

func verifyAll(t *testing.T, subs []*subtask, n int64) {
	t.Helper()
	for k := int64(0); k < n; k++ {
		s := routeKey(t, subs, k)
		for _, ns := range []string{"", "w"} {
			for _, st := range []state.State{s.v, s.l, s.m, s.w, s.r} {
				st.SetNamespace([]byte(ns))
			}
			if v, ok, err := s.v.Value(); err != nil || !ok || v != fmt.Sprint(ns, k) {
				t.Fatalf("key %d ns %q value = %q %v %v", k, ns, v, ok, err)
			}
			var l []int64
			for e, err := range s.l.Get() {
				must(t, err)
				l = append(l, e)
			}
			if !slices.Equal(l, []int64{k, -k, 0}) {
				t.Fatalf("key %d ns %q list = %v", k, ns, l)
			}
			got := map[string]int64{}
			for e, err := range s.m.All() {
				must(t, err)
				got[e.Key] = e.Value
			}
			if len(got) != 2 || got["a"+ns] != k || got[""] != -k {
				t.Fatalf("key %d ns %q map = %v", k, ns, got)
			}
			gotW := map[int64]int64{}
			for e, err := range s.w.All() {
				must(t, err)
				gotW[e.Key] = e.Value
			}
			wantW := map[int64]int64{}
			for uk := range wmapKeys(k) {
				wantW[uk] = k * uk
			}
			if !maps.Equal(gotW, wantW) {
				t.Fatalf("key %d ns %q word map = %v, want %v", k, ns, gotW, wantW)
			}
			if v, ok, err := s.w.Get(-1); err != nil || ok != (k%24 > 0) || (ok && v != -k) {
				t.Fatalf("key %d ns %q word map Get(-1) = %d %v %v", k, ns, v, ok, err)
			}
			if v, _, err := s.r.Get(); err != nil || v != k+1 {
				t.Fatalf("key %d ns %q sum = %d %v", k, ns, v, err)
			}
		}
	}
}

// wmapKeys are the user keys of key k's word map: -1 … -(k mod 24).
func wmapKeys(k int64) iter.Seq[int64] {
	return func(yield func(int64) bool) {
		for uk := int64(-1); uk >= -(k % 24); uk-- {
			if !yield(uk) {
				return
			}
		}
	}
}

// savepoint writes a savepoint of subs into a fresh directory and loads it back.
func savepoint(t *testing.T, subs []*subtask) ([]*snapshot.KeyedStateHandle, snapshot.Reader) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+t.TempDir())
	must(t, err)
	t.Cleanup(func() { st.Close() })
	p := checkpoint.BeginSavepoint(st)
	var hs []*snapshot.KeyedStateHandle
	for _, s := range subs {
		snap, err := s.b.Snapshot(1, backend.SnapshotOptions{Savepoint: true, Compression: snapshot.CompressionSnappy})
		must(t, err)
		h, err := snap.Run(ctx, p)
		must(t, err)
		hs = append(hs, h)
	}
	must(t, p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: len(subs), MaxParallelism: maxP, Keyed: hs}}}))
	md, r, err := checkpoint.LoadSavepoint(ctx, st)
	must(t, err)
	return md.Operator("op").Keyed, r
}

// TestSavepointInterop: a savepoint written by the hashmap backend restores into the lsm
// backend and the other way round, at another parallelism, incremental mode or not.
func TestSavepointInterop(t *testing.T) {
	const n = 300
	cases := []struct {
		name     string
		from, to newFunc
	}{
		{"hashmap-to-lsm", heapNew, lsmNew(false)},
		{"lsm-to-hashmap", lsmNew(false), heapNew},
		{"hashmap-to-lsm-incremental", heapNew, lsmNew(true)},
		{"lsm-incremental-to-hashmap", lsmNew(true), heapNew},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := openSubtasks(t, c.from, 2, nil, nil)
			fillAll(t, src, n)
			hs, r := savepoint(t, src)
			dst := openSubtasks(t, c.to, 3, hs, r)
			verifyAll(t, dst, n)
			// And back again through a second savepoint, at parallelism 1.
			hs, r = savepoint(t, dst)
			verifyAll(t, openSubtasks(t, c.from, 1, hs, r), n)
		})
	}
}

// TestTimersInterop: timers move between the backends and between the lsm backend's timer
// stores with savepoints, every direction, and fire in the same order.
func TestTimersInterop(t *testing.T) {
	for _, c := range []struct {
		name     string
		from, to newFunc
	}{
		{"hashmap-to-lsm", heapNew, lsmNew(true)},
		{"lsm-to-hashmap", lsmNew(false), heapNew},
		{"lsm-to-lsm-heap-timers", lsmNew(false), lsmNewTimers(false, lsm.TimerServiceHeap)},
		{"lsm-heap-timers-to-lsm", lsmNewTimers(false, lsm.TimerServiceHeap), lsmNew(true)},
		{"lsm-heap-timers-to-hashmap", lsmNewTimers(false, lsm.TimerServiceHeap), heapNew},
		{"hashmap-to-lsm-heap-timers", heapNew, lsmNewTimers(false, lsm.TimerServiceHeap)},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := openSubtasks(t, c.from, 1, nil, nil)[0]
			q, err := src.b.CreateTimerQueue("timers")
			must(t, err)
			var want []backend.Timer
			for k := int64(0); k < 200; k++ {
				must(t, src.kb.SetCurrentKey(k))
				key, kg, _ := src.kb.CurrentKeyBytes()
				tm := backend.Timer{Timestamp: (k * 7919) % 50, Key: slices.Clone(key), Namespace: []byte(fmt.Sprint("w", k%3))}
				if _, err := q.Add(kg, tm); err != nil {
					t.Fatal(err)
				}
				want = append(want, tm)
			}
			slices.SortFunc(want, func(a, b backend.Timer) int {
				if a.Less(b) {
					return -1
				}
				return 1
			})
			hs, r := savepoint(t, []*subtask{src})
			dst := openSubtasks(t, c.to, 1, hs, r)[0]
			dq, err := dst.b.CreateTimerQueue("timers")
			must(t, err)
			if dq.Len() != len(want) {
				t.Fatalf("restored %d timers, want %d", dq.Len(), len(want))
			}
			for i, w := range want {
				got, _, ok, err := dq.Poll()
				must(t, err)
				if !ok || got.Timestamp != w.Timestamp || !slices.Equal(got.Key, w.Key) || !slices.Equal(got.Namespace, w.Namespace) {
					t.Fatalf("timer %d = %v, want %v", i, got, w)
				}
			}
		})
	}
}

// TestHashmapChainRefused: an incremental checkpoint of the hashmap backend (a chain) given to
// the lsm backend fails naming the fix, wrapping snapshot.ErrNotFull, not ErrCorrupt, so that
// a restore does not fall back past it to an older checkpoint as if it were damaged.
func TestHashmapChainRefused(t *testing.T) {
	ctx := context.Background()
	j := newJob(t, 1)
	opts := backend.Options{OperatorID: "op", MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1},
		KeySerializerID: serde.Int64{}.ID()}
	hb, err := heap.NewIncremental(ctx, opts, heap.IncrementalOptions{})
	must(t, err)
	defer hb.Close()
	fillAll(t, openOn(t, hb), 10)
	p, err := j.cps.Begin(1)
	must(t, err)
	snap, err := hb.Snapshot(1, backend.SnapshotOptions{})
	must(t, err)
	h, err := snap.Run(ctx, p)
	must(t, err)
	if h.Incremental == nil || h.Incremental.Backend != snapshot.HashmapChainBackend {
		t.Fatalf("hashmap incremental handle = %+v, want a chain", h.Incremental)
	}
	must(t, p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1,
		MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h}}}}))
	ro := opts
	ro.Restore, ro.Reader = []*snapshot.KeyedStateHandle{h}, j.cps.Reader()
	_, err = lsm.New(ctx, lsm.Options{Options: ro, Dir: t.TempDir(), Incremental: true})
	if !errors.Is(err, snapshot.ErrNotFull) || errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "state.backend.type: hashmap") {
		t.Fatalf("lsm restore of a hashmap chain: %v; want ErrNotFull naming state.backend.type: hashmap", err)
	}
}

// openOn registers the interop states on an existing backend.
func openOn(t *testing.T, b backend.Keyed) []*subtask {
	return openSubtasks(t, func(*testing.T, backend.Options) backend.Keyed { return b }, 1, nil, nil)
}

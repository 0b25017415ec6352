package lsm_test

// Tests of the raw states of TTL states (stampedwords.go): their views are the word
// interfaces the typed states look for, they store exactly the bytes the boxed states store
// (the stamp, then the serializer's encoding), and a word access allocates nothing.

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// int64Word is the backend.Word of int64 values serialized by serde.Int64, as the typed
// states build it.
func int64Word() *backend.Word {
	ser := serde.Int64{}
	return &backend.Word{
		Box: func(w uint64) any { return int64(w) },
		Unbox: func(v any) (uint64, error) {
			x, ok := v.(int64)
			if !ok && v != nil {
				return 0, fmt.Errorf("not an int64: %T", v)
			}
			return uint64(x), nil
		},
		Append: func(dst []byte, w uint64) ([]byte, error) { return ser.Append(dst, int64(w)) },
		Decode: func(src []byte) (uint64, error) {
			v, err := ser.Decode(src)
			return uint64(v), err
		},
		KeyWord: func(w uint64) uint64 { return w ^ 1<<63 },
	}
}

// ttlViews are the TTL views of a value, a list, a map and a reducing state of int64 values,
// registered with word forms (words) or without (the boxed raw states).
type ttlViews struct{ v, l, m, r backend.State }

func registerViews(t *testing.T, b *lsm.Backend, cfg ttl.Config, words bool) ttlViews {
	t.Helper()
	var w *backend.Word
	if words {
		w = int64Word()
	}
	ser := serde.Erase[int64](serde.Int64{})
	create := func(name string, kind backend.Kind) backend.State {
		spec := backend.Spec{Name: name, Kind: kind, Value: ser, Word: w, TTL: &cfg}
		if kind == backend.KindMap {
			spec.UserKey, spec.UserKeyWord = ser, w
		}
		st, err := b.CreateState(spec)
		must(t, err)
		return st
	}
	return ttlViews{v: create("v", backend.KindValue), l: create("l", backend.KindList),
		m: create("m", backend.KindMap), r: create("r", backend.KindReducing)}
}

// dbContents returns every entry of b's database under the key groups, keys and values.
func dbContents(t *testing.T, b *lsm.Backend) [][2][]byte {
	t.Helper()
	lo, hi := span(0, maxP-1)
	it, err := committed(t, b).NewIter(nil)
	must(t, err)
	defer it.Close()
	it.SetBounds(lo, hi)
	var out [][2][]byte
	for valid := it.First(); valid; valid = it.Next() {
		out = append(out, [2][]byte{bytes.Clone(it.Key()), bytes.Clone(it.Value())})
	}
	must(t, it.Error())
	return out
}

// or0 is the int64 v holds, 0 for nil (no value).
func or0(v any) int64 {
	x, _ := v.(int64)
	return x
}

// TestTTLWordStatesStoreBoxedBytes: the same writes, reads (renewing and expiring entries)
// and clock moves through the word TTL views and through the boxed ones leave the same
// database, and the reads return the same; the word views are WordValue, WordList and WordMap.
func TestTTLWordStatesStoreBoxedBytes(t *testing.T) {
	for name, upd := range map[string]ttl.UpdateType{"OnCreateAndWrite": ttl.OnCreateAndWrite, "OnReadAndWrite": ttl.OnReadAndWrite} {
		t.Run(name, func(t *testing.T) {
			cfg := ttl.Config{TTL: 100 * time.Millisecond, Update: upd}
			e := newTTLEnv(t, false)
			bw, kw := e.open(nil, lsm.Options{TTLCleanupRate: -1})
			bb, kbb := e.open(nil, lsm.Options{TTLCleanupRate: -1})
			w := registerViews(t, bw, cfg, true)
			x := registerViews(t, bb, cfg, false)
			if _, ok := w.v.(backend.WordValue); !ok {
				t.Fatalf("word TTL value view is a %T, not a backend.WordValue", w.v)
			}
			if _, ok := w.r.(backend.WordValue); !ok {
				t.Fatalf("word TTL reducing view is a %T, not a backend.WordValue", w.r)
			}
			if _, ok := w.l.(backend.WordList); !ok {
				t.Fatalf("word TTL list view is a %T, not a backend.WordList", w.l)
			}
			if _, ok := w.m.(backend.WordMap); !ok {
				t.Fatalf("word TTL map view is a %T, not a backend.WordMap", w.m)
			}
			if _, ok := x.v.(backend.WordValue); ok {
				t.Fatal("the boxed TTL value view is a backend.WordValue: the comparison would compare word paths")
			}
			wv, wl, wm, wr := w.v.(backend.WordValue), w.l.(backend.WordList), w.m.(backend.WordMap), w.r.(backend.WordValue)
			xv, xl, xm, xr := x.v.(backend.Value), x.l.(backend.List), x.m.(backend.Map), x.r.(backend.Value)
			read := func(k int64) (string, string) {
				must(t, kw.SetCurrentKey(k))
				must(t, kbb.SetCurrentKey(k))
				gw, okw, err := wv.WordValue()
				must(t, err)
				gx, okx, err := xv.Value()
				must(t, err)
				rw, rokw, err := wr.WordValue()
				must(t, err)
				rx, rokx, err := xr.Value()
				must(t, err)
				lw, err := wl.WordList()
				must(t, err)
				lx, err := xl.Get()
				must(t, err)
				mw, mokw, err := wm.GetWord(uint64(k % 3))
				must(t, err)
				mx, mokx, err := xm.Get(k % 3)
				must(t, err)
				lwi := make([]int64, len(lw))
				for i, x := range lw {
					lwi[i] = int64(x)
				}
				var sum int64
				for en, err := range wm.AllWords() {
					must(t, err)
					sum += int64(en.Key) * int64(en.Value)
				}
				var sumx int64
				for en, err := range xm.All() {
					must(t, err)
					sumx += en.Key.(int64) * en.Value.(int64)
				}
				return fmt.Sprint(int64(gw), okw, int64(rw), rokw, lwi, int64(mw), mokw, sum),
					fmt.Sprint(or0(gx), okx, or0(rx), rokx, lx, or0(mx), mokx, sumx)
			}
			for round := range int64(12) {
				for k := range int64(20) {
					if (k+round)%4 == 0 {
						if a, b := read(k); a != b {
							t.Fatalf("round %d key %d: word views read %s, boxed %s", round, k, a, b)
						}
						continue
					}
					v := k*1000 + round - 7
					must(t, kw.SetCurrentKey(k))
					must(t, kbb.SetCurrentKey(k))
					switch (k + round) % 4 {
					case 1:
						must(t, wv.UpdateWord(uint64(v)))
						must(t, xv.Update(v))
						must(t, wr.UpdateWord(uint64(-v)))
						must(t, xr.Update(-v))
					case 2:
						must(t, wl.AddWord(uint64(v)))
						must(t, xl.Add(v))
						must(t, wm.PutWord(uint64(v%3), uint64(v)))
						must(t, xm.Put(v%3, v))
					case 3:
						if k%2 == 0 {
							must(t, wl.UpdateWords([]uint64{uint64(v), math.MaxUint64}))
							must(t, xl.Update([]any{v, int64(-1)}))
						} else {
							must(t, wm.RemoveWordKey(uint64(k%3)))
							must(t, xm.Remove(k%3))
						}
					}
				}
				e.now.Add(30)
			}
			cw, cx := dbContents(t, bw), dbContents(t, bb)
			if len(cw) == 0 {
				t.Fatal("no entries stored")
			}
			if len(cw) != len(cx) {
				t.Fatalf("the word states left %d entries, the boxed ones %d", len(cw), len(cx))
			}
			for i := range cw {
				if !bytes.Equal(cw[i][0], cx[i][0]) || !bytes.Equal(cw[i][1], cx[i][1]) {
					t.Fatalf("entry %d: word states stored %x = %x, boxed ones %x = %x", i, cw[i][0], cw[i][1], cx[i][0], cx[i][1])
				}
			}
		})
	}
}

// TestTTLWordStatesAllocate: reads and writes of TTL word values, a one-element list add and
// a word map read allocate nothing (the boxed raw states allocate a Stamped box and a value).
func TestTTLWordStatesAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race; run without -race")
	}
	e := newTTLEnv(t, false)
	_, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1})
	cfg := ttl.Config{TTL: time.Hour}
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	l, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "l", TTL: cfg})
	must(t, err)
	m, err := state.GetMapState(kb, state.MapDescriptor[int64, int64]{Name: "m", TTL: cfg})
	must(t, err)
	for k := range int64(64) {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
		must(t, m.Put(k, k))
	}
	k := int64(0)
	ops := map[string]func(){
		"value update": func() { must(t, v.Update(k)) },
		"value read": func() {
			if got, ok, err := v.Value(); err != nil || !ok || got != k {
				t.Fatalf("key %d: value %d, %v, %v", k, got, ok, err)
			}
		},
		"list add": func() { must(t, l.Add(k)) },
		"map read": func() {
			if got, ok, err := m.Get(k); err != nil || !ok || got != k {
				t.Fatalf("key %d: map value %d, %v, %v", k, got, ok, err)
			}
		},
	}
	for name, op := range ops {
		allocs := testing.AllocsPerRun(200, func() {
			k = (k + 1) % 64
			must(t, kb.SetCurrentKey(k))
			op()
		})
		// Pebble allocates now and then (a batch commit, a cache block), well under one
		// allocation per operation on average; a box per access would be one or more.
		if allocs >= 1 {
			t.Errorf("%s: %.0f allocations per op, want none", name, allocs)
		}
	}
}

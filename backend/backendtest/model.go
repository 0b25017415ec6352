package backendtest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
)

// SeedEnv names the environment variable that fixes the randomized model test's seed.
const SeedEnv = "STREAMSTATE_SEED"

// model is the plain-map truth the backends are checked against: key -> namespace -> state.
type model struct {
	value map[int64]map[string]string
	list  map[int64]map[string][]int64
	mp    map[int64]map[string]map[string]int64
	wmp   map[int64]map[string]map[int64]int64
	sum   map[int64]map[string]int64
}

func newModel() *model {
	return &model{value: map[int64]map[string]string{}, list: map[int64]map[string][]int64{},
		mp: map[int64]map[string]map[string]int64{}, wmp: map[int64]map[string]map[int64]int64{},
		sum: map[int64]map[string]int64{}}
}

func inner[V any](m map[int64]map[string]V, k int64) map[string]V {
	if m[k] == nil {
		m[k] = map[string]V{}
	}
	return m[k]
}

// handles is one subtask's typed states.
type handles struct {
	v state.ValueState[string]
	l state.ListState[int64]
	m state.MapState[string, int64]
	w state.MapState[int64, int64] // word user keys and values, up to wordMapKeys per map
	r state.ReducingState[int64]
}

// wordMapKeys is the number of user keys the model's word map draws from: enough that a map
// outgrows a small inline representation and shrinks back.
const wordMapKeys = 40

func states(t testing.TB, s *subtask) handles {
	t.Helper()
	var h handles
	var err error
	h.v, err = state.GetValueState(s.kb, valueDesc)
	must(t, err)
	h.l, err = state.GetListState(s.kb, listDesc)
	must(t, err)
	h.m, err = state.GetMapState(s.kb, mapDesc)
	must(t, err)
	h.w, err = state.GetMapState(s.kb, wmapDesc)
	must(t, err)
	h.r, err = state.GetReducingState(s.kb, sumDesc)
	must(t, err)
	return h
}

func (h handles) setNS(ns string) {
	for _, s := range []state.State{h.v, h.l, h.m, h.w, h.r} {
		s.SetNamespace([]byte(ns))
	}
}

// testModel runs random operations against the backend and the model, with snapshots,
// restores and rescales in between, and compares everything after each restore.
func testModel(t *testing.T, f Factory) {
	seed, rng := seeded(t)
	ops := 20000
	if testing.Short() {
		ops = 4000
	}
	e := newEnv(t, f)
	p := 1 + rng.IntN(3)
	subs := e.open(p, nil)
	hs := make([]handles, p)
	for i, s := range subs {
		hs[i] = states(t, s)
	}
	m := newModel()
	namespaces := []string{"", "a", "b"}
	const keys = 300
	for op := 0; op < ops; op++ {
		if rng.IntN(2500) == 0 || op == ops-1 {
			comp := snapshot.CompressionNone
			if rng.IntN(2) == 0 {
				comp = snapshot.CompressionSnappy
			}
			handlesOut := e.checkpoint(subs, backend.SnapshotOptions{Compression: comp})
			closeAll(subs)
			p = 1 + rng.IntN(4)
			subs = e.open(p, handlesOut)
			hs = make([]handles, p)
			for i, s := range subs {
				hs[i] = states(t, s)
			}
			m.check(t, subs, hs, namespaces, op)
			continue
		}
		k := int64(rng.IntN(keys))
		s := route(subs, k)
		h := hs[slices.Index(subs, s)]
		setKey(t, s, k)
		ns := namespaces[rng.IntN(len(namespaces))]
		h.setNS(ns)
		m.step(t, rng, h, k, ns, namespaces, seed, op)
	}
	closeAll(subs)
}

func (m *model) checkMap(t testing.TB, h handles, k int64, ns string, seed uint64, op int) {
	t.Helper()
	got := map[string]int64{}
	for e, err := range h.m.All() {
		must(t, err)
		got[e.Key] = e.Value
	}
	checkEntries(t, "map", h.m, got, inner(m.mp, k)[ns], k, ns, seed, op)
}

func (m *model) checkWordMap(t testing.TB, h handles, k int64, ns string, seed uint64, op int) {
	t.Helper()
	got := map[int64]int64{}
	for uk, err := range h.w.Keys() {
		must(t, err)
		v, ok, err := h.w.Get(uk)
		must(t, err)
		if _, dup := got[uk]; dup || !ok {
			t.Fatalf("seed %d op %d: wmap(%d,%q) user key %d iterated twice or not found (%v)", seed, op, k, ns, uk, ok)
		}
		got[uk] = v
	}
	for e, err := range h.w.All() {
		must(t, err)
		if got[e.Key] != e.Value {
			t.Fatalf("seed %d op %d: wmap(%d,%q) All has %d=%d, Get %d", seed, op, k, ns, e.Key, e.Value, got[e.Key])
		}
	}
	checkEntries(t, "wmap", h.w, got, inner(m.wmp, k)[ns], k, ns, seed, op)
}

// checkEntries compares the entries read from map state ms with the model's, and IsEmpty.
func checkEntries[UK comparable](t testing.TB, name string, ms state.MapState[UK, int64], got, want map[UK]int64, k int64, ns string, seed uint64, op int) {
	t.Helper()
	if len(want) == 0 {
		want = map[UK]int64{}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("seed %d op %d: %s(%d,%q) = %v want %v", seed, op, name, k, ns, got, want)
	}
	empty, err := ms.IsEmpty()
	must(t, err)
	if empty != (len(want) == 0) {
		t.Fatalf("seed %d op %d: %s(%d,%q).IsEmpty = %v with %d entries", seed, op, name, k, ns, empty, len(want))
	}
}

// check compares every key and namespace of the model with the backends, and the key sets.
func (m *model) check(t testing.TB, subs []*subtask, hs []handles, namespaces []string, op int) {
	t.Helper()
	for k := int64(0); k < 300; k++ {
		s := route(subs, k)
		h := hs[slices.Index(subs, s)]
		setKey(t, s, k)
		for _, ns := range namespaces {
			h.setNS(ns)
			got, ok := get[string](t, h.v)
			want, wok := inner(m.value, k)[ns]
			if got != want || ok != wok {
				t.Fatalf("op %d after restore: value(%d,%q) = %q,%v want %q,%v", op, k, ns, got, ok, want, wok)
			}
			gl := collect(t, h.l.Get())
			if wl := inner(m.list, k)[ns]; !slices.Equal(gl, wl) {
				t.Fatalf("op %d after restore: list(%d,%q) = %v want %v", op, k, ns, gl, wl)
			}
			m.checkMap(t, h, k, ns, 0, op)
			m.checkWordMap(t, h, k, ns, 0, op)
			gs, sok, err := h.r.Get()
			must(t, err)
			if ws, wok := inner(m.sum, k)[ns]; gs != ws || sok != wok {
				t.Fatalf("op %d after restore: sum(%d,%q) = %d,%v want %d,%v", op, k, ns, gs, sok, ws, wok)
			}
		}
	}
	for _, ns := range namespaces {
		var got []int64
		for _, s := range subs {
			got = append(got, collect(t, s.kb.Keys(valueDesc.Name, []byte(ns)))...)
		}
		var want []int64
		for k, byNS := range m.value {
			if _, ok := byNS[ns]; ok {
				want = append(want, k)
			}
		}
		if !slices.Equal(sorted(got), sorted(want)) {
			t.Fatalf("op %d after restore: Keys(%q) = %v want %v", op, ns, got, fmt.Sprint(want))
		}
	}
}

// seeded returns the test's seed (from STREAMSTATE_SEED, else the clock), logged, and a
// generator seeded with it.
func seeded(t testing.TB) (uint64, *rand.Rand) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		must(t, err)
		seed = v
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, SeedEnv, seed)
	return seed, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// step applies one random operation on key k in namespace ns to the backend's states h and to
// the model, checking what it reads.
func (m *model) step(t testing.TB, rng *rand.Rand, h handles, k int64, ns string, namespaces []string, seed uint64, op int) {
	t.Helper()
	switch rng.IntN(17) {
	case 0, 1:
		v := strconv.Itoa(rng.IntN(1000))
		must(t, h.v.Update(v))
		inner(m.value, k)[ns] = v
	case 2:
		must(t, h.v.Clear())
		delete(inner(m.value, k), ns)
	case 3:
		got, ok := get[string](t, h.v)
		want, wok := inner(m.value, k)[ns]
		if got != want || ok != wok {
			t.Fatalf("seed %d op %d: value(%d,%q) = %q,%v want %q,%v", seed, op, k, ns, got, ok, want, wok)
		}
	case 4:
		v := int64(rng.IntN(100))
		must(t, h.l.Add(v))
		inner(m.list, k)[ns] = append(inner(m.list, k)[ns], v)
	case 5:
		vs := []int64{int64(rng.IntN(100)), int64(rng.IntN(100))}[:1+rng.IntN(2)]
		if rng.IntN(2) == 0 {
			must(t, h.l.Update(vs))
			inner(m.list, k)[ns] = vs
		} else {
			must(t, h.l.AddAll(vs))
			inner(m.list, k)[ns] = append(slices.Clone(inner(m.list, k)[ns]), vs...)
		}
	case 6:
		must(t, h.l.Clear())
		delete(inner(m.list, k), ns)
	case 7:
		other := namespaces[rng.IntN(len(namespaces))]
		must(t, h.l.MergeNamespaces([]byte(ns), [][]byte{[]byte(other)}))
		if other != ns {
			merged := append(slices.Clone(inner(m.list, k)[ns]), inner(m.list, k)[other]...)
			delete(inner(m.list, k), other)
			if len(merged) > 0 {
				inner(m.list, k)[ns] = merged
			}
		}
	case 8, 9:
		uk, v := strconv.Itoa(rng.IntN(8)), int64(rng.IntN(1000))
		must(t, h.m.Put(uk, v))
		if inner(m.mp, k)[ns] == nil {
			inner(m.mp, k)[ns] = map[string]int64{}
		}
		inner(m.mp, k)[ns][uk] = v
	case 10:
		uk := strconv.Itoa(rng.IntN(8))
		must(t, h.m.Remove(uk))
		delete(inner(m.mp, k)[ns], uk)
	case 11:
		if rng.IntN(4) == 0 {
			must(t, h.m.Clear())
			delete(inner(m.mp, k), ns)
		} else {
			m.checkMap(t, h, k, ns, seed, op)
		}
	case 14, 15: // a burst of puts and removals of word map entries, so that maps grow past 16
		for range 1 + rng.IntN(12) {
			uk := int64(rng.IntN(wordMapKeys)) - wordMapKeys/2
			if rng.IntN(3) == 0 {
				must(t, h.w.Remove(uk))
				delete(inner(m.wmp, k)[ns], uk)
				continue
			}
			v := rng.Int64()
			must(t, h.w.Put(uk, v))
			if inner(m.wmp, k)[ns] == nil {
				inner(m.wmp, k)[ns] = map[int64]int64{}
			}
			inner(m.wmp, k)[ns][uk] = v
		}
	case 16:
		uk := int64(rng.IntN(wordMapKeys)) - wordMapKeys/2
		v, ok, err := h.w.Get(uk)
		must(t, err)
		has, err := h.w.Contains(uk)
		must(t, err)
		if want, wok := inner(m.wmp, k)[ns][uk]; v != want || ok != wok || has != wok {
			t.Fatalf("seed %d op %d: wmap(%d,%q) Get(%d) = %d,%v Contains %v, want %d,%v", seed, op, k, ns, uk, v, ok, has, want, wok)
		}
		switch rng.IntN(8) {
		case 0:
			must(t, h.w.Clear())
			delete(inner(m.wmp, k), ns)
		case 1:
			m.checkWordMap(t, h, k, ns, seed, op)
		}
	case 12:
		v := int64(rng.IntN(10))
		must(t, h.r.Add(v))
		inner(m.sum, k)[ns] += v
	case 13:
		if rng.IntN(3) == 0 {
			must(t, h.r.Clear())
			delete(inner(m.sum, k), ns)
		}
		got, ok, err := h.r.Get()
		must(t, err)
		want, wok := inner(m.sum, k)[ns]
		if got != want || ok != wok {
			t.Fatalf("seed %d op %d: sum(%d,%q) = %d,%v want %d,%v", seed, op, k, ns, got, ok, want, wok)
		}
	}
}

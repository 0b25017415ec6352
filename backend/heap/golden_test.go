package heap_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// The golden chain under testdata/chain-v1 was written by the first version of the hashmap
// backend's incremental checkpoints (snapshot.HashmapChainBackend "hashmap/chain-v1",
// metadata format 2): job "golden", max parallelism 16, one subtask, three checkpoints of
// goldenStage 1, 2 and 3, each confirmed, two retained: checkpoint 3 is a base and two deltas
// (with cell and key-group tombstones). It must keep restoring.
// STREAMSTATE_WRITE_GOLDEN=1 go test -run TestWriteGoldenChain ./backend/heap/ writes it if
// it does not exist yet.

const goldenChainDir = "testdata/chain-v1"

// goldenBackend is one subtask's states of the golden chain.
type goldenBackend struct {
	b  backend.Keyed
	kb *state.KeyedBackend[int64]
	v  state.ValueState[int64]
	l  state.ListState[string]
	m  state.MapState[string, int64]
	q  backend.TimerQueue
}

func openGolden(t testing.TB, p, i int, restore []*snapshot.KeyedStateHandle, r snapshot.Reader) *goldenBackend {
	t.Helper()
	b, err := heap.NewIncremental(context.Background(), backend.Options{OperatorID: "op", MaxParallelism: 16,
		KeyGroupRange: keygroup.RangeFor(16, p, i), KeySerializerID: serde.Int64{}.ID(), Restore: restore, Reader: r},
		heap.IncrementalOptions{})
	must(t, err)
	g := &goldenBackend{b: b}
	g.kb, err = state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	g.v, err = state.GetValueState(g.kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	g.l, err = state.GetListState(g.kb, state.ListDescriptor[string]{Name: "l"})
	must(t, err)
	g.m, err = state.GetMapState(g.kb, state.MapDescriptor[string, int64]{Name: "m"})
	must(t, err)
	g.q, err = b.CreateTimerQueue("timers")
	must(t, err)
	return g
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// goldenStage applies the changes of stage 1, 2 or 3 of the golden chain to g.
func goldenStage(t testing.TB, g *goldenBackend, stage int) {
	at := func(k int64) {
		must(t, g.kb.SetCurrentKey(k))
	}
	timer := func(k int64) (int, backend.Timer) {
		key, kg, _ := g.kb.CurrentKeyBytes()
		return kg, backend.Timer{Timestamp: 1000 + k, Key: slices.Clone(key), Namespace: []byte("w")}
	}
	switch stage {
	case 1:
		for k := range int64(50) {
			at(k)
			must(t, g.v.Update(k))
			must(t, g.l.Add("a"+strconv.FormatInt(k, 10)))
			must(t, g.m.Put("x", k))
			if k < 10 {
				_, err := g.q.Add(timer(k))
				must(t, err)
			}
		}
	case 2:
		for k := range int64(30) {
			at(k)
			switch {
			case k < 5:
				must(t, g.v.Update(100+k))
				_, err := g.q.Remove(timer(k))
				must(t, err)
			case k < 10:
				must(t, g.v.Update(100+k))
			case k < 20:
				must(t, g.v.Clear())
			case k < 25:
				must(t, g.l.Add("b"))
			default:
				must(t, g.m.Remove("x"))
				must(t, g.m.Put("y", k))
			}
		}
	case 3:
		for k := int64(10); k < 41; k++ {
			at(k)
			switch {
			case k < 15:
				must(t, g.v.Update(k))
			case k == 20 || k == 21:
				must(t, g.l.Clear())
			case k >= 30 && k < 35:
				must(t, g.v.Update(300+k))
			case k == 40:
				must(t, g.m.Clear())
			}
		}
	}
}

// goldenWant is the state of key k at checkpoint 3: value, list, map, timer (0: none).
func goldenWant(k int64) (v int64, vok bool, l []string, m map[string]int64, timer int64) {
	switch {
	case k < 10:
		v, vok = 100+k, true
	case k < 15:
		v, vok = k, true
	case k < 20:
	case k >= 30 && k < 35:
		v, vok = 300+k, true
	default:
		v, vok = k, true
	}
	a := "a" + strconv.FormatInt(k, 10)
	switch {
	case k == 20 || k == 21:
	case k >= 22 && k < 25:
		l = []string{a, "b"}
	default:
		l = []string{a}
	}
	switch {
	case k == 40:
	case k >= 25 && k < 30:
		m = map[string]int64{"y": k}
	default:
		m = map[string]int64{"x": k}
	}
	if k >= 5 && k < 10 {
		timer = 1000 + k
	}
	return
}

// TestWriteGoldenChain writes testdata/chain-v1 when STREAMSTATE_WRITE_GOLDEN is set and it
// does not exist.
func TestWriteGoldenChain(t *testing.T) {
	if os.Getenv("STREAMSTATE_WRITE_GOLDEN") == "" {
		t.Skip("set STREAMSTATE_WRITE_GOLDEN=1 to write the golden chain")
	}
	dir, err := filepath.Abs(goldenChainDir)
	must(t, err)
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists; a golden checkpoint is never rewritten", dir)
	}
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+filepath.ToSlash(dir))
	must(t, err)
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "golden", checkpoint.Options{NumRetained: 2})
	must(t, err)
	g := openGolden(t, 1, 0, nil, nil)
	defer g.b.Close()
	for stage := 1; stage <= 3; stage++ {
		goldenStage(t, g, stage)
		p, err := cps.Begin(int64(stage))
		must(t, err)
		_, err = backend.SnapshotOperator(ctx, int64(stage), []backend.Keyed{g.b}, p, backend.SnapshotOperatorOptions{
			Metadata: func(hs []*snapshot.KeyedStateHandle) *snapshot.Metadata {
				return &snapshot.Metadata{TimestampMs: 1_790_000_000_000, Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 16, Keyed: hs}}}
			}})
		must(t, err)
	}
}

// TestGoldenChain restores the golden chain's checkpoint 3 at parallelism 1 and 2 and checks
// every key; checkpoint.Check finds every file intact; the metadata encodes to the same bytes.
func TestGoldenChain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	must(t, os.CopyFS(dir, os.DirFS(goldenChainDir)))
	st, err := blobstore.OpenURL(ctx, "file://"+filepath.ToSlash(dir))
	must(t, err)
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "golden", checkpoint.Options{NumRetained: 2})
	must(t, err)
	m, err := cps.Load(ctx, 3)
	must(t, err)
	hs := m.Operator("op").Keyed
	if len(hs) != 1 || hs[0].Incremental == nil || hs[0].Incremental.Backend != snapshot.HashmapChainBackend || len(hs[0].Incremental.Chain) != 3 {
		t.Fatalf("checkpoint 3: want one chain of a base and 2 deltas, got %+v", hs)
	}
	rep, err := checkpoint.Check(ctx, st, "golden/", m)
	must(t, err)
	if !rep.OK() || rep.Files != 3 || rep.Unverified != 0 {
		t.Errorf("Check: %+v; want OK, 3 files, all verified", rep)
	}
	raw, err := st.ReadRange(ctx, "golden/chk-3/_metadata", 0, -1)
	must(t, err)
	again, err := snapshot.EncodeMetadata(m)
	must(t, err)
	if !bytes.Equal(raw, again) {
		t.Errorf("the golden metadata encodes differently:\n%s\n%s", raw[16:], again[16:])
	}
	for _, p := range []int{1, 2} {
		timers := map[int64]int64{}
		for i := range p {
			g := openGolden(t, p, i, hs, cps.Reader())
			for k := range int64(50) {
				if !g.b.KeyGroupRange().Contains(mustKG(t, g, k)) {
					continue
				}
				must(t, g.kb.SetCurrentKey(k))
				wv, wok, wl, wm, _ := goldenWant(k)
				v, ok, err := g.v.Value()
				must(t, err)
				var l []string
				for e, err := range g.l.Get() {
					must(t, err)
					l = append(l, e)
				}
				got := map[string]int64{}
				for e, err := range g.m.All() {
					must(t, err)
					got[e.Key] = e.Value
				}
				if v != wv || ok != wok || !slices.Equal(l, wl) || !maps.Equal(got, wm) && len(got)+len(wm) > 0 {
					t.Errorf("p=%d key %d: value %d,%v list %q map %v; want %d,%v %q %v", p, k, v, ok, l, got, wv, wok, wl, wm)
				}
			}
			for {
				tm, _, ok, err := g.q.Poll()
				must(t, err)
				if !ok {
					break
				}
				k, _, err := serde.DecodeKey[int64](serde.Int64{}, tm.Key)
				must(t, err)
				timers[k] = tm.Timestamp
			}
			must(t, g.b.Close())
		}
		want := map[int64]int64{}
		for k := range int64(50) {
			if _, _, _, _, ts := goldenWant(k); ts != 0 {
				want[k] = ts
			}
		}
		if !maps.Equal(timers, want) {
			t.Errorf("p=%d: timers %v, want %v", p, timers, want)
		}
	}
}

func mustKG(t testing.TB, g *goldenBackend, k int64) int {
	kg, err := g.kb.KeyGroupOf(k)
	must(t, err)
	return kg
}

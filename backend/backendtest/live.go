package backendtest

import (
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/state"
)

func (m *model) clone() *model {
	c := newModel()
	for k, byNS := range m.value {
		c.value[k] = maps.Clone(byNS)
	}
	for k, byNS := range m.list {
		c.list[k] = map[string][]int64{}
		for ns, l := range byNS {
			c.list[k][ns] = slices.Clone(l)
		}
	}
	for k, byNS := range m.mp {
		c.mp[k] = map[string]map[string]int64{}
		for ns, mm := range byNS {
			c.mp[k][ns] = maps.Clone(mm)
		}
	}
	for k, byNS := range m.sum {
		c.sum[k] = maps.Clone(byNS)
	}
	return c
}

// testLiveStateAcrossSnapshots keeps working on one backend while snapshots run on other
// goroutines, several times over: the snapshots must equal the model at their synchronous
// points and the live state must equal the live model afterwards (copy-on-write must not lose
// or resurrect anything when it hands the frozen state back).
func testLiveStateAcrossSnapshots(t *testing.T, f Factory) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		must(t, err)
		seed = v
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, SeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed+1))
	e, s := single(t, f)
	subs := []*subtask{s}
	h := states(t, s)
	m := newModel()
	namespaces := []string{"", "a"}
	step := func() {
		k := int64(rng.IntN(300))
		setKey(t, s, k)
		ns := namespaces[rng.IntN(len(namespaces))]
		h.setNS(ns)
		switch rng.IntN(8) {
		case 0, 1:
			v := strconv.Itoa(rng.IntN(1000))
			must(t, h.v.Update(v))
			inner(m.value, k)[ns] = v
		case 2:
			must(t, h.v.Clear())
			delete(inner(m.value, k), ns)
		case 3:
			v := int64(rng.IntN(100))
			must(t, h.l.Add(v))
			inner(m.list, k)[ns] = append(slices.Clone(inner(m.list, k)[ns]), v)
		case 4:
			must(t, h.l.Clear())
			delete(inner(m.list, k), ns)
		case 5:
			uk, v := strconv.Itoa(rng.IntN(5)), int64(rng.IntN(1000))
			must(t, h.m.Put(uk, v))
			if inner(m.mp, k)[ns] == nil {
				inner(m.mp, k)[ns] = map[string]int64{}
			}
			inner(m.mp, k)[ns][uk] = v
		case 6:
			uk := strconv.Itoa(rng.IntN(5))
			must(t, h.m.Remove(uk))
			delete(inner(m.mp, k)[ns], uk)
			if len(inner(m.mp, k)[ns]) == 0 {
				delete(inner(m.mp, k), ns)
			}
		case 7:
			v := int64(rng.IntN(10))
			must(t, h.r.Add(v))
			inner(m.sum, k)[ns] += v
		}
	}
	for round := 0; round < 6; round++ {
		for range 1500 {
			step()
		}
		e.next++
		p, err := e.cps.Begin(e.next)
		must(t, err)
		snap, err := s.b.Snapshot(e.next, state.SnapshotOptions{})
		must(t, err)
		atSync := m.clone()
		var handle *checkpoint.KeyedStateHandle
		var runErr error
		var wg sync.WaitGroup
		wg.Go(func() { handle, runErr = snap.Run(e.ctx, p) })
		for range 1500 { // the task goes on during the asynchronous phase
			step()
		}
		wg.Wait()
		must(t, runErr)
		for range 500 { // and after it
			step()
		}
		must(t, p.Complete(e.ctx, &checkpoint.Metadata{Operators: []*checkpoint.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: MaxP, Keyed: []*checkpoint.KeyedStateHandle{handle}}}}))
		restored := e.open(1, []*checkpoint.KeyedStateHandle{handle})
		atSync.check(t, restored, []handles{states(t, restored[0])}, namespaces, round)
		closeAll(restored)
		m.check(t, subs, []handles{h}, namespaces, round)
	}
}

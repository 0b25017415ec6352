package backendtest

import (
	"maps"
	"slices"
	"sync"
	"testing"

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
	for k, byNS := range m.wmp {
		c.wmp[k] = map[string]map[int64]int64{}
		for ns, mm := range byNS {
			c.wmp[k][ns] = maps.Clone(mm)
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
	seed, rng := seeded(t)
	e, s := single(t, f)
	subs := []*subtask{s}
	h := states(t, s)
	m := newModel()
	namespaces := []string{"", "a"}
	op := 0
	step := func() {
		k := int64(rng.IntN(300))
		setKey(t, s, k)
		ns := namespaces[rng.IntN(len(namespaces))]
		h.setNS(ns)
		m.step(t, rng, h, k, ns, namespaces, seed, op)
		op++
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

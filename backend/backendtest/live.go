package backendtest

import (
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
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
// goroutines, several times over, with one to three snapshots in flight at once (Flink's
// execution.checkpointing.max-concurrent-checkpoints) and some of them released without
// running: each snapshot that runs must equal the model at its synchronous point and the live
// state must equal the live model afterwards (copy-on-write must not lose or resurrect
// anything when it hands the frozen state back).
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
	type inFlight struct {
		p       *checkpoint.Pending
		snap    backend.AsyncSnapshot
		atSync  *model
		release bool // released without running, as when a checkpoint is declined
		handle  *snapshot.KeyedStateHandle
		err     error
	}
	for round := 0; round < 8; round++ {
		var snaps []*inFlight
		for range 1 + rng.IntN(3) {
			for range 300 + rng.IntN(1200) {
				step()
			}
			e.next++
			p, err := e.cps.Begin(e.next)
			must(t, err)
			snap, err := s.b.Snapshot(e.next, backend.SnapshotOptions{Workers: []int{0, 1, 4}[rng.IntN(3)]})
			must(t, err)
			snaps = append(snaps, &inFlight{p: p, snap: snap, atSync: m.clone(), release: rng.IntN(4) == 0})
		}
		var wg sync.WaitGroup
		for _, sn := range snaps {
			if sn.release {
				sn.snap.Release()
				must(t, sn.p.Abort(e.ctx))
				continue
			}
			wg.Go(func() { sn.handle, sn.err = sn.snap.Run(e.ctx, sn.p) })
		}
		for range 1500 { // the task goes on during the asynchronous phases
			step()
		}
		wg.Wait()
		for range 500 { // and after them
			step()
		}
		for i, sn := range snaps {
			if sn.release {
				continue
			}
			must(t, sn.err)
			must(t, sn.p.Complete(e.ctx, checkpointtest.Metadata(MaxP, sn.handle)))
			restored := e.open(1, []*snapshot.KeyedStateHandle{sn.handle})
			sn.atSync.check(t, restored, []handles{states(t, restored[0])}, namespaces, round*10+i)
			closeAll(restored)
		}
		m.check(t, subs, []handles{h}, namespaces, round)
	}
}

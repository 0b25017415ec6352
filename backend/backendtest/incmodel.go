package backendtest

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// CheckIncrementalModel runs random operations (every state kind of the model test, and
// timers) against backends of f and a plain-map model across many checkpoints, as a task
// meets them: some checkpoints are aborted after their asynchronous phase, and the
// notifications of completed ones are delivered at once, late and out of order, or never.
// After each completed checkpoint it restores every retained one (at 1 to 3 subtasks) and
// compares it with the model as it was at that checkpoint's synchronous phase; now and then
// the live subtasks are replaced by a restore of the latest checkpoint at the same
// parallelism with backend.Options.Claim set, as a job that fails over. It is meant for
// backends with incremental checkpoints (whose deltas must carry the changes of aborted and
// unconfirmed checkpoints), and holds for any backend. The seed is logged (SeedEnv).
func CheckIncrementalModel(t *testing.T, f Factory) {
	seed, rng := seeded(t)
	ops := 12000
	if testing.Short() {
		ops = 3000
	}
	r := &incRun{t: t, e: newEnv(t, f), rng: rng, seed: seed, m: newModel(), timers: map[timerKey]bool{},
		snaps: map[int64]incSnap{}}
	r.open(1+rng.IntN(2), nil, false)
	namespaces := []string{"", "a", "b"}
	for op := range ops {
		if rng.IntN(150) == 0 {
			r.checkpoint(op, namespaces)
			continue
		}
		r.step(op, namespaces)
	}
	closeAll(r.subs)
}

// timerKey is a timer of the model.
type timerKey struct {
	k  int64
	ns string
	ts int64
}

// incSnap is the model at a checkpoint's synchronous phase.
type incSnap struct {
	m      *model
	timers map[timerKey]bool
}

type incRun struct {
	t      *testing.T
	e      *env
	rng    *rand.Rand
	seed   uint64
	subs   []*subtask
	hs     []handles
	qs     []backend.TimerQueue
	m      *model
	timers map[timerKey]bool
	snaps  map[int64]incSnap // of the completed checkpoints
	late   []int64           // notifications not delivered yet
}

// open replaces the live subtasks by p restored from hs.
func (r *incRun) open(p int, hs []*snapshot.KeyedStateHandle, claim bool) {
	if r.subs != nil {
		closeAll(r.subs)
	}
	r.subs, r.hs, r.qs = r.restore(p, hs, claim)
}

// restore creates p subtasks restored from hs, with their states and timer queues.
func (r *incRun) restore(p int, hs []*snapshot.KeyedStateHandle, claim bool) ([]*subtask, []handles, []backend.TimerQueue) {
	t := r.t
	subs := make([]*subtask, p)
	hs2 := make([]handles, p)
	qs := make([]backend.TimerQueue, p)
	for i := range subs {
		b, err := r.e.f(t, backend.Options{OperatorID: "op", MaxParallelism: MaxP, KeyGroupRange: keygroup.RangeFor(MaxP, p, i),
			KeySerializerID: keySer, Restore: hs, Reader: r.e.counter, Clock: r.e.clock, Claim: claim})
		must(t, err)
		kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
		must(t, err)
		subs[i] = &subtask{b: b, kb: kb}
		hs2[i] = states(t, subs[i])
		qs[i], err = b.CreateTimerQueue("timers")
		must(t, err)
	}
	return subs, hs2, qs
}

func (r *incRun) step(op int, namespaces []string) {
	k := int64(r.rng.IntN(300))
	s := route(r.subs, k)
	i := slices.Index(r.subs, s)
	ns := namespaces[r.rng.IntN(len(namespaces))]
	if r.rng.IntN(8) == 0 { // timers
		kg, err := s.kb.KeyGroupOf(k)
		must(r.t, err)
		tk := timerKey{k: k, ns: ns, ts: int64(r.rng.IntN(20))}
		tm := backend.Timer{Timestamp: tk.ts, Key: mustAppendKey(r.t, k), Namespace: []byte(ns)}
		if r.rng.IntN(3) == 0 {
			_, err = r.qs[i].Remove(kg, tm)
			delete(r.timers, tk)
		} else {
			_, err = r.qs[i].Add(kg, tm)
			r.timers[tk] = true
		}
		must(r.t, err)
		return
	}
	setKey(r.t, s, k)
	r.hs[i].setNS(ns)
	r.m.step(r.t, r.rng, r.hs[i], k, ns, namespaces, r.seed, op)
}

// checkpoint takes the next checkpoint of the live subtasks (with a few operations between
// the synchronous and the asynchronous phases), then aborts or completes it, delivers
// notifications, and checks restores.
func (r *incRun) checkpoint(op int, namespaces []string) {
	t, e := r.t, r.e
	e.next++
	id := e.next
	p, err := e.cps.Begin(id)
	must(t, err)
	asyncs := make([]backend.AsyncSnapshot, len(r.subs))
	for i, s := range r.subs {
		asyncs[i], err = s.b.Snapshot(id, backend.SnapshotOptions{Compression: snapshot.CompressionSnappy})
		must(t, err)
	}
	snap := incSnap{m: r.m.clone(), timers: maps.Clone(r.timers)}
	for range r.rng.IntN(20) {
		r.step(op, namespaces)
	}
	var hs []*snapshot.KeyedStateHandle
	for _, a := range asyncs {
		h, err := a.Run(e.ctx, p)
		must(t, err)
		if h != nil {
			hs = append(hs, h)
		}
	}
	if r.rng.IntN(5) == 0 {
		must(t, p.Abort(e.ctx))
		if r.rng.IntN(2) == 0 {
			for _, s := range r.subs {
				must(t, s.b.NotifyCheckpointAborted(id))
			}
		}
		return
	}
	md := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: len(r.subs), MaxParallelism: MaxP, Keyed: hs}}}
	must(t, p.Complete(e.ctx, md))
	r.snaps[id] = snap
	switch r.rng.IntN(6) {
	case 0: // lost
	case 1, 2:
		r.late = append(r.late, id)
	default:
		r.notify(id)
	}
	if len(r.late) > 0 && r.rng.IntN(3) == 0 {
		r.rng.Shuffle(len(r.late), func(i, j int) { r.late[i], r.late[j] = r.late[j], r.late[i] })
		for _, l := range r.late {
			r.notify(l)
		}
		r.late = nil
	}
	r.verifyRetained(op)
	if r.rng.IntN(4) == 0 { // fail over to the latest checkpoint, claiming it
		h := r.load(id)
		r.open(len(r.subs), h, true)
		r.m, r.timers = snap.m.clone(), maps.Clone(snap.timers)
	}
}

func (r *incRun) notify(id int64) {
	for _, s := range r.subs {
		must(r.t, s.b.NotifyCheckpointComplete(id))
	}
}

// load returns the keyed handles of completed checkpoint id.
func (r *incRun) load(id int64) []*snapshot.KeyedStateHandle {
	md, err := r.e.cps.Load(r.e.ctx, id)
	if err != nil {
		r.t.Fatalf("seed %d: load checkpoint %d: %v", r.seed, id, err)
	}
	if o := md.Operator("op"); o != nil {
		return o.Keyed
	}
	return nil
}

// verifyRetained restores every retained checkpoint at a random parallelism and compares it
// with the model at its synchronous phase.
func (r *incRun) verifyRetained(op int) {
	ids, err := r.e.cps.Completed(r.e.ctx)
	must(r.t, err)
	for _, id := range ids {
		snap, ok := r.snaps[id]
		if !ok {
			r.t.Fatalf("seed %d: checkpoint %d is retained but was never completed here", r.seed, id)
		}
		subs, hs, qs := r.restore(1+r.rng.IntN(3), r.load(id), false)
		snap.m.check(r.t, subs, hs, []string{"", "a", "b"}, op)
		got := map[timerKey]bool{}
		for i, q := range qs {
			for {
				tm, kg, ok, err := q.Poll()
				must(r.t, err)
				if !ok {
					break
				}
				if !subs[i].b.KeyGroupRange().Contains(kg) {
					r.t.Fatalf("seed %d: checkpoint %d: timer of key group %d polled from subtask %d", r.seed, id, kg, i)
				}
				got[timerKey{k: mustKey(r.t, tm.Key), ns: string(tm.Namespace), ts: tm.Timestamp}] = true
			}
		}
		if !maps.Equal(got, snap.timers) {
			r.t.Fatalf("seed %d: checkpoint %d: restored timers %v, want %v", r.seed, id, got, snap.timers)
		}
		closeAll(subs)
	}
}

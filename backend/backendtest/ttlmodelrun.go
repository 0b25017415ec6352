package backendtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// tHandles are one subtask's states of the TTL model test.
type tHandles struct {
	v state.ValueState[int64]
	l state.ListState[int64]
	m state.MapState[int64, int64]
	r state.ReducingState[int64]
}

func tStates(t testing.TB, s *subtask, cfg ttl.Config) tHandles {
	t.Helper()
	var h tHandles
	var err error
	h.v, err = state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "mv", TTL: cfg})
	must(t, err)
	h.l, err = state.GetListState(s.kb, state.ListDescriptor[int64]{Name: "ml", TTL: cfg})
	must(t, err)
	h.m, err = state.GetMapState(s.kb, state.MapDescriptor[int64, int64]{Name: "mm", TTL: cfg})
	must(t, err)
	h.r, err = state.GetReducingState(s.kb, state.ReducingDescriptor[int64]{Name: "mr", Reduce: sumDesc.Reduce, TTL: cfg})
	must(t, err)
	return h
}

func (h tHandles) setNS(ns string) {
	for _, s := range []state.State{h.v, h.l, h.m, h.r} {
		s.SetNamespace([]byte(ns))
	}
}

// testTTLModel runs random operations on TTL states of every kind against ttlModel, for every
// option combination, with clock moves, snapshots, restores at other parallelisms and TTL
// changes between runs. The seed is logged; STREAMSTATE_SEED replays it.
func testTTLModel(t *testing.T, f Factory) {
	seed, _ := seeded(t)
	ops := 1200
	if testing.Short() {
		ops = 400
	}
	for i, cfg := range ttlCombos() {
		t.Run(comboName(cfg), func(t *testing.T) {
			r := ttlModelRun{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
			r.run(f, cfg, ops)
		})
	}
}

// ttlModelRun is one option combination's run of the TTL model test.
type ttlModelRun struct {
	t    *testing.T
	seed uint64
	rng  *rand.Rand
	e    *env
	m    *ttlModel
	subs []*subtask
	hs   []tHandles
	op   int
}

const tModelKeys = 16

// tModelTick is the step of the model test's clock moves (ms); TTLs are multiples of it.
const tModelTick = 500

var tModelNS = []string{"", "w"}

func (r *ttlModelRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("seed %d op %d (%s, TTL %d ms, judged at %d): %s", r.seed, r.op, comboName(r.m.cfg), r.m.ms, r.m.judge(), fmt.Sprintf(format, args...))
}

func (r *ttlModelRun) run(f Factory, cfg ttl.Config, ops int) {
	r.e = newEnv(r.t, f)
	cfg.TTL = 6 * time.Second
	r.m = &ttlModel{cfg: cfg, ms: cfg.Millis(), now: r.e.now.Load(), wm: noStamp, ts: noStamp,
		value: map[tKey]*tEntry{}, list: map[tKey][]tEntry{}, mp: map[tKey]map[int64]*tEntry{}, sum: map[tKey]*tSum{}}
	r.setTimestamp(ttlBase) // event time: records have timestamps before the first watermark
	r.open(1+r.rng.IntN(3), nil)
	for r.op = 0; r.op < ops; r.op++ {
		if r.rng.IntN(300) == 0 || r.op == ops-1 {
			r.restore()
			continue
		}
		if r.rng.IntN(8) == 0 {
			r.moveClock()
			continue
		}
		r.step(tKey{k: int64(r.rng.IntN(tModelKeys)), ns: tModelNS[r.rng.IntN(len(tModelNS))]})
	}
	closeAll(r.subs)
}

func (r *ttlModelRun) setTimestamp(ts int64) {
	r.m.ts = ts
	r.e.clock.SetTimestamp(ts)
}

// moveClock advances processing time, or moves the event time: the watermark forward, the
// record timestamp anywhere around it (late records too), or no timestamp at all once the
// watermark is known (entries are then stamped with the watermark).
func (r *ttlModelRun) moveClock() {
	m := r.m
	// Times move in steps of tModelTick, so that entries are often judged exactly at their
	// expiry (stamp + TTL), where the comparison must say expired.
	step := r.rng.Int64N(m.ms/2/tModelTick) * tModelTick
	if m.cfg.Time == ttl.ProcessingTime {
		m.now += step
		r.e.now.Store(m.now)
		return
	}
	base := m.wm
	if base == noStamp {
		base = m.ts
	}
	switch r.rng.IntN(3) {
	case 0:
		m.wm = base + step
		r.e.clock.AdvanceWatermark(m.wm)
	case 1:
		r.setTimestamp(base - m.ms + r.rng.Int64N(m.ms*3/2/tModelTick)*tModelTick)
	default:
		if m.wm != noStamp {
			r.setTimestamp(noStamp)
		}
	}
}

// open opens p subtasks from hs and registers the states with the model's TTL and a random
// incremental cleanup size.
func (r *ttlModelRun) open(p int, hs []*snapshot.KeyedStateHandle) {
	cfg := r.m.cfg
	cfg.CleanupSize = []int{-1, 0, 2}[r.rng.IntN(3)]
	r.subs = r.e.open(p, hs)
	r.hs = make([]tHandles, p)
	for i, s := range r.subs {
		r.hs[i] = tStates(r.t, s, cfg)
	}
}

// restore snapshots (a checkpoint or a savepoint), restores at a random parallelism, maybe
// with another TTL, in a new run whose clock starts at the snapshot's watermark (every
// subtask shares the clock, so every handle records the same one, or none), and checks every
// state.
func (r *ttlModelRun) restore() {
	m := r.m
	hs := r.e.checkpoint(r.subs, backend.SnapshotOptions{Savepoint: r.rng.IntN(2) == 0})
	closeAll(r.subs)
	snapMs, snapNow := m.ms, m.judge()
	m.restored(func(at int64) bool { return at != noStamp && snapNow != noStamp && at+snapMs <= snapNow })
	if r.rng.IntN(3) == 0 {
		m.cfg.TTL = time.Duration(3000*(1<<r.rng.IntN(3))) * time.Millisecond
		m.ms = m.cfg.Millis()
	}
	r.e.clock = &backend.Clock{ProcessingTime: r.e.now.Load}
	if m.cfg.Time == ttl.EventTime {
		ts := m.ts
		if ts == noStamp {
			ts = snapNow
		}
		r.setTimestamp(ts)
	}
	r.open(1+r.rng.IntN(3), hs)
	// The new clock starts at the watermark the handles recorded (every subtask shares the
	// clock, so they all recorded the same one, or none). A snapshot without any handle (the
	// hashmap backend writes none for a subtask without state) restores none: the new run
	// knows no watermark until the next one arrives, as a job restarted before its first.
	wm := int64(noStamp)
	for _, h := range hs {
		if h != nil && h.TTLWatermark != nil {
			wm = *h.TTLWatermark
			break
		}
	}
	if got := r.e.clock.Watermark(); got != wm {
		r.fail("restored clock's watermark %d, the handles recorded %d", got, wm)
	}
	m.wm = wm
	r.checkAll()
}

func (r *ttlModelRun) at(k tKey) tHandles {
	s := route(r.subs, k.k)
	setKey(r.t, s, k.k)
	h := r.hs[slices.Index(r.subs, s)]
	h.setNS(k.ns)
	return h
}

// checkAll reads every state of every key and namespace, and the keys of the value state.
func (r *ttlModelRun) checkAll() {
	for _, ns := range tModelNS {
		var got []int64
		for _, s := range r.subs {
			got = append(got, collect(r.t, s.kb.Keys("mv", []byte(ns)))...)
		}
		for _, k := range got {
			if r.m.value[tKey{k, ns}] == nil {
				r.fail("Keys(%q) has key %d, which has no value", ns, k)
			}
		}
		for k := int64(0); k < tModelKeys; k++ {
			if e := r.m.value[tKey{k, ns}]; e != nil && !e.maybe && !r.m.expired(e.at) && !slices.Contains(got, k) {
				r.fail("Keys(%q) = %v misses key %d, which has a live value", ns, sorted(got), k)
			}
		}
	}
	for k := int64(0); k < tModelKeys; k++ {
		for _, ns := range tModelNS {
			key := tKey{k, ns}
			h := r.at(key)
			r.readValue(key, h)
			r.readList(key, h)
			r.readMap(key, h)
			r.readSum(key, h)
		}
	}
}

func (r *ttlModelRun) readValue(k tKey, h tHandles) {
	v, ok := get[int64](r.t, h.v)
	n, err := r.m.observe(r.m.value[k], v, ok)
	if err != nil {
		r.fail("value(%v): %v", k, err)
	}
	if n == nil {
		delete(r.m.value, k)
	} else {
		r.m.value[k] = n
	}
}

func (r *ttlModelRun) readList(k tKey, h tHandles) {
	if err := r.m.observeList(k, collect(r.t, h.l.Get())); err != nil {
		r.fail("list(%v): %v", k, err)
	}
}

func (r *ttlModelRun) readMap(k tKey, h tHandles) {
	got := map[int64]int64{}
	for en, err := range h.m.All() {
		must(r.t, err)
		got[en.Key] = en.Value
	}
	if err := r.m.observeMap(k, got); err != nil {
		r.fail("map(%v): %v", k, err)
	}
}

func (r *ttlModelRun) readSum(k tKey, h tHandles) {
	v, ok, err := h.r.Get()
	must(r.t, err)
	if err := r.m.observeSum(k, v, ok); err != nil {
		r.fail("sum(%v): %v", k, err)
	}
}

// step applies one random operation on k to the backend and the model.
func (r *ttlModelRun) step(k tKey) {
	m, t, rng := r.m, r.t, r.rng
	h := r.at(k)
	switch rng.IntN(17) {
	case 0, 1:
		v := rng.Int64N(1000)
		must(t, h.v.Update(v))
		m.value[k] = &tEntry{v: v, at: m.stamp()}
	case 2:
		r.readValue(k, h)
	case 3:
		must(t, h.v.Clear())
		delete(m.value, k)
	case 4:
		m.nextValue++
		must(t, h.l.Add(m.nextValue))
		m.setList(k, append(slices.Clone(m.list[k]), tEntry{v: m.nextValue, at: m.stamp()}))
	case 5:
		vs := make([]int64, rng.IntN(3))
		add := make([]tEntry, len(vs))
		for i := range vs {
			m.nextValue++
			vs[i] = m.nextValue
			add[i] = tEntry{v: vs[i], at: m.stamp()}
		}
		if rng.IntN(2) == 0 {
			must(t, h.l.Update(vs))
			m.setList(k, add)
		} else {
			must(t, h.l.AddAll(vs))
			m.setList(k, append(slices.Clone(m.list[k]), add...))
		}
	case 6:
		r.readList(k, h)
	case 7:
		if rng.IntN(3) == 0 {
			must(t, h.l.Clear())
			delete(m.list, k)
		} else {
			r.readList(k, h)
		}
	case 8:
		other := tKey{k.k, tModelNS[rng.IntN(len(tModelNS))]}
		if other == k {
			break
		}
		must(t, h.l.MergeNamespaces([]byte(k.ns), [][]byte{[]byte(other.ns)}))
		must(t, h.r.MergeNamespaces([]byte(k.ns), [][]byte{[]byte(other.ns)}))
		m.mergeList(k, other)
		m.mergeSum(k, other)
	case 9, 10:
		uk, v := rng.Int64N(5), rng.Int64N(1000)
		must(t, h.m.Put(uk, v))
		m.setEntry(k, uk, &tEntry{v: v, at: m.stamp()})
	case 11:
		uk := rng.Int64N(5)
		var v int64
		var ok bool
		var err error
		if rng.IntN(2) == 0 {
			v, ok, err = h.m.Get(uk)
		} else if ok, err = h.m.Contains(uk); ok && m.mp[k][uk] != nil {
			v = m.mp[k][uk].v // Contains says only whether Get would return the entry
		}
		must(t, err)
		n, err := m.observe(m.mp[k][uk], v, ok)
		if err != nil {
			r.fail("map(%v) Get/Contains(%d): %v", k, uk, err)
		}
		m.setEntry(k, uk, n)
	case 12:
		uk := rng.Int64N(5)
		must(t, h.m.Remove(uk))
		m.setEntry(k, uk, nil)
	case 13:
		switch rng.IntN(4) {
		case 0:
			must(t, h.m.Clear())
			delete(m.mp, k)
		case 1:
			r.isEmpty(k, h)
		default:
			r.readMap(k, h)
		}
	case 14, 15:
		x := rng.Int64N(10)
		must(t, h.r.Add(x))
		m.addSum(k, x)
	case 16:
		if rng.IntN(4) == 0 {
			must(t, h.r.Clear())
			delete(m.sum, k)
		} else {
			r.readSum(k, h)
		}
	}
}

// isEmpty checks IsEmpty, then reads the whole map at the same time: IsEmpty reads (and with
// OnReadAndWrite restamps) only the entries before the first visible one, in the backend's
// order, which the full read that follows makes known again.
func (r *ttlModelRun) isEmpty(k tKey, h tHandles) {
	empty, err := h.m.IsEmpty()
	must(r.t, err)
	mustHave, mayHave := false, false
	for _, e := range r.m.mp[k] {
		exp := r.m.expired(e.at)
		mustHave = mustHave || (!exp && !e.maybe)
		mayHave = mayHave || !exp || r.m.returnsExpired()
	}
	if (empty && mustHave) || (!empty && !mayHave) {
		r.fail("map(%v).IsEmpty = %v, model %s", k, empty, fmtMap(r.m.mp[k]))
	}
	r.readMap(k, h)
}

package heap

import (
	"fmt"
	"slices"
	"sync"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// Incremental checkpoints (docs/design.md, "hashmap backend: incremental checkpoints").
//
// Every write marks its (key, namespace) in its state's dirty log: in the set of the current
// generation, one set per key group, allocated on the first mark. A checkpoint's synchronous
// phase freezes the current generation (a pointer swap per state, and a new slice of key
// groups: O(states x key groups), as the freeze of the tables) and keeps the generations of
// every checkpoint since the last confirmed one: the delta writes the union of their keys, a
// tombstone and then the cell as the frozen tables hold it (nothing, if it was removed). A
// confirmation (NotifyCheckpointComplete) of a checkpoint whose chain is known drops the
// generations it covers; a lost, late or aborted checkpoint drops nothing, so its changes are
// carried into the next delta.

// IncrementalOptions are the options of the hashmap backend's incremental checkpoints
// (state.backend.incremental: true). The zero value means the defaults.
type IncrementalOptions struct {
	// MaxDeltas bounds the deltas of a chain: a checkpoint whose confirmed predecessor's
	// chain already has MaxDeltas deltas writes a new base. Default (0): DefaultMaxDeltas.
	// Configuration: state.backend.hashmap.incremental.max-deltas.
	MaxDeltas int
	// MaxDeltaRatio bounds the bytes of a chain's deltas, as a fraction of its base's: a
	// checkpoint whose confirmed predecessor's deltas add up to more writes a new base.
	// Default (0): DefaultMaxDeltaRatio. Configuration:
	// state.backend.hashmap.incremental.max-delta-ratio.
	MaxDeltaRatio float64
}

// The defaults of IncrementalOptions.
const (
	// DefaultMaxDeltas is IncrementalOptions.MaxDeltas's default: a restore reads a base and
	// at most 10 deltas.
	DefaultMaxDeltas = 10
	// DefaultMaxDeltaRatio is IncrementalOptions.MaxDeltaRatio's default: a restore reads
	// at most 1.5 times the bytes of a full checkpoint (plus the last delta).
	DefaultMaxDeltaRatio = 0.5
)

// withDefaults returns o with its zero fields set to the defaults.
func (o IncrementalOptions) withDefaults() IncrementalOptions {
	if o.MaxDeltas <= 0 {
		o.MaxDeltas = DefaultMaxDeltas
	}
	if o.MaxDeltaRatio <= 0 {
		o.MaxDeltaRatio = DefaultMaxDeltaRatio
	}
	return o
}

// Validate reports options that are out of range.
func (o IncrementalOptions) Validate() error {
	if o.MaxDeltas < 0 || o.MaxDeltas >= snapshot.MaxChainLength {
		return fmt.Errorf("heap backend: IncrementalOptions.MaxDeltas %d is outside [0, %d); use 0 for the default %d", o.MaxDeltas, snapshot.MaxChainLength, DefaultMaxDeltas)
	}
	if o.MaxDeltaRatio < 0 || o.MaxDeltaRatio != o.MaxDeltaRatio {
		return fmt.Errorf("heap backend: IncrementalOptions.MaxDeltaRatio %v is negative or not a number; use 0 for the default %v", o.MaxDeltaRatio, DefaultMaxDeltaRatio)
	}
	return nil
}

// dirtyLog records the (key, namespace) pairs of one state written since the last confirmed
// checkpoint. Only the task goroutine uses it; a snapshot keeps the frozen generations' sets,
// which are never modified again.
type dirtyLog struct {
	cur  []*kgTable[struct{}] // marks since the last synchronous phase, per key group index
	gens []dirtyGen           // frozen at synchronous phases, oldest first
	// kg is the mark of a key group written as a whole (timers): a set without keys.
	kg *kgTable[struct{}]
	// hint is, per key group index, the number of keys marked in the last generation: a new
	// set starts that large, so that marking does not grow it step by step every time.
	hint []int32
}

// dirtyGen is a generation: the marks between two synchronous phases, frozen at the later,
// checkpoint id's.
type dirtyGen struct {
	id   int64
	sets []*kgTable[struct{}]
}

func newDirtyLog(n int) *dirtyLog {
	return &dirtyLog{cur: make([]*kgTable[struct{}], n), kg: newKGTable[struct{}](0), hint: make([]int32, n)}
}

// set returns the current generation's set of key group index i, creating it.
func (d *dirtyLog) set(i int) *kgTable[struct{}] {
	t := d.cur[i]
	if t == nil {
		t = &kgTable[struct{}]{u64: make(map[uint64]struct{}, d.hint[i]), short: map[skey]struct{}{}, long: map[mkey]struct{}{}}
		d.cur[i] = t
	}
	return t
}

// mark records k in key group index i.
func (d *dirtyLog) mark(i int, k *tkey) { d.set(i).putOwn(k, struct{}{}) }

// markU64 is mark for a key in the u64 form.
func (d *dirtyLog) markU64(i int, u uint64) { d.set(i).u64[u] = struct{}{} }

// markKeyGroup records that key group index i is to be written whole.
func (d *dirtyLog) markKeyGroup(i int) { d.cur[i] = d.kg }

// freeze ends the current generation as checkpoint id's and returns the sets of every
// generation since the last confirmed checkpoint, oldest first.
func (d *dirtyLog) freeze(id int64) [][]*kgTable[struct{}] {
	d.gens = append(d.gens, dirtyGen{id: id, sets: d.cur})
	for i, t := range d.cur {
		if t != nil && t != d.kg {
			d.hint[i] = int32(min(len(t.u64), 1<<16))
		}
	}
	d.cur = make([]*kgTable[struct{}], len(d.cur))
	out := make([][]*kgTable[struct{}], len(d.gens))
	for i, g := range d.gens {
		out[i] = g.sets
	}
	return out
}

// reset drops every mark, current and frozen.
func (d *dirtyLog) reset() {
	d.gens = nil
	clear(d.cur)
}

// confirm drops the generations of checkpoints up to id.
func (d *dirtyLog) confirm(id int64) {
	d.gens = slices.DeleteFunc(d.gens, func(g dirtyGen) bool { return g.id <= id })
}

// writableKey is writable for a write to k, which it marks in s's dirty log first.
func writableKey[C any](s *stateBase, ts []*kgTable[C], i int, k *tkey) *kgTable[C] {
	if s.d != nil {
		s.d.mark(i, k)
	}
	return writable(s.b, ts, i)
}

// chain is the chain of handles a checkpoint's keyed state consists of.
type chain struct {
	handles    []*snapshot.KeyedStateHandle // base first; none: the state was empty
	baseBytes  int64
	deltaBytes int64
}

func newChain(hs []*snapshot.KeyedStateHandle) *chain {
	c := &chain{handles: hs}
	for i, h := range hs {
		if i == 0 {
			c.baseBytes = h.File.Size
		} else {
			c.deltaBytes += h.File.Size
		}
	}
	return c
}

// incState is the backend's bookkeeping of incremental checkpoints.
type incState struct {
	opts IncrementalOptions
	logs map[string]*dirtyLog // by state name
	// confirmed is the chain of the last confirmed checkpoint (or of the claimed restore),
	// on which the next delta builds; nil: the next checkpoint writes a base.
	confirmed *chain
	// floor: confirmations of checkpoints up to floor are ignored (their synchronous phase
	// came before the state changed in a way the chain cannot express, see resetBase).
	floor  int64
	lastID int64 // the id of the last synchronous phase

	mu   sync.Mutex
	done map[int64]*chain // chains of finished asynchronous phases, by checkpoint id
}

func newIncState(o IncrementalOptions) *incState {
	return &incState{opts: o.withDefaults(), logs: map[string]*dirtyLog{}, done: map[int64]*chain{}}
}

// log returns the dirty log of state name.
func (b *Backend) dirtyLog(name string) *dirtyLog {
	d, ok := b.inc.logs[name]
	if !ok {
		d = newDirtyLog(b.rng.Len())
		b.inc.logs[name] = d
	}
	return d
}

// track makes t's writes mark its dirty log, if checkpoints are incremental. Called once t
// holds what a restore put in it: restored entries are in the chain already, or the next
// checkpoint is a base.
func (b *Backend) track(name string, t table) {
	if b.inc == nil {
		return
	}
	switch x := t.(type) {
	case interface{ base() *stateBase }:
		x.base().d = b.dirtyLog(name)
	case *timerQueue:
		x.d = b.dirtyLog(name)
	}
}

// resetBase makes the next checkpoints bases until one of them is confirmed: the restored
// state was rewritten at its registration, which the chain's files do not show.
func (b *Backend) resetBase() {
	if b.inc != nil {
		b.inc.confirmed, b.inc.floor = nil, b.inc.lastID
	}
}

// incSnap is an incremental snapshot's part of the bookkeeping, fixed at its synchronous
// phase.
type incSnap struct {
	st   *incState
	base bool
	prev *chain // the chain a delta builds on
	// dirty holds, per state of the snapshot, the sets of every generation since prev's
	// checkpoint.
	dirty [][][]*kgTable[struct{}]
}

// beginIncremental runs the bookkeeping part of checkpoint id's synchronous phase.
func (b *Backend) beginIncremental(id int64) *incSnap {
	st := b.inc
	if len(b.order) > 0 && len(b.dirtyLog(b.order[0]).gens) >= 2*st.opts.MaxDeltas {
		// So many checkpoints since the last confirmed one (notifications lost, or
		// snapshots that never ran) that the marks grow without bound: start again from a
		// base, as a consolidation would. (Before lastID moves: this base's confirmation
		// counts.)
		b.resetBase()
	}
	st.lastID = id
	s := &incSnap{st: st, prev: st.confirmed}
	c := st.confirmed
	s.base = c == nil || len(c.handles) == 0 || len(c.handles)-1 >= st.opts.MaxDeltas ||
		float64(c.deltaBytes) > st.opts.MaxDeltaRatio*float64(c.baseBytes)
	for _, name := range b.order {
		d := b.dirtyLog(name)
		if s.base {
			// A base holds everything, and every checkpoint until one is confirmed is a base
			// too (the decision depends on the confirmed chain only): no delta will need
			// the marks so far.
			d.reset()
			s.dirty = append(s.dirty, nil)
			continue
		}
		s.dirty = append(s.dirty, d.freeze(id))
	}
	return s
}

// dirtyAt returns the non-empty sets of state i's key group index kgIdx.
func (s *incSnap) dirtyAt(i, kgIdx int) []*kgTable[struct{}] {
	var out []*kgTable[struct{}]
	for _, g := range s.dirty[i] {
		if t := g[kgIdx]; t != nil {
			out = append(out, t)
		}
	}
	return out
}

// finished records the chain of checkpoint id, for its confirmation.
func (s *incSnap) finished(id int64, c *chain) {
	s.st.mu.Lock()
	s.st.done[id] = c
	s.st.mu.Unlock()
}

// confirm handles the confirmation of checkpoint id: if its chain is known and no later
// checkpoint's synchronous phase ran, the next deltas build on it and the marks it covers are
// dropped. Confirmations may be lost, late or out of order: any other one changes nothing, and
// the next deltas keep building on the chain they build on (holding more changes). A later
// synchronous phase is the reason to ignore one: that checkpoint does not reference id's
// delta, and once it completes, retention may delete checkpoint id and with it the delta a
// chain built on id would need.
func (st *incState) confirm(id int64) {
	st.mu.Lock()
	c := st.done[id]
	for k := range st.done {
		if k <= id {
			delete(st.done, k)
		}
	}
	st.mu.Unlock()
	if c == nil || id <= st.floor || id != st.lastID {
		return
	}
	st.confirmed, st.floor = c, id
	for _, d := range st.logs {
		d.confirm(id)
	}
}

// deltaTables writes a tombstone of every key of dirty in key group index kgIdx of state idx
// (of states) and returns tables in which that key group holds only those keys' cells, as ts
// holds them: a frozen state's write over them writes the cells that replace the tombstones.
func deltaTables[C any](w *snapshot.BlockBuilder, states, idx int, ts []*kgTable[C], kgIdx int, dirty []*kgTable[struct{}]) []*kgTable[C] {
	keys := dirty[0]
	if len(dirty) > 1 {
		keys = newKGTable[struct{}](0)
		for _, d := range dirty {
			d.eachOwn(func(key, ns []byte, _ struct{}) bool {
				var k tkey
				var buf []byte
				k.setKey(key, ns, &buf)
				keys.putOwn(&k, struct{}{})
				return true
			})
		}
	}
	sub := newKGTable[C](0)
	src := ts[kgIdx]
	var k tkey
	var buf []byte
	keys.eachOwn(func(key, ns []byte, _ struct{}) bool {
		w.Tombstone(states, idx, snapshot.TombstoneCell, key, ns)
		k.setKey(key, ns, &buf)
		if c, ok := src.get(&k); ok {
			sub.putOwn(&k, c)
		}
		return true
	})
	out := make([]*kgTable[C], kgIdx+1)
	out[kgIdx] = sub
	return out
}

// deltaWriter is a frozen state that writes deltas: the cells of dirty's keys in key group
// index kgIdx, each after a tombstone.
type deltaWriter interface {
	writeDelta(w *snapshot.BlockBuilder, states, idx, kgIdx int, dirty []*kgTable[struct{}], scratch []byte) ([]byte, error)
}

func (f *frozenValues) writeDelta(w *snapshot.BlockBuilder, states, idx, kgIdx int, dirty []*kgTable[struct{}], scratch []byte) ([]byte, error) {
	g := *f
	g.tables = deltaTables(w, states, idx, f.tables, kgIdx, dirty)
	return g.write(w, idx, kgIdx, scratch)
}

func (f *frozenWords) writeDelta(w *snapshot.BlockBuilder, states, idx, kgIdx int, dirty []*kgTable[struct{}], scratch []byte) ([]byte, error) {
	g := *f
	g.tables = deltaTables(w, states, idx, f.tables, kgIdx, dirty)
	return g.write(w, idx, kgIdx, scratch)
}

func (f *frozenStampedWords) writeDelta(w *snapshot.BlockBuilder, states, idx, kgIdx int, dirty []*kgTable[struct{}], scratch []byte) ([]byte, error) {
	g := *f
	g.tables = deltaTables(w, states, idx, f.tables, kgIdx, dirty)
	return g.write(w, idx, kgIdx, scratch)
}

func (f *frozenLists[E]) writeDelta(w *snapshot.BlockBuilder, states, idx, kgIdx int, dirty []*kgTable[struct{}], scratch []byte) ([]byte, error) {
	g := *f
	g.tables = deltaTables(w, states, idx, f.tables, kgIdx, dirty)
	return g.write(w, idx, kgIdx, scratch)
}

func (f *frozenMaps) writeDelta(w *snapshot.BlockBuilder, states, idx, kgIdx int, dirty []*kgTable[struct{}], scratch []byte) ([]byte, error) {
	g := *f
	g.tables = deltaTables(w, states, idx, f.tables, kgIdx, dirty)
	return g.write(w, idx, kgIdx, scratch)
}

func (f *frozenWordMaps[V]) writeDelta(w *snapshot.BlockBuilder, states, idx, kgIdx int, dirty []*kgTable[struct{}], scratch []byte) ([]byte, error) {
	g := *f
	g.tables = deltaTables(w, states, idx, f.tables, kgIdx, dirty)
	return g.write(w, idx, kgIdx, scratch)
}

// writeDelta of timers writes a dirty key group whole, after a key-group tombstone: a key
// group's timer queue is copied whole on its first change after a snapshot anyway.
func (f *frozenTimers) writeDelta(w *snapshot.BlockBuilder, states, idx, kgIdx int, _ []*kgTable[struct{}], scratch []byte) ([]byte, error) {
	w.Tombstone(states, idx, snapshot.TombstoneKeyGroup, nil, nil)
	return f.write(w, idx, kgIdx, scratch)
}

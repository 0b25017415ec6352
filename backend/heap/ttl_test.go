package heap

// Tests of the hashmap backend's part of state TTL: incremental cleanup and full snapshots
// that leave expired entries out. They count what the tables store (not what reads return,
// since a read of an expired entry removes it itself).

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

const ttlKGs = 128

// ttlEnv is a backend under a manual processing-time clock (ms), with checkpoint storage.
type ttlEnv struct {
	t     *testing.T
	now   *atomic.Int64
	clock *backend.Clock
	cps   *checkpoint.Checkpoints
	id    int64
}

func newTTLEnv(t *testing.T) *ttlEnv {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{NumRetained: 10})
	if err != nil {
		t.Fatal(err)
	}
	now := new(atomic.Int64)
	return &ttlEnv{t: t, now: now, clock: &backend.Clock{ProcessingTime: now.Load}, cps: cps}
}

// open creates a backend on the env's clock, restoring hs.
func (e *ttlEnv) open(hs ...*snapshot.KeyedStateHandle) (*Backend, *state.KeyedBackend[int64]) {
	e.t.Helper()
	b, err := New(context.Background(), backend.Options{OperatorID: "op", MaxParallelism: ttlKGs,
		KeyGroupRange: keygroup.Range{Start: 0, End: ttlKGs - 1}, KeySerializerID: serde.Int64{}.ID(),
		Clock: e.clock, Restore: hs, Reader: e.cps.Reader()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { b.Close() })
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	if err != nil {
		e.t.Fatal(err)
	}
	return b, kb
}

// run runs the asynchronous phase of snap into checkpoint id and returns its handle. It may
// run on another goroutine than the test's.
func (e *ttlEnv) run(snap backend.AsyncSnapshot, id int64) (*snapshot.KeyedStateHandle, error) {
	p, err := e.cps.Begin(id)
	if err != nil {
		return nil, err
	}
	return snap.Run(context.Background(), p)
}

// checkpoint takes a whole snapshot of b.
func (e *ttlEnv) checkpoint(b *Backend) *snapshot.KeyedStateHandle {
	e.t.Helper()
	e.id++
	snap, err := b.Snapshot(e.id, backend.SnapshotOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := e.run(snap, e.id)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// stored counts the cells (key and namespace) of state name and their values, list elements
// or map entries, straight from its tables (all layers), without going through the TTL view.
func stored(t *testing.T, b *Backend, name string) (cells, entries int) {
	t.Helper()
	switch s := b.states[name].(type) {
	case *valueState:
		eachCell(s.tables, func(valueCell) { cells++; entries++ })
	case *listState[any]:
		eachCell(s.tables, func(c *listCell[any]) { cells++; entries += len(c.items) })
	case *mapState:
		eachCell(s.tables, func(c *mapCell) { cells++; entries += len(c.m) })
	case *wordKeyMapState:
		eachCell(s.tables, func(c *mapCell) { cells++; entries += len(c.m) })
	case *stampedWordState:
		eachCell(s.tables, func(ttlview.StampedWord) { cells++; entries++ })
	case *stampedWordListState:
		eachCell(s.tables, func(c *listCell[ttlview.StampedWord]) { cells++; entries += len(c.items) })
	case *stampedWordMapState:
		eachCell(s.tables, func(c wordMapCell[ttlview.StampedWord]) { cells++; entries += c.len() })
		checkIndex(t, &s.wordMaps)
	default:
		t.Fatalf("state %q is a %T", name, b.states[name])
	}
	return cells, entries
}

func eachCell[C any](ts []*kgTable[C], fn func(C)) {
	for _, tb := range ts {
		tb.each(func(_, _ []byte, c C) bool { fn(c); return true })
	}
}

// stamps returns the stamps of state name's stored values, elements and entries.
func stamps(t *testing.T, b *Backend, name string) []int64 {
	t.Helper()
	var out []int64
	add := func(v any) {
		st, ok := v.(ttlview.Stamped)
		if !ok {
			t.Fatalf("state %q stores a %T", name, v)
		}
		out = append(out, st.At)
	}
	switch s := b.states[name].(type) {
	case *valueState:
		eachCell(s.tables, func(c valueCell) { add(ttlview.Stamped{At: c.at, V: c.v}) })
	case *listState[any]:
		eachCell(s.tables, func(c *listCell[any]) {
			for _, e := range c.items {
				add(e)
			}
		})
	case *wordKeyMapState:
		eachCell(s.tables, func(c *mapCell) {
			for _, e := range c.m {
				add(e.Value)
			}
		})
	case *stampedWordState:
		eachCell(s.tables, func(c ttlview.StampedWord) { out = append(out, c.At) })
	case *stampedWordListState:
		eachCell(s.tables, func(c *listCell[ttlview.StampedWord]) {
			for _, e := range c.items {
				out = append(out, e.At)
			}
		})
	case *stampedWordMapState:
		eachCell(s.tables, func(c wordMapCell[ttlview.StampedWord]) {
			c.each(func(_ uint64, e ttlview.StampedWord) bool { out = append(out, e.At); return true })
		})
	default:
		t.Fatalf("state %q is a %T", name, b.states[name])
	}
	return out
}

// ttlStates registers a value, a list and a map state with cfg, each boxed and as words:
// wv, l and wm keep words beside their stamps (stampedWordState, stampedWordListState,
// stampedWordMapState), v, bl and m keep boxed values. A twin gets what its other gets.
type ttlStates struct {
	v  state.ValueState[[]byte]
	l  state.ListState[int64]
	m  state.MapState[int64, string]
	wv state.ValueState[int64]
	bl state.ListState[string]
	wm state.MapState[int64, int64]
}

func registerTTL(t *testing.T, kb *state.KeyedBackend[int64], cfg ttl.Config) ttlStates {
	t.Helper()
	v, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v", TTL: cfg})
	if err != nil {
		t.Fatal(err)
	}
	l, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "l", TTL: cfg})
	if err != nil {
		t.Fatal(err)
	}
	m, err := state.GetMapState(kb, state.MapDescriptor[int64, string]{Name: "m", TTL: cfg})
	if err != nil {
		t.Fatal(err)
	}
	s := ttlStates{v: v, l: l, m: m}
	s.wv, err = state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "wv", TTL: cfg})
	must(t, err)
	s.bl, err = state.GetListState(kb, state.ListDescriptor[string]{Name: "bl", TTL: cfg})
	must(t, err)
	s.wm, err = state.GetMapState(kb, state.MapDescriptor[int64, int64]{Name: "wm", TTL: cfg})
	must(t, err)
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fill writes keys [0, n) of all three states at the current time: a value, a list element
// and a map entry (user key 1); keys below n/2 get a second element and entry (user key 2)
// after 6 s. It leaves the clock at 6 s past where it found it.
func fill(t *testing.T, e *ttlEnv, kb *state.KeyedBackend[int64], s ttlStates, n int64) {
	t.Helper()
	for k := range n {
		must(t, kb.SetCurrentKey(k))
		must(t, s.v.Update([]byte{byte(k)}))
		must(t, s.l.Add(k))
		must(t, s.m.Put(1, "a"))
		must(t, s.wv.Update(k))
		must(t, s.bl.Add(fmt.Sprint(k)))
		must(t, s.wm.Put(1, k))
	}
	e.now.Add(6_000)
	for k := range n / 2 {
		must(t, kb.SetCurrentKey(k))
		must(t, s.l.Add(-k))
		must(t, s.m.Put(2, "b"))
		must(t, s.bl.Add(fmt.Sprint(-k)))
		must(t, s.wm.Put(2, -k))
	}
}

// drainAccesses is how many accesses of other keys one whole lap of the cleanup takes at most
// over entries stored entries (each access checks size of them, switching key groups counts
// as a check), plus one lap begun before the entries expired and one access to start.
func drainAccesses(entries, size int) int {
	return 2*((ttlKGs+entries+size-1)/size) + 1
}

// access reads key -1 of each state n times: accesses that read none of the stored keys.
func access(t *testing.T, kb *state.KeyedBackend[int64], s ttlStates, n int) {
	t.Helper()
	must(t, kb.SetCurrentKey(-1))
	for range n {
		if _, ok, err := s.v.Value(); err != nil || ok {
			t.Fatalf("key -1: ok=%v err=%v", ok, err)
		}
		for _, err := range s.l.Get() {
			must(t, err)
		}
		if _, _, err := s.m.Get(1); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.wv.Value(); err != nil || ok {
			t.Fatalf("key -1: ok=%v err=%v", ok, err)
		}
		for _, err := range s.bl.Get() {
			must(t, err)
		}
		if _, _, err := s.wm.Get(1); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTTLCleanupWithoutReads: keys written once and never read again leave memory once
// expired, through the accesses of another key alone, within the accesses a lap takes; the
// live elements and entries stay.
func TestTTLCleanupWithoutReads(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	cfg := ttl.Config{TTL: 10 * time.Second}
	s := registerTTL(t, kb, cfg)
	const n = 2000
	fill(t, e, kb, s, n)
	want := twins(map[string][2]int{"v": {n, n}, "l": {n, n + n/2}, "m": {n, n + n/2}})
	for name, w := range want {
		if c, en := stored(t, b, name); c != w[0] || en != w[1] {
			t.Fatalf("%s before expiry: %d cells, %d entries; want %v", name, c, en, w)
		}
	}
	e.now.Add(4_000) // the first writes are 10 s old
	access(t, kb, s, drainAccesses(n+n/2, cfg.Cleanup()))
	want = twins(map[string][2]int{"v": {0, 0}, "l": {n / 2, n / 2}, "m": {n / 2, n / 2}})
	for name, w := range want {
		if c, en := stored(t, b, name); c != w[0] || en != w[1] {
			t.Fatalf("%s after expiry: %d cells, %d entries; want %v", name, c, en, w)
		}
	}
	must(t, kb.SetCurrentKey(0))
	var got []int64
	for v, err := range s.l.Get() {
		must(t, err)
		got = append(got, v)
	}
	if len(got) != 1 || got[0] != 0 {
		t.Fatalf("live list elements of key 0: %v, want [0]", got)
	}
}

// TestTTLCleanupOff: with CleanupSize -1 nothing is removed but by reads.
func TestTTLCleanupOff(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	s := registerTTL(t, kb, ttl.Config{TTL: 10 * time.Second, CleanupSize: -1})
	fill(t, e, kb, s, 100)
	e.now.Add(4_000)
	access(t, kb, s, drainAccesses(150, 1))
	if c, _ := stored(t, b, "v"); c != 100 {
		t.Fatalf("value cells = %d with cleanup off, want 100", c)
	}
}

// TestTTLMemoryPlateau: 200k distinct keys arrive at rate keys/ms under a TTL of ttlMs, each
// written once. The stored entries never exceed the live ones (rate x TTL) by more than the
// entries that arrive while one cleanup lap goes round: a lap checks cleanup entries per
// access, so over N stored entries it takes (N + key groups)/cleanup accesses, and an entry
// expires at most one lap before it is removed. N <= rate*TTL + rate + (N + kgs)/cleanup
// gives the bound.
func TestTTLMemoryPlateau(t *testing.T) {
	const (
		keys  = 200_000
		rate  = 10 // keys per ms
		ttlMs = 1_000
	)
	e := newTTLEnv(t)
	b, kb := e.open()
	cfg := ttl.Config{TTL: ttlMs * time.Millisecond}
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	size := float64(cfg.Cleanup())
	bound := int((rate*ttlMs + rate + ttlKGs/size) * size / (size - 1))
	peak := 0
	for k := range int64(keys) {
		if k%rate == 0 {
			e.now.Add(1)
		}
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
		if k%997 == 0 {
			c, _ := stored(t, b, "v")
			peak = max(peak, c)
			if c > bound {
				t.Fatalf("after %d keys (%d TTLs): %d entries stored, bound %d (live %d)", k+1, k/rate/ttlMs, c, bound, rate*ttlMs)
			}
		}
	}
	c, _ := stored(t, b, "v")
	if c < rate*ttlMs {
		t.Fatalf("%d entries stored at the end, fewer than the %d live ones", c, rate*ttlMs)
	}
	t.Logf("peak %d entries stored, live %d, bound %d", peak, rate*ttlMs, bound)
}

// TestTTLCleanupDuringSnapshot: a cleanup that removes every entry while a snapshot's
// asynchronous phase runs (concurrently: -race checks the frozen cells are not written)
// leaves the snapshot as it was at its synchronous phase.
func TestTTLCleanupDuringSnapshot(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	cfg := ttl.Config{TTL: 10 * time.Second}
	s := registerTTL(t, kb, cfg)
	const n = 1000
	fill(t, e, kb, s, n)
	snap, err := b.Snapshot(1, backend.SnapshotOptions{})
	must(t, err)
	e.now.Add(10_000) // everything expired
	var h *snapshot.KeyedStateHandle
	done := make(chan error)
	go func() {
		var err error
		h, err = e.run(snap, 1)
		done <- err
	}()
	access(t, kb, s, drainAccesses(n+n/2, cfg.Cleanup()))
	must(t, <-done)
	for _, name := range ttlNames {
		if c, _ := stored(t, b, name); c != 0 {
			t.Fatalf("%s: %d cells left after the cleanup", name, c)
		}
	}
	e.now.Add(-10_000) // the restored entries are judged at the snapshot's time again
	b2, kb2 := e.open(h)
	s2 := registerTTL(t, kb2, ttl.Config{TTL: 10 * time.Second, CleanupSize: -1})
	want := twins(map[string][2]int{"v": {n, n}, "l": {n, n + n/2}, "m": {n, n + n/2}})
	for name, w := range want {
		if c, en := stored(t, b2, name); c != w[0] || en != w[1] {
			t.Fatalf("%s restored: %d cells, %d entries; want %v", name, c, en, w)
		}
	}
	must(t, kb2.SetCurrentKey(7))
	if got, ok, err := s2.v.Value(); err != nil || !ok || len(got) != 1 || got[0] != 7 {
		t.Fatalf("restored value of key 7 = %v, %v, %v", got, ok, err)
	}
}

// TestTTLSnapshotDropsExpired: a full snapshot leaves out expired values, list elements and
// map entries, and lists whose elements all expired; a restore holds the live ones only.
func TestTTLSnapshotDropsExpired(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	cfg := ttl.Config{TTL: 10 * time.Second, CleanupSize: -1}
	s := registerTTL(t, kb, cfg)
	const n = 500
	fill(t, e, kb, s, n)
	e.now.Add(4_000)
	h := e.checkpoint(b)
	b2, kb2 := e.open(h)
	registerTTL(t, kb2, cfg)
	want := twins(map[string][2]int{"v": {0, 0}, "l": {n / 2, n / 2}, "m": {n / 2, n / 2}})
	for name, w := range want {
		if c, en := stored(t, b2, name); c != w[0] || en != w[1] {
			t.Fatalf("%s restored: %d cells, %d entries; want %v", name, c, en, w)
		}
	}
	e.now.Add(6_000) // now all expired: the snapshot has no record, so no file either
	if h := e.checkpoint(b2); h != nil {
		t.Fatalf("a snapshot of expired entries only wrote %s", h.File.Path)
	}
}

// TestTTLCleanupStampsNoStamp: entries restored into an event-time TTL state from a state
// without TTL, before any watermark, have no stamp; the cleanup leaves them until the time is
// known, then stamps them with it (without any read of them), and they expire one TTL later.
func TestTTLCleanupStampsNoStamp(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	plain := registerTTL(t, kb, ttl.Config{})
	const n = 300
	fill(t, e, kb, plain, n)
	h := e.checkpoint(b)

	e.clock = &backend.Clock{ProcessingTime: e.now.Load} // no watermark yet
	b2, kb2 := e.open(h)
	cfg := ttl.Config{TTL: 10 * time.Second, Time: ttl.EventTime}
	s := registerTTL(t, kb2, cfg)
	entries := n + n + n/2 + n + n/2
	for _, name := range ttlNames {
		for _, at := range stamps(t, b2, name) {
			if at != backend.NoStamp {
				t.Fatalf("%s: restored before the first watermark with stamp %d, want NoStamp", name, at)
			}
		}
	}
	access(t, kb2, s, drainAccesses(entries, cfg.Cleanup()))
	for _, name := range ttlNames {
		if got := stamps(t, b2, name); len(got) == 0 || got[0] != backend.NoStamp {
			t.Fatalf("%s: stamped before the time is known: %v", name, got[:min(3, len(got))])
		}
	}
	e.clock.AdvanceWatermark(50_000)
	access(t, kb2, s, drainAccesses(entries, cfg.Cleanup()))
	for _, name := range ttlNames {
		got := stamps(t, b2, name)
		for _, at := range got {
			if at != 50_000 {
				t.Fatalf("%s: stamp %d after the cleanup, want the watermark 50000", name, at)
			}
		}
		if (name == "v" || name == "wv") && len(got) != n {
			t.Fatalf("%s: %d values after stamping, want %d", name, len(got), n)
		}
	}
	e.clock.AdvanceWatermark(60_000)
	access(t, kb2, s, drainAccesses(entries, cfg.Cleanup()))
	for _, name := range ttlNames {
		if c, _ := stored(t, b2, name); c != 0 {
			t.Fatalf("%s: %d cells one TTL after stamping", name, c)
		}
	}
}

// TestTTLCleanupSkipsIteratedState: while a map state's entries are iterated, accesses of it
// do not clean it (an iteration may lose only the entry it just yielded), and the cleanup
// goes on afterwards.
func TestTTLCleanupSkipsIteratedState(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	cfg := ttl.Config{TTL: 10 * time.Second, CleanupSize: 1}
	s := registerTTL(t, kb, cfg)
	const n, live = 100, 50
	for k := range int64(n) {
		must(t, kb.SetCurrentKey(k))
		must(t, s.m.Put(1, "a"))
	}
	e.now.Add(5_000)
	must(t, kb.SetCurrentKey(n))
	for u := range int64(live) {
		must(t, s.m.Put(u, fmt.Sprint(u)))
	}
	e.now.Add(5_000) // keys [0, n) expired
	yielded := 0
	for _, err := range s.m.All() {
		must(t, err)
		yielded++
		if _, _, err := s.m.Get(-1); err != nil { // an access of the iterated state
			t.Fatal(err)
		}
	}
	if c, _ := stored(t, b, "m"); yielded != live || c != n+1 {
		t.Fatalf("iteration yielded %d entries (want %d), %d cells stored after it (want %d: no cleanup meanwhile)",
			yielded, live, c, n+1)
	}
	access(t, kb, s, drainAccesses(n+live, cfg.Cleanup()))
	if c, en := stored(t, b, "m"); c != 1 || en != live {
		t.Fatalf("after the iteration: %d cells, %d entries; want 1 and %d", c, en, live)
	}
}

// TestTTLCleanupNamespaces: the cleanup walks every namespace of a key (window state) and
// long keys, not only the void namespace's 8-byte keys.
func TestTTLCleanupNamespaces(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	cfg := ttl.Config{TTL: 10 * time.Second}
	s := registerTTL(t, kb, cfg)
	const n, windows = 200, 3
	for k := range int64(n) {
		must(t, kb.SetCurrentKey(k))
		for w := range windows {
			s.v.SetNamespace([]byte(fmt.Sprintf("window-%d-with-a-long-name", w)))
			must(t, s.v.Update([]byte{byte(w)}))
			s.wm.SetNamespace([]byte(fmt.Sprintf("window-%d", w)))
			must(t, s.wm.Put(int64(w), k))
		}
		s.wm.SetNamespace(nil)
		must(t, s.wm.Put(-1, k)) // and in the void namespace (indexed)
	}
	s.v.SetNamespace(nil)
	e.now.Add(5_000)
	must(t, kb.SetCurrentKey(0))
	s.v.SetNamespace([]byte("window-1-with-a-long-name"))
	must(t, s.v.Update([]byte{9})) // lives 5 s longer
	s.v.SetNamespace(nil)
	s.wm.SetNamespace([]byte("window-1"))
	must(t, s.wm.Put(1, 9))
	s.wm.SetNamespace(nil)
	must(t, s.wm.Put(-2, 9))
	if c, _ := stored(t, b, "v"); c != n*windows {
		t.Fatalf("%d cells stored, want %d", c, n*windows)
	}
	if c, _ := stored(t, b, "wm"); c != n*(windows+1) {
		t.Fatalf("wm: %d cells stored, want %d", c, n*(windows+1))
	}
	e.now.Add(5_000)
	access(t, kb, s, drainAccesses(n*(windows+1), cfg.Cleanup()))
	if c, _ := stored(t, b, "v"); c != 1 {
		t.Fatalf("%d cells stored after the cleanup, want the 1 live one", c)
	}
	if c, en := stored(t, b, "wm"); c != 2 || en != 2 {
		t.Fatalf("wm: %d cells, %d entries stored after the cleanup, want the 2 live ones", c, en)
	}
}

// TestTTLMapWordKeyReads: reads of a TTL map with word user keys (the WordKeyMap view)
// renew stamps with ttl.OnReadAndWrite, remove expired entries, and Contains and Remove work.
func TestTTLMapWordKeyReads(t *testing.T) {
	e := newTTLEnv(t)
	b, kb := e.open()
	cfg := ttl.Config{TTL: 10 * time.Second, Update: ttl.OnReadAndWrite, CleanupSize: -1}
	m, err := state.GetMapState(kb, state.MapDescriptor[int64, string]{Name: "m", TTL: cfg})
	must(t, err)
	must(t, kb.SetCurrentKey(1))
	must(t, m.Put(1, "a"))
	must(t, m.Put(2, "b"))
	must(t, m.Put(3, "c"))
	e.now.Add(6_000)
	if v, ok, err := m.Get(1); err != nil || !ok || v != "a" {
		t.Fatalf("Get(1) = %q, %v, %v", v, ok, err)
	}
	if ok, err := m.Contains(2); err != nil || !ok {
		t.Fatalf("Contains(2) = %v, %v", ok, err)
	}
	must(t, m.Remove(3))
	e.now.Add(6_000) // 12 s: the entries read at 6 s live on
	if v, ok, err := m.Get(1); err != nil || !ok || v != "a" {
		t.Fatalf("Get(1) after its renewal = %q, %v, %v", v, ok, err)
	}
	e.now.Add(10_000) // 22 s: 1 was renewed at 12 s and expired at 22 s, 2 at 16 s
	for _, uk := range []int64{1, 2, 3} {
		if ok, err := m.Contains(uk); err != nil || ok {
			t.Fatalf("Contains(%d) at 22 s = %v, %v", uk, ok, err)
		}
	}
	if c, en := stored(t, b, "m"); c != 0 || en != 0 {
		t.Fatalf("%d cells, %d entries left after reads of the expired entries", c, en)
	}
}

package lsm_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// countEntries counts the entries in b's database under the key groups (every state).
func countEntries(t testing.TB, b *lsm.Backend) int {
	t.Helper()
	lo, hi := span(0, maxP-1)
	it, err := committed(t, b).NewIter(nil)
	must(t, err)
	defer it.Close()
	it.SetBounds(lo, hi)
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	must(t, it.Error())
	return n
}

// TestTTLCleanupPlateau: keys arrive forever (200 new keys per tick of 100 ms, a TTL of 20
// ticks: 4000 live keys) and the cleanup examines twice as many entries per tick as arrive;
// over 30 TTLs (120k keys written) the entries in the store and its disk bytes stay bounded
// by a multiple of the live state, where without cleanup they would grow 30-fold.
func TestTTLCleanupPlateau(t *testing.T) {
	const (
		perTick = 200
		tick    = 100 // ms
		ttlTick = 20
		ttls    = 30
		live    = perTick * ttlTick
	)
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1})
	v, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v", TTL: ttl.Config{TTL: ttlTick * tick * time.Millisecond}})
	must(t, err)
	val := make([]byte, 100)
	key := int64(0)
	var maxEntries int
	var maxDisk uint64
	for i := range ttls * ttlTick {
		for range perTick {
			must(t, kb.SetCurrentKey(key))
			must(t, v.Update(val))
			key++
		}
		must(t, b.SweepStep(2*perTick))
		e.now.Add(tick)
		if i%ttlTick == ttlTick-1 {
			n := countEntries(t, b)
			m, _ := b.Metrics()
			disk := m.DiskSpaceUsage()
			st := b.TTLCleanupStats()
			t.Logf("after %2d TTLs: %6d keys written, %5d entries stored (%d live), %7d KiB on disk; sweep: %d visited, %d deleted, %d passes",
				(i+1)/ttlTick, key, n, live, disk>>10, st.Visited, st.Deleted, st.Passes)
			if i >= 2*ttlTick {
				maxEntries, maxDisk = max(maxEntries, n), max(maxDisk, disk)
			}
		}
	}
	// Budget r = 2 a per tick: a pass over N entries takes N/r ticks, during which a N/r
	// more expire; N = live + expired ≤ live + a (N/r) + a ⇒ N ≤ 2 live + slack.
	if maxEntries > 2*live+4*perTick {
		t.Errorf("the store held up to %d entries for %d live ones: the cleanup does not keep up", maxEntries, live)
	}
	// 4000 live entries of ~120 bytes are ~500 KiB; memtables are flushed at 1 MiB. Without
	// cleanup 120k entries would take ~14 MiB.
	if maxDisk > 4<<20 {
		t.Errorf("the store used up to %d KiB on disk for %d live entries", maxDisk>>10, live)
	}
}

// TestTTLCleanupModel runs random updates, clears, clock advances and sweep steps of random
// budgets on a value, a list and a map state with TTL, and checks after each step against a
// model (a plain map with stamps): every live entry is still there with its value (so the
// sweep never deleted an entry rewritten after it expired), and nothing expired is returned.
func TestTTLCleanupModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1})
	cfg := ttl.Config{TTL: 50 * time.Millisecond}
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	l, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "l", TTL: cfg})
	must(t, err)
	m, err := state.GetMapState(kb, state.MapDescriptor[int64, int64]{Name: "m", TTL: cfg})
	must(t, err)
	type stamped struct{ at, v int64 }
	values := map[int64]stamped{}
	lists := map[int64][]stamped{}
	maps := map[int64]map[int64]stamped{}
	keys, rounds := int64(300), 400
	if raceEnabled {
		keys, rounds = 60, 150
	}
	alive := func(s stamped) bool { return s.at+50 > e.now.Load() }
	for round := range rounds {
		for range 50 {
			k := rng.Int64N(keys)
			must(t, kb.SetCurrentKey(k))
			x := rng.Int64()
			switch rng.IntN(6) {
			case 0:
				must(t, v.Update(x))
				values[k] = stamped{e.now.Load(), x}
			case 1:
				must(t, l.Add(x))
				lists[k] = append(lists[k], stamped{e.now.Load(), x})
			case 2:
				uk := rng.Int64N(4)
				must(t, m.Put(uk, x))
				if maps[k] == nil {
					maps[k] = map[int64]stamped{}
				}
				maps[k][uk] = stamped{e.now.Load(), x}
			case 3:
				must(t, v.Clear())
				delete(values, k)
			case 4:
				e.now.Add(rng.Int64N(20))
			case 5:
				must(t, b.SweepStep(1+rng.IntN(200)))
			}
		}
		// Check every key against the model (reads clean up too; the model follows).
		for k := range keys {
			must(t, kb.SetCurrentKey(k))
			got, ok, err := v.Value()
			must(t, err)
			want, has := values[k]
			if has && !alive(want) {
				has = false
				delete(values, k)
			}
			if ok != has || ok && got != want.v {
				t.Fatalf("seed %d round %d: value of key %d = %d, %v; model %d, %v", seed, round, k, got, ok, want.v, has)
			}
			var gotL []int64
			for x, err := range l.Get() {
				must(t, err)
				gotL = append(gotL, x)
			}
			var wantL []stamped
			for _, s := range lists[k] {
				if alive(s) {
					wantL = append(wantL, s)
				}
			}
			lists[k] = wantL
			if len(gotL) != len(wantL) {
				t.Fatalf("seed %d round %d: list of key %d = %v; model %v", seed, round, k, gotL, wantL)
			}
			for i := range gotL {
				if gotL[i] != wantL[i].v {
					t.Fatalf("seed %d round %d: list of key %d = %v; model %v", seed, round, k, gotL, wantL)
				}
			}
			for uk := range int64(4) {
				got, ok, err := m.Get(uk)
				must(t, err)
				want, has := maps[k][uk]
				if has && !alive(want) {
					has = false
					delete(maps[k], uk)
				}
				if ok != has || ok && got != want.v {
					t.Fatalf("seed %d round %d: map of key %d entry %d = %d, %v; model %d, %v", seed, round, k, uk, got, ok, want.v, has)
				}
			}
		}
	}
	if st := b.TTLCleanupStats(); st.Deleted == 0 || st.Passes == 0 {
		t.Fatalf("the sweep deleted %d entries in %d passes: the test did not exercise it", st.Deleted, st.Passes)
	}
}

// TestTTLCleanupRewrittenAfterExpiry: an entry that expired and was written again before the
// sweep reached it is kept, and one that expired is deleted, by the access hook's sweep.
func TestTTLCleanupRewrittenAfterExpiry(t *testing.T) {
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{TTLCleanupRate: lsm.MaxTTLCleanupRate})
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: ttl.Config{TTL: time.Second}})
	must(t, err)
	for k := range int64(1000) {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
	}
	e.now.Add(1000) // all expired
	for k := int64(0); k < 1000; k += 2 {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(-k)) // written again: live for another second
	}
	// The hook sweeps as the task touches the state, in steps of the wall clock.
	deadline := time.Now().Add(10 * time.Second)
	for countEntries(t, b) > 500 && time.Now().Before(deadline) {
		for range 1000 {
			must(t, kb.SetCurrentKey(0))
			_, _, err := v.Value()
			must(t, err)
		}
	}
	if n := countEntries(t, b); n != 500 {
		t.Fatalf("%d entries stored after the sweep; want the 500 written again (stats %+v)", n, b.TTLCleanupStats())
	}
	for k := int64(0); k < 1000; k += 2 {
		must(t, kb.SetCurrentKey(k))
		got, ok, err := v.Value()
		if err != nil || !ok || got != -k {
			t.Fatalf("key %d, written again after it expired = %d, %v, %v", k, got, ok, err)
		}
	}
}

// TestFullSnapshotDropsExpired: a full snapshot leaves out the values, list elements and map
// entries that have expired at its synchronous phase, and keeps the live ones.
func TestFullSnapshotDropsExpired(t *testing.T) {
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1})
	cfg := ttl.Config{TTL: time.Second}
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	l, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "l", TTL: cfg})
	must(t, err)
	m, err := state.GetMapState(kb, state.MapDescriptor[int64, int64]{Name: "m", TTL: cfg})
	must(t, err)
	write := func(from, to int64) {
		for k := from; k < to; k++ {
			must(t, kb.SetCurrentKey(k))
			must(t, v.Update(k))
			must(t, l.Add(k))
			must(t, m.Put(k, k))
		}
	}
	write(0, 100)
	e.now.Add(600)
	write(50, 150) // keys 50..99: value and map entry renewed, a second list element
	e.now.Add(600) // the first writes have expired
	h := e.checkpoint(b)
	counts := map[snapshot.StateKind]int{}
	elems := 0
	must(t, snapshot.ReadKeyGroups(context.Background(), e.j.cps.Reader(), h, keygroup.Range{Start: 0, End: maxP - 1},
		func(_ int, r *snapshot.Record) error {
			counts[r.Kind]++
			elems += len(r.List)
			return nil
		}))
	if counts[snapshot.KindValue] != 100 || counts[snapshot.KindMap] != 100 || counts[snapshot.KindList] != 100 || elems != 100 {
		t.Fatalf("snapshot records %v with %d list elements; want 100 live values, map entries and lists of one element", counts, elems)
	}
	// The restored state reads the same.
	must(t, b.Close())
	_, kb = e.open(h, lsm.Options{TTLCleanupRate: -1})
	v, err = state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	for k := range int64(150) {
		must(t, kb.SetCurrentKey(k))
		got, ok, err := v.Value()
		must(t, err)
		if ok != (k >= 50) || ok && got != k {
			t.Fatalf("restored key %d = %d, %v", k, got, ok)
		}
	}
}

// TestTTLCleanupStampsNoStamp: values restored into an event-time TTL state before the first
// watermark are stamped NoStamp (they never expire); once the watermark is known the sweep
// stamps them with it, and one TTL later deletes them.
func TestTTLCleanupStampsNoStamp(t *testing.T) {
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1})
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	l, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "l"})
	must(t, err)
	const n = 200
	for k := range int64(n) {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
		must(t, l.Add(k))
	}
	h := e.checkpoint(b)
	must(t, b.Close())

	e.clock = &backend.Clock{ProcessingTime: e.now.Load} // no watermark yet
	b, kb = e.open(h, lsm.Options{TTLCleanupRate: -1})
	cfg := ttl.Config{TTL: time.Second, Time: ttl.EventTime}
	_, err = state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	_, err = state.GetListState(kb, state.ListDescriptor[int64]{Name: "l", TTL: cfg})
	must(t, err)
	must(t, b.SweepStep(10*n))
	if st := b.TTLCleanupStats(); st.Rewritten != 0 || st.Deleted != 0 {
		t.Fatalf("before any watermark the sweep changed entries: %+v", st)
	}
	e.clock.AdvanceWatermark(5_000)
	for b.TTLCleanupStats().Passes < 2 {
		must(t, b.SweepStep(10*n))
	}
	if st := b.TTLCleanupStats(); st.Rewritten != 2*n || st.Deleted != 0 {
		t.Fatalf("after the first watermark the sweep stamped %d entries and deleted %d; want %d stamped", st.Rewritten, st.Deleted, 2*n)
	}
	e.clock.AdvanceWatermark(5_999)
	for b.TTLCleanupStats().Passes < 3 {
		must(t, b.SweepStep(10*n))
	}
	if n := countEntries(t, b); n != 2*200 {
		t.Fatalf("%d entries left before the stamps expired", n)
	}
	e.clock.AdvanceWatermark(6_000)
	for b.TTLCleanupStats().Passes < 4 {
		must(t, b.SweepStep(10*n))
	}
	if left := countEntries(t, b); left != 0 {
		t.Fatalf("%d entries left one TTL after they were stamped (stats %+v)", left, b.TTLCleanupStats())
	}
}

// BenchmarkTTLCleanup measures the sweep's cost per examined entry, over 100-byte values of
// a TTL state: live (examined and kept) and expired (examined and deleted).
func BenchmarkTTLCleanup(b *testing.B) {
	for _, expired := range []bool{false, true} {
		name := "live"
		if expired {
			name = "expired"
		}
		b.Run(name, func(b *testing.B) {
			e := newTTLEnv(b, false)
			be, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1})
			v, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v", TTL: ttl.Config{TTL: time.Second}})
			must(b, err)
			n := 100_000
			if expired {
				n = b.N
			}
			val := make([]byte, 100)
			for k := range int64(n) {
				must(b, kb.SetCurrentKey(k))
				must(b, v.Update(val))
			}
			must(b, committed(b, be).Flush())
			if expired {
				e.now.Add(1000)
			}
			b.ResetTimer()
			before := be.TTLCleanupStats()
			for be.TTLCleanupStats().Visited-before.Visited < int64(b.N) {
				must(b, be.SweepStep(10_000))
			}
			b.StopTimer()
			st := be.TTLCleanupStats()
			if expired && st.Deleted-before.Deleted != int64(n) {
				b.Fatalf("deleted %d of %d expired entries", st.Deleted-before.Deleted, n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(st.Visited-before.Visited, 1)), "ns/entry")
		})
	}
}

// BenchmarkTTLPlateau is the long run of issue 19 on the wall clock: keys arrive forever at
// 20,000 new keys per second, each written once with a TTL of 2 s, for 20 TTLs, with the
// default cleanup rate driven by the access hook. It logs the entries stored and the disk
// bytes every TTL, and reports their maxima over the second half. Run it alone:
//
//	go test -run XXX -bench BenchmarkTTLPlateau -benchtime 1x -v ./backend/lsm
func BenchmarkTTLPlateau(b *testing.B) {
	const (
		rate   = 20_000 // new keys per second
		ttlDur = 2 * time.Second
		ttls   = 20
		slice  = 10 * time.Millisecond
	)
	for range b.N {
		dir := b.TempDir()
		be, err := lsm.New(context.Background(), lsm.Options{Options: backend.Options{OperatorID: "op", MaxParallelism: maxP,
			KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID()}, Dir: dir})
		must(b, err)
		kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
		must(b, err)
		v, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v", TTL: ttl.Config{TTL: ttlDur}})
		must(b, err)
		val := make([]byte, 100)
		start := time.Now()
		next := start
		key := int64(0)
		var maxEntries int
		var maxDisk uint64
		for report := 1; report <= ttls; {
			for range int(rate * slice / time.Second) {
				must(b, kb.SetCurrentKey(key))
				must(b, v.Update(val))
				key++
			}
			next = next.Add(slice)
			time.Sleep(time.Until(next))
			if time.Since(start) >= time.Duration(report)*ttlDur {
				n := countEntries(b, be)
				m, _ := be.Metrics()
				st := be.TTLCleanupStats()
				b.Logf("after %2d TTLs: %7d keys written, %6d entries stored (%d live), %6d KiB on disk; sweep: %d visited, %d deleted, %d passes",
					report, key, n, int(rate*ttlDur/time.Second), m.DiskSpaceUsage()>>10, st.Visited, st.Deleted, st.Passes)
				if report > ttls/2 {
					maxEntries, maxDisk = max(maxEntries, n), max(maxDisk, m.DiskSpaceUsage())
				}
				report++
			}
		}
		b.ReportMetric(float64(maxEntries), "max-entries")
		b.ReportMetric(float64(maxDisk>>10), "max-disk-KiB")
		must(b, be.Close())
	}
}

// TestTTLCleanupSkipsCorruptEntry: a stored value without its stamp (corrupt bytes) in the
// middle of a TTL state is skipped, counted and logged at level Error with its state and key
// group, and the sweep goes on to delete every expired entry after it, in this pass and the
// next: a corrupt entry that is never read again must not keep the sweep stopped for good.
func TestTTLCleanupSkipsCorruptEntry(t *testing.T) {
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1}) // no sweep from the access hook: SweepStep drives it
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: ttl.Config{TTL: time.Second}})
	must(t, err)
	const n = 1000
	for k := range int64(n) {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
	}
	// Corrupt the entry in the middle of the key order.
	db := committed(t, b)
	lo, hi := span(0, maxP-1)
	it, err := db.NewIter(nil)
	must(t, err)
	it.SetBounds(lo, hi)
	var bad []byte
	i := 0
	for valid := it.First(); valid && bad == nil; valid = it.Next() {
		if i++; i == n/2 {
			bad = append([]byte(nil), it.Key()...)
		}
	}
	must(t, it.Close())
	must(t, db.Set(bad, []byte{1, 2, 3}, pebble.NoSync)) // shorter than a stamp
	e.now.Add(1000)                                      // every other entry expired
	for pass := range 2 {
		for b.TTLCleanupStats().Passes == int64(pass) {
			must(t, b.SweepStep(100))
		}
		if pass == 0 {
			if got := countEntries(t, b); got != 1 {
				t.Fatalf("%d entries left after a pass; want the corrupt one only (stats %+v)", got, b.TTLCleanupStats())
			}
			for k := int64(n); k < 2*n; k++ { // new keys, expired by the next pass
				must(t, kb.SetCurrentKey(k))
				must(t, v.Update(k))
			}
			e.now.Add(1000)
		}
	}
	if got := countEntries(t, b); got != 1 {
		t.Fatalf("%d entries left after the second pass; want the corrupt one only (stats %+v)", got, b.TTLCleanupStats())
	}
	st := b.TTLCleanupStats()
	if st.Corrupt != 2 || st.Deleted != 2*n-1 {
		t.Fatalf("stats %+v; want Corrupt 2 (one per pass) and the other entries deleted", st)
	}
	logs := e.logs.String()
	if strings.Count(logs, "skips a corrupt entry") != 1 || !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "state=v") || !strings.Contains(logs, "keyGroup=") {
		t.Fatalf("want one Error line naming the state and key group of the corrupt entry; logs:\n%s", logs)
	}
}

// TestTTLCleanupWarnsWhenBehind: a pass that takes longer than the shortest TTL is logged as
// a warning that names the fix, once.
func TestTTLCleanupWarnsWhenBehind(t *testing.T) {
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1})
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: ttl.Config{TTL: 5 * time.Millisecond}})
	must(t, err)
	for k := range int64(200) {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
	}
	for pass := range int64(2) {
		for b.TTLCleanupStats().Passes == pass {
			must(t, b.SweepStep(10))
			time.Sleep(time.Millisecond) // a pass of 20 steps takes longer than the 5 ms TTL
		}
	}
	logs := e.logs.String()
	if strings.Count(logs, "took longer than the shortest TTL") != 1 || !strings.Contains(logs, "ttl-cleanup-rate") {
		t.Fatalf("want one warning naming the rate to raise; logs:\n%s", logs)
	}
}

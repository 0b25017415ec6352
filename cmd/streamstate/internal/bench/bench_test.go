package bench

import (
	"context"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/config"
	"github.com/streamstate/streamstate/state/ttl"
)

// stateBackend returns the named backend as the CLI's benchmarks build it: from the
// configuration, without managed memory.
func stateBackend(t testing.TB, name string) backend.StateBackend {
	t.Helper()
	cfg, err := config.Parse(map[string]string{config.KeyBackend: name, lsm.ConfigPrefix + "memory.managed": "false"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := cfg.StateBackend(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func opsOf(kind string) []Op {
	var ops []Op
	for _, op := range Ops {
		if op.Kind == kind {
			ops = append(ops, op)
		}
	}
	return ops
}

// TestGrowingOpsReset runs the ops that add state over several batches and checks that the
// fixture ends as preloaded: the resets work, so state does not grow with time.
func TestGrowingOpsReset(t *testing.T) {
	const keys = 300
	seqs := NewSeqs(1, keys)
	m := &meter{iterations: 3*(1<<12) + 5, rounds: 1}
	for _, kind := range Kinds {
		f, err := NewFixture(context.Background(), stateBackend(t, "hashmap"), kind, keys, seqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range opsOf(kind) {
			if op.Batch == 0 {
				continue
			}
			if _, err := m.compare(f, op); err != nil {
				t.Fatalf("%s: %v", op.Name, err)
			}
		}
		n, err := f.Keys()
		if err != nil {
			t.Fatal(err)
		}
		if n != keys {
			t.Errorf("%s state holds %d keys after the growing ops, want the %d preloaded", kind, n, keys)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBaselinesAgree checks each baseline against its backend: every read sees the same data
// on both sides, after preload, after the growing operations and after their resets.
func TestBaselinesAgree(t *testing.T) {
	const keys, n = 400, 3000
	seqs := NewSeqs(7, keys)
	for _, name := range []string{"hashmap", "lsm"} {
		for _, kind := range Kinds {
			for _, tc := range []struct {
				suffix string
				ttl    ttl.Config
			}{{"", ttl.Config{}}, {"/ttl", ttl.Config{TTL: time.Hour}}, {"/ttl-event", ttl.Config{TTL: time.Hour, Time: ttl.EventTime}}} {
				t.Run(name+"/"+kind+tc.suffix, func(t *testing.T) {
					testBaselineAgrees(t, name, kind, tc.ttl, seqs, keys, n)
				})
			}
		}
	}
}

// testBaselineAgrees is TestBaselinesAgree for one fixture: of the named backend and kind,
// with TTL cfg (then the baseline is the backend without TTL) or without.
func testBaselineAgrees(t *testing.T, name, kind string, cfg ttl.Config, seqs *Seqs, keys, n int) {
	var f *Fixture
	var err error
	if cfg.Enabled() {
		f, err = NewTTLFixture(context.Background(), stateBackend(t, name), kind, keys, seqs, cfg)
	} else {
		f, err = NewFixture(context.Background(), stateBackend(t, name), kind, keys, seqs)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}()
	if want := name == "lsm" && !cfg.Enabled(); (f.raw != nil) != want {
		t.Fatalf("%s fixture: raw pebble baseline %v", name, f.raw != nil)
	}
	check := func(when string) {
		t.Helper()
		for _, op := range opsOf(kind) {
			if op.reset != nil || op.Name == "valueUpdate" {
				continue // writes
			}
			var got [2]int64
			for side := range got {
				before := f.Sink()
				if err := f.Run(op, side, 0, n); err != nil {
					t.Fatalf("%s %s: %v", when, op.Name, err)
				}
				got[side] = f.Sink() - before
			}
			if got[0] != got[1] || got[0] == 0 {
				t.Errorf("%s %s: backend read %d, baseline %d", when, op.Name, got[0], got[1])
			}
		}
	}
	check("after preload")
	for _, op := range opsOf(kind) {
		if op.reset != nil || op.Name == "valueUpdate" {
			for side := range 2 {
				if err := f.Run(op, side, n, n); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	check("after writes")
	for _, op := range opsOf(kind) {
		for side := range 2 {
			if err := f.Reset(op, side, n, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("after resets")
	if cfg.Time != ttl.EventTime {
		return
	}
	// The measured states really have TTL: past it, the backend reads nothing, the baseline
	// all it read before.
	f.clock.AdvanceWatermark(1 + cfg.Millis())
	for _, op := range opsOf(kind) {
		if op.reset != nil || op.Name == "valueUpdate" {
			continue
		}
		var got [2]int64
		for side := range got {
			before := f.Sink()
			if err := f.Run(op, side, 0, n); err != nil {
				t.Fatalf("after the TTL %s: %v", op.Name, err)
			}
			got[side] = f.Sink() - before
		}
		if got[0] != 0 || got[1] == 0 {
			t.Errorf("after the TTL %s: backend read %d (want 0), baseline %d", op.Name, got[0], got[1])
		}
	}
}

// BenchmarkState runs the table of operations as Go benchmarks, for go test -bench,
// benchstat and -cpuprofile: BenchmarkState/<op>/{hashmap,baseline}. -short uses 10000 keys
// instead of 500000.
func BenchmarkState(b *testing.B) {
	keys := 500_000
	if testing.Short() {
		keys = 10_000
	}
	seqs := NewSeqs(1, keys)
	sb := stateBackend(b, "hashmap")
	for _, kind := range Kinds {
		var f *Fixture
		for _, op := range opsOf(kind) {
			for side, name := range []string{"hashmap", "baseline"} {
				b.Run(op.Name+"/"+name, func(b *testing.B) {
					if f == nil { // preload lazily, so -bench filters skip it
						var err error
						if f, err = NewFixture(context.Background(), sb, kind, keys, seqs); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportAllocs()
					b.ResetTimer()
					for off := 0; off < b.N; {
						n := b.N - off
						if op.reset != nil && op.Batch > 0 {
							n = min(n, op.Batch)
						}
						if err := f.Run(op, side, off, n); err != nil {
							b.Fatal(err)
						}
						if op.reset != nil {
							b.StopTimer()
							if err := f.Reset(op, side, off, n); err != nil {
								b.Fatal(err)
							}
							b.StartTimer()
						}
						off += n
					}
				})
			}
		}
		if f != nil {
			_ = f.Close()
		}
	}
}

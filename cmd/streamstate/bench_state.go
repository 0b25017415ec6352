package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// benchStateCmd is `streamstate bench state`: a state micro-benchmark in the spirit of Apache
// flink-benchmarks (ValueStateBenchmark, ListStateBenchmark, MapStateBenchmark).
//
// Each state kind gets a fresh backend that owns all key groups, preloaded with --keys int64
// keys: a value per key, a list of benchListLen elements per key, a map of benchMapKeys user
// keys per key. Every operation starts with SetCurrentKey on a key of a precomputed random
// sequence (valueAdd, listAdd: on a key that has no state yet), then does one state call.
// The operations mean what they mean in flink-benchmarks, whose published figures the
// targets quote: listAdd is Update with a one-element list on a new key, listAppend is Add
// on a preloaded key, mapIterator's time is per entry. The same operations run, in the same
// run and with the same key sequence, on a baseline: for the
// hashmap backend plain Go maps (map[int64]int64, map[int64][]int64,
// map[int64]map[int64]int64); for the lsm backend raw Pebble Get/Set/Merge/prefix scans on
// a database of its own with the lsm backend's default settings (bench_state_pebble.go).
//
// Operations that grow state (valueAdd, listAdd, listAppend, listAddAll, mapAdd) run in
// batches; after each batch, outside the timing, the keys it touched are put back as
// preloaded, so the state keeps its size however long the measurement runs.
type benchStateCmd struct {
	Backend    string        `default:"hashmap" help:"State backend to measure: ${backends}. The baseline is plain Go maps for hashmap, raw Pebble for lsm."`
	Keys       int           `default:"500000" help:"Number of preloaded keys."`
	Ops        []string      `sep:"," placeholder:"OP" help:"Operations to run (default all): ${ops}."`
	Duration   time.Duration `default:"1s" help:"Measuring time per operation, for the backend and again for the baseline, over all rounds."`
	Iterations int           `help:"Run exactly this many iterations per round instead of calibrating to --duration."`
	Rounds     int           `default:"5" help:"Rounds per operation, alternating backend and baseline; the median round of each side is reported."`
	JSON       bool          `name:"json" help:"Print one JSON object per operation and line."`
	Seed       uint64        `default:"1" help:"Seed of the key sequences."`
	CPUProfile string        `name:"cpuprofile" placeholder:"PREFIX" help:"Write a CPU profile of each operation (backend and baseline rounds) to PREFIX-<op>.pprof (go tool pprof)."`
}

const (
	benchMaxParallelism = 128
	benchListLen        = 1       // elements preloaded in every key's list (as flink-benchmarks)
	benchMapKeys        = 10      // user keys preloaded in every key's map (flink-benchmarks' mapKeyCount)
	benchAddAllLen      = 100     // elements of one listAddAll
	benchSeqLen         = 1 << 20 // length of the random key sequence; a power of two
	benchFreshLen       = 1 << 16 // fresh keys for valueAdd and listAdd: also their batch size; a power of two
)

// benchOp is one measured operation.
type benchOp struct {
	name  string
	kind  string // fixture it needs: "value", "list" or "map"
	batch int    // ops that grow state: the most operations between two resets; 0 = unbounded
	// per is how many operations one call counts as (JMH's @OperationsPerInvocation); 0 = 1.
	per int
}

var benchOps = []benchOp{
	{name: "valueGet", kind: "value"},
	{name: "valueUpdate", kind: "value"},
	{name: "valueAdd", kind: "value", batch: benchFreshLen},
	{name: "listAdd", kind: "list", batch: benchFreshLen},
	{name: "listAppend", kind: "list", batch: 1 << 16},
	{name: "listGet", kind: "list"},
	{name: "listAddAll", kind: "list", batch: 1 << 12},
	{name: "mapGet", kind: "map"},
	{name: "mapAdd", kind: "map", batch: 1 << 16},
	{name: "mapContains", kind: "map"},
	{name: "mapIterator", kind: "map", per: benchMapKeys},
}

func benchOpNames() []string {
	names := make([]string, len(benchOps))
	for i, op := range benchOps {
		names[i] = op.name
	}
	return names
}

// Validate implements kong's validation hook: it reports every bad flag at once.
func (c *benchStateCmd) Validate() error {
	var errs []error
	if b, err := canonicalBackend(c.Backend); err != nil {
		errs = append(errs, fmt.Errorf("--backend: %w", err))
	} else {
		c.Backend = b
	}
	if c.Keys < 1 {
		errs = append(errs, fmt.Errorf("--keys must be at least 1, got %d", c.Keys))
	}
	if c.Iterations < 0 {
		errs = append(errs, fmt.Errorf("--iterations must not be negative, got %d", c.Iterations))
	}
	if c.Rounds < 1 {
		errs = append(errs, fmt.Errorf("--rounds must be at least 1, got %d", c.Rounds))
	}
	if c.Iterations == 0 && c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration must be positive, got %v (or set --iterations)", c.Duration))
	}
	for _, name := range c.Ops {
		if !slices.Contains(benchOpNames(), name) {
			errs = append(errs, fmt.Errorf("--ops: unknown operation %q; known operations: %s", name, strings.Join(benchOpNames(), ", ")))
		}
	}
	return errors.Join(errs...)
}

// benchResult is one line of --json output. ns_per_op and baseline_ns_per_op are the median
// rounds, min_ns_per_op and baseline_min_ns_per_op the fastest; allocations are averaged over
// every round.
type benchResult struct {
	Backend             string  `json:"backend"`
	Op                  string  `json:"op"`
	NsPerOp             float64 `json:"ns_per_op"`
	BaselineNsPerOp     float64 `json:"baseline_ns_per_op"`
	Ratio               float64 `json:"ratio"`
	MinNsPerOp          float64 `json:"min_ns_per_op"`
	BaselineMinNsPerOp  float64 `json:"baseline_min_ns_per_op"`
	AllocsPerOp         float64 `json:"allocs_per_op"`
	BytesPerOp          float64 `json:"bytes_per_op"`
	BaselineAllocsPerOp float64 `json:"baseline_allocs_per_op"`
	BaselineBytesPerOp  float64 `json:"baseline_bytes_per_op"`
	Iterations          int     `json:"iterations"`
	BaselineIterations  int     `json:"baseline_iterations"`
	Rounds              int     `json:"rounds"`
	Keys                int     `json:"keys"`
}

// Run runs the benchmark and writes its results to e.Out.
func (c *benchStateCmd) Run(e *env) error {
	if err := c.Validate(); err != nil { // also when called without kong
		return err
	}
	selected := func(name string) bool { return len(c.Ops) == 0 || slices.Contains(c.Ops, name) }
	seqs := newBenchSeqs(c.Seed, c.Keys)
	m := &benchMeter{duration: c.Duration, iterations: c.Iterations, rounds: c.Rounds}
	var results []benchResult
	var preloads []string
	if !c.JSON {
		fmt.Fprintf(e.Out, "backend %s, %d keys, max parallelism %d, %s per op (baseline: %s, same key sequence)\n",
			c.Backend, c.Keys, benchMaxParallelism, c.measureDesc(), benchBaselineDesc(c.Backend))
	}
	for _, kind := range []string{"value", "list", "map"} {
		var ops []benchOp
		for _, op := range benchOps {
			if op.kind == kind && selected(op.name) {
				ops = append(ops, op)
			}
		}
		if len(ops) == 0 {
			continue
		}
		fx, err := newBenchFixture(e.Ctx, c.Backend, kind, c.Keys, seqs)
		if err != nil {
			return err
		}
		preloads = append(preloads, fmt.Sprintf("%s state %v", kind, fx.preload.Round(time.Millisecond)))
		for _, op := range ops {
			if err := e.Ctx.Err(); err != nil {
				fx.close()
				return err
			}
			stop := func() {}
			if c.CPUProfile != "" {
				if stop, err = startCPUProfile(fmt.Sprintf("%s-%s.pprof", c.CPUProfile, op.name)); err != nil {
					fx.close()
					return err
				}
			}
			r, err := m.compare(fx, op)
			stop()
			if err != nil {
				fx.close()
				return fmt.Errorf("bench state %s on %s: %w", op.name, c.Backend, err)
			}
			r.Backend, r.Keys = c.Backend, c.Keys
			if c.JSON {
				b, err := json.Marshal(r)
				if err != nil {
					fx.close()
					return err
				}
				if _, err := fmt.Fprintf(e.Out, "%s\n", b); err != nil {
					fx.close()
					return err
				}
			}
			results = append(results, r)
		}
		if err := fx.close(); err != nil {
			return err
		}
	}
	if c.JSON {
		return nil
	}
	if err := writeBenchTable(e.Out, c.Backend, results); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.Out, "preload: %s\n", strings.Join(preloads, ", "))
	return err
}

// benchUsesPebble reports whether the baseline of backend is raw Pebble (else plain Go maps).
func benchUsesPebble(backend string) bool { return backend == lsm.Name }

func benchBaselineDesc(backend string) string {
	if benchUsesPebble(backend) {
		return "raw Pebble, lsm default options"
	}
	return "plain Go maps"
}

func (c *benchStateCmd) measureDesc() string {
	if c.Iterations > 0 {
		return fmt.Sprintf("%d rounds of %d iterations", c.Rounds, c.Iterations)
	}
	return fmt.Sprintf("%v in %d rounds", c.Duration, c.Rounds)
}

func writeBenchTable(out io.Writer, backend string, rs []benchResult) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-12s\t%s ns/op\tbaseline ns/op\tratio\tallocs/op\tB/op\tbaseline allocs/op\titerations\t\n", "op", backend)
	for _, r := range rs {
		fmt.Fprintf(tw, "%-12s\t%.1f\t%.1f\t%.2fx\t%.2f\t%.1f\t%.2f\t%d\t\n", r.Op, r.NsPerOp, r.BaselineNsPerOp, r.Ratio,
			r.AllocsPerOp, r.BytesPerOp, r.BaselineAllocsPerOp, r.Iterations)
	}
	return tw.Flush()
}

// benchSeqs are the precomputed random sequences every operation walks, so that the random
// number generator stays out of the timing. Backend and baseline use the same ones.
type benchSeqs struct {
	keys  []int64 // random preloaded keys, benchSeqLen long
	uks   []int64 // random preloaded map user keys, parallel to keys
	fresh []int64 // keys beyond the preloaded ones in random order, benchFreshLen long
	// mapKeys are the user keys every preloaded map holds; new user keys (mapAdd) are small
	// non-negative numbers, which these never are.
	mapKeys [benchMapKeys]int64
	addAll  []int64 // the elements of one listAddAll
}

func newBenchSeqs(seed uint64, keys int) *benchSeqs {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := &benchSeqs{keys: make([]int64, benchSeqLen), uks: make([]int64, benchSeqLen),
		fresh: make([]int64, benchFreshLen), addAll: make([]int64, benchAddAllLen)}
	for i := range s.mapKeys {
		s.mapKeys[i] = -1 - r.Int64N(1<<62)
	}
	for i := range s.keys {
		s.keys[i] = r.Int64N(int64(keys))
		s.uks[i] = s.mapKeys[r.IntN(benchMapKeys)]
	}
	for i := range s.fresh {
		s.fresh[i] = int64(keys) + int64(i)
	}
	r.Shuffle(len(s.fresh), func(i, j int) { s.fresh[i], s.fresh[j] = s.fresh[j], s.fresh[i] })
	for i := range s.addAll {
		s.addAll[i] = r.Int64()
	}
	return s
}

// Preloaded contents, computed from the key so that a reset can restore them.
func benchValueOf(k int64) int64         { return k*7919 + 1000 }
func benchListElem(k int64, j int) int64 { return k*benchListLen + int64(j) + 1000 }
func benchMapValue(k int64, j int) int64 { return k*benchMapKeys + int64(j) + 1000 }
func benchListOf(k int64, dst []int64) []int64 {
	dst = dst[:0]
	for j := range benchListLen {
		dst = append(dst, benchListElem(k, j))
	}
	return dst
}

// benchWork is one side (backend or baseline) of one operation.
type benchWork struct {
	// run performs n operations, number off to off+n-1 of the sequences. It is timed.
	run func(off, n int)
	// reset puts back what run(off, n) changed; not timed. Nil when run changes no sizes.
	reset func(off, n int)
}

// benchFixture is the preloaded state of one kind, in the backend and in the baseline.
type benchFixture struct {
	backend backend.Keyed
	raw     *benchPebble            // the raw Pebble baseline; nil when it is plain Go maps
	work    map[string][2]benchWork // op -> {backend, baseline}
	err     error                   // the first error of a state call in a timed loop
	sink    int64                   // what reads produce, so they are not optimized away
	preload time.Duration           // time the preload took
}

func (f *benchFixture) close() error {
	var err error
	if f.backend != nil {
		err = f.backend.Close()
	}
	if f.raw != nil {
		err = errors.Join(err, f.raw.close())
	}
	f.backend, f.raw, f.work = nil, nil, nil
	return err
}

func newBenchFixture(ctx context.Context, backendName, kind string, keys int, s *benchSeqs) (*benchFixture, error) {
	be, err := newBackend(ctx, backendName, false, backend.Options{
		OperatorID:      "bench-" + kind,
		MaxParallelism:  benchMaxParallelism,
		KeyGroupRange:   keygroup.RangeFor(benchMaxParallelism, 1, 0),
		KeySerializerID: serde.Int64{}.ID(),
	})
	if err != nil {
		return nil, err
	}
	kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
	if err != nil {
		_ = be.Close()
		return nil, err
	}
	f := &benchFixture{backend: be}
	mapBase := !benchUsesPebble(backendName)
	start := time.Now()
	switch kind {
	case "value":
		err = f.setupValue(ctx, kb, keys, s, mapBase)
	case "list":
		err = f.setupList(ctx, kb, keys, s, mapBase)
	case "map":
		err = f.setupMap(ctx, kb, keys, s, mapBase)
	default:
		err = fmt.Errorf("unknown fixture %q", kind)
	}
	if err != nil {
		_ = f.close()
		return nil, fmt.Errorf("preload %d keys of %s state: %w", keys, kind, err)
	}
	f.preload = time.Since(start)
	if !mapBase {
		if err := f.setupPebble(ctx, kind, keys, s); err != nil {
			_ = f.close()
			return nil, fmt.Errorf("preload %d keys of %s state into the raw pebble baseline: %w", keys, kind, err)
		}
	}
	return f, nil
}

// clearFresh returns the reset of an operation that gave fresh keys state: it clears st for
// the keys run(off, n) used.
func (f *benchFixture) clearFresh(kb *state.KeyedBackend[int64], st interface{ Clear() error }, fresh []int64) func(off, n int) {
	return func(off, n int) {
		for i := off; i < off+n; i++ {
			if err := kb.SetCurrentKey(fresh[i&freshMask]); err != nil {
				f.fail(err)
				return
			}
			if err := st.Clear(); err != nil {
				f.fail(err)
				return
			}
		}
	}
}

// deleteFresh is clearFresh for a baseline map.
func deleteFresh[V any](base map[int64]V, fresh []int64) func(off, n int) {
	return func(off, n int) {
		for i := off; i < off+n; i++ {
			delete(base, fresh[i&freshMask])
		}
	}
}

// fail records the first error of a timed loop.
func (f *benchFixture) fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

// preloadStep checks every so many keys whether the run was canceled (Ctrl-C).
func preloadStep(ctx context.Context, k int64) error {
	if k&0xffff == 0 {
		return ctx.Err()
	}
	return nil
}

const seqMask = benchSeqLen - 1
const freshMask = benchFreshLen - 1

// setupValue preloads the backend and sets the backend side of the value operations, and
// their baseline side on plain Go maps, which it preloads only if mapBase.
func (f *benchFixture) setupValue(ctx context.Context, kb *state.KeyedBackend[int64], keys int, s *benchSeqs, mapBase bool) error {
	vs, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "value"})
	if err != nil {
		return err
	}
	base := make(map[int64]int64, mapBaseCap(keys, mapBase))
	for k := range int64(keys) {
		if err := preloadStep(ctx, k); err != nil {
			return err
		}
		if err := kb.SetCurrentKey(k); err != nil {
			return err
		}
		if err := vs.Update(benchValueOf(k)); err != nil {
			return err
		}
		if mapBase {
			base[k] = benchValueOf(k)
		}
	}
	seq, fresh := s.keys, s.fresh
	f.work = map[string][2]benchWork{
		"valueGet": {{run: func(off, n int) {
			var sum int64
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				v, _, err := vs.Value()
				if err != nil {
					f.fail(err)
					return
				}
				sum += v
			}
			f.sink += sum
		}}, {run: func(off, n int) {
			var sum int64
			for i := off; i < off+n; i++ {
				sum += base[seq[i&seqMask]]
			}
			f.sink += sum
		}}},
		"valueUpdate": {{run: func(off, n int) {
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				if err := vs.Update(int64(i)); err != nil {
					f.fail(err)
					return
				}
			}
		}}, {run: func(off, n int) {
			for i := off; i < off+n; i++ {
				base[seq[i&seqMask]] = int64(i)
			}
		}}},
		"valueAdd": {{run: func(off, n int) {
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(fresh[i&freshMask]); err != nil {
					f.fail(err)
					return
				}
				if err := vs.Update(int64(i)); err != nil {
					f.fail(err)
					return
				}
			}
		}, reset: f.clearFresh(kb, vs, fresh)}, {run: func(off, n int) {
			for i := off; i < off+n; i++ {
				base[fresh[i&freshMask]] = int64(i)
			}
		}, reset: deleteFresh(base, fresh)}},
	}
	return nil
}

// setupList preloads the backend and sets the backend side of the list operations, and
// their baseline side on plain Go maps, which it preloads only if mapBase.
func (f *benchFixture) setupList(ctx context.Context, kb *state.KeyedBackend[int64], keys int, s *benchSeqs, mapBase bool) error {
	ls, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "list"})
	if err != nil {
		return err
	}
	base := make(map[int64][]int64, mapBaseCap(keys, mapBase))
	var buf []int64
	for k := range int64(keys) {
		if err := preloadStep(ctx, k); err != nil {
			return err
		}
		if err := kb.SetCurrentKey(k); err != nil {
			return err
		}
		buf = benchListOf(k, buf)
		if err := ls.Update(buf); err != nil {
			return err
		}
		if mapBase {
			base[k] = slices.Clone(buf)
		}
	}
	seq, fresh, addAll := s.keys, s.fresh, s.addAll
	// resetBackend and resetBase restore the preloaded lists of the keys run(off, n) touched.
	resetBackend := func(off, n int) {
		var buf []int64
		for i := off; i < off+n; i++ {
			k := seq[i&seqMask]
			if err := kb.SetCurrentKey(k); err != nil {
				f.fail(err)
				return
			}
			if err := ls.Update(benchListOf(k, buf)); err != nil {
				f.fail(err)
				return
			}
		}
	}
	resetBase := func(off, n int) {
		for i := off; i < off+n; i++ {
			k := seq[i&seqMask]
			base[k] = benchListOf(k, nil)
		}
	}
	one := make([]int64, 1)
	f.work = map[string][2]benchWork{
		"listAdd": {{run: func(off, n int) {
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(fresh[i&freshMask]); err != nil {
					f.fail(err)
					return
				}
				one[0] = int64(i)
				if err := ls.Update(one); err != nil {
					f.fail(err)
					return
				}
			}
		}, reset: f.clearFresh(kb, ls, fresh)}, {run: func(off, n int) {
			for i := off; i < off+n; i++ {
				base[fresh[i&freshMask]] = []int64{int64(i)}
			}
		}, reset: deleteFresh(base, fresh)}},
		"listAppend": {{run: func(off, n int) {
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				if err := ls.Add(int64(i)); err != nil {
					f.fail(err)
					return
				}
			}
		}, reset: resetBackend}, {run: func(off, n int) {
			for i := off; i < off+n; i++ {
				k := seq[i&seqMask]
				base[k] = append(base[k], int64(i))
			}
		}, reset: resetBase}},
		"listGet": {{run: func(off, n int) {
			var sum int64
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				for v, err := range ls.Get() {
					if err != nil {
						f.fail(err)
						return
					}
					sum += v
				}
			}
			f.sink += sum
		}}, {run: func(off, n int) {
			var sum int64
			for i := off; i < off+n; i++ {
				for _, v := range base[seq[i&seqMask]] {
					sum += v
				}
			}
			f.sink += sum
		}}},
		"listAddAll": {{run: func(off, n int) {
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				if err := ls.AddAll(addAll); err != nil {
					f.fail(err)
					return
				}
			}
		}, reset: resetBackend}, {run: func(off, n int) {
			for i := off; i < off+n; i++ {
				k := seq[i&seqMask]
				base[k] = append(base[k], addAll...)
			}
		}, reset: resetBase}},
	}
	return nil
}

// setupMap preloads the backend and sets the backend side of the map operations, and
// their baseline side on plain Go maps, which it preloads only if mapBase.
func (f *benchFixture) setupMap(ctx context.Context, kb *state.KeyedBackend[int64], keys int, s *benchSeqs, mapBase bool) error {
	ms, err := state.GetMapState(kb, state.MapDescriptor[int64, int64]{Name: "map"})
	if err != nil {
		return err
	}
	base := make(map[int64]map[int64]int64, mapBaseCap(keys, mapBase))
	for k := range int64(keys) {
		if err := preloadStep(ctx, k); err != nil {
			return err
		}
		if err := kb.SetCurrentKey(k); err != nil {
			return err
		}
		for j, uk := range s.mapKeys {
			if err := ms.Put(uk, benchMapValue(k, j)); err != nil {
				return err
			}
		}
		if mapBase {
			m := make(map[int64]int64, benchMapKeys)
			for j, uk := range s.mapKeys {
				m[uk] = benchMapValue(k, j)
			}
			base[k] = m
		}
	}
	seq, uks := s.keys, s.uks
	f.work = map[string][2]benchWork{
		"mapGet": {{run: func(off, n int) {
			var sum int64
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				v, _, err := ms.Get(uks[i&seqMask])
				if err != nil {
					f.fail(err)
					return
				}
				sum += v
			}
			f.sink += sum
		}}, {run: func(off, n int) {
			var sum int64
			for i := off; i < off+n; i++ {
				sum += base[seq[i&seqMask]][uks[i&seqMask]]
			}
			f.sink += sum
		}}},
		// mapAdd puts user key off+i, which no preloaded map holds (those are negative).
		"mapAdd": {{run: func(off, n int) {
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				if err := ms.Put(int64(i), int64(i)); err != nil {
					f.fail(err)
					return
				}
			}
		}, reset: func(off, n int) {
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				if err := ms.Remove(int64(i)); err != nil {
					f.fail(err)
					return
				}
			}
		}}, {run: func(off, n int) {
			for i := off; i < off+n; i++ {
				base[seq[i&seqMask]][int64(i)] = int64(i)
			}
		}, reset: func(off, n int) {
			for i := off; i < off+n; i++ {
				delete(base[seq[i&seqMask]], int64(i))
			}
		}}},
		"mapContains": {{run: func(off, n int) {
			var hits int64
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				ok, err := ms.Contains(uks[i&seqMask])
				if err != nil {
					f.fail(err)
					return
				}
				if ok {
					hits++
				}
			}
			f.sink += hits
		}}, {run: func(off, n int) {
			var hits int64
			for i := off; i < off+n; i++ {
				if _, ok := base[seq[i&seqMask]][uks[i&seqMask]]; ok {
					hits++
				}
			}
			f.sink += hits
		}}},
		"mapIterator": {{run: func(off, n int) {
			var sum int64
			for i := off; i < off+n; i++ {
				if err := kb.SetCurrentKey(seq[i&seqMask]); err != nil {
					f.fail(err)
					return
				}
				for e, err := range ms.All() {
					if err != nil {
						f.fail(err)
						return
					}
					sum += e.Key ^ e.Value
				}
			}
			f.sink += sum
		}}, {run: func(off, n int) {
			var sum int64
			for i := off; i < off+n; i++ {
				for uk, v := range base[seq[i&seqMask]] {
					sum += uk ^ v
				}
			}
			f.sink += sum
		}}},
	}
	return nil
}

// benchMeter calibrates and times operations.
type benchMeter struct {
	duration   time.Duration // per operation and side, over all rounds
	iterations int           // per round; 0: calibrate to duration
	rounds     int
	off        int // next position in the sequences
}

// benchRun is the measurement of one side of one operation.
type benchRun struct {
	n       int
	elapsed time.Duration
	allocs  uint64
	bytes   uint64
}

func (r benchRun) nsPerOp() float64 { return float64(r.elapsed.Nanoseconds()) / float64(r.n) }

// benchSide sums the rounds of one side and picks their median.
type benchSide struct{ runs []benchRun }

func (s *benchSide) n() (n int) {
	for _, r := range s.runs {
		n += r.n
	}
	return n
}

func (s *benchSide) perOp(field func(benchRun) uint64) float64 {
	var sum uint64
	for _, r := range s.runs {
		sum += field(r)
	}
	return float64(sum) / float64(s.n())
}

// median and minimum ns/op of the rounds.
func (s *benchSide) nsPerOp() (median, lowest float64) {
	ns := make([]float64, len(s.runs))
	for i, r := range s.runs {
		ns[i] = r.nsPerOp()
	}
	slices.Sort(ns)
	if len(ns)%2 == 1 {
		return ns[len(ns)/2], ns[0]
	}
	return (ns[len(ns)/2-1] + ns[len(ns)/2]) / 2, ns[0]
}

// compare measures op on the backend and on the baseline in alternating rounds, each after a
// garbage collection, so that a change of machine load hits both sides alike. It reports the
// median round of each side.
func (m *benchMeter) compare(f *benchFixture, op benchOp) (benchResult, error) {
	w, ok := f.work[op.name]
	if !ok {
		return benchResult{}, fmt.Errorf("fixture has no operation %q", op.name)
	}
	var n [2]int
	for i := range n {
		var err error
		if n[i], err = m.calibrate(f, w[i], op.batch); err != nil {
			return benchResult{}, err
		}
	}
	var sides [2]benchSide
	for range m.rounds {
		for i := range sides {
			runtime.GC()
			r, err := m.runN(f, w[i], op.batch, n[i])
			if err != nil {
				return benchResult{}, err
			}
			r.n *= max(op.per, 1)
			sides[i].runs = append(sides[i].runs, r)
		}
	}
	allocs := func(r benchRun) uint64 { return r.allocs }
	bytes := func(r benchRun) uint64 { return r.bytes }
	be, base := &sides[0], &sides[1]
	res := benchResult{Op: op.name, Rounds: m.rounds,
		AllocsPerOp: be.perOp(allocs), BytesPerOp: be.perOp(bytes), Iterations: be.n(),
		BaselineAllocsPerOp: base.perOp(allocs), BaselineBytesPerOp: base.perOp(bytes), BaselineIterations: base.n()}
	res.NsPerOp, res.MinNsPerOp = be.nsPerOp()
	res.BaselineNsPerOp, res.BaselineMinNsPerOp = base.nsPerOp()
	if res.BaselineNsPerOp > 0 {
		res.Ratio = res.NsPerOp / res.BaselineNsPerOp
	}
	return res, nil
}

// calibrate returns the number of iterations of one round: m.iterations if set, else as many
// as take m.duration/m.rounds. It grows n until a run takes a fifth of that goal and then
// predicts the goal's n, as testing.B does (at most 100x per step).
func (m *benchMeter) calibrate(f *benchFixture, w benchWork, batch int) (int, error) {
	if m.iterations > 0 {
		return m.iterations, nil
	}
	goal := max(m.duration.Nanoseconds()/int64(m.rounds), 1)
	for n := 1; ; {
		r, err := m.runN(f, w, batch, n)
		if err != nil {
			return 0, err
		}
		ns := max(r.elapsed.Nanoseconds(), 1)
		if ns >= goal/5 || n >= 1e9 {
			return int(min(max(int64(float64(goal)*float64(n)/float64(ns)), 1), 1e9)), nil
		}
		n = int(min(max(int64(1.2*float64(goal/5)*float64(n)/float64(ns)), int64(n)+1), 100*int64(n)))
	}
}

// runN times n operations, in batches of at most batch with an untimed reset after each.
func (m *benchMeter) runN(f *benchFixture, w benchWork, batch, n int) (benchRun, error) {
	r := benchRun{n: n}
	var before, after runtime.MemStats
	for done := 0; done < n; {
		k := n - done
		if w.reset != nil && batch > 0 {
			k = min(k, batch)
		}
		off := m.off
		runtime.ReadMemStats(&before)
		start := time.Now()
		w.run(off, k)
		r.elapsed += time.Since(start)
		runtime.ReadMemStats(&after)
		r.allocs += after.Mallocs - before.Mallocs
		r.bytes += after.TotalAlloc - before.TotalAlloc
		if w.reset != nil {
			w.reset(off, k)
		}
		if f.err != nil {
			return r, f.err
		}
		m.off = (off + k) & seqMask
		done += k
	}
	return r, nil
}

// mapBaseCap is the capacity of a plain Go map baseline: keys, or 0 when it is not used.
func mapBaseCap(keys int, mapBase bool) int {
	if mapBase {
		return keys
	}
	return 0
}

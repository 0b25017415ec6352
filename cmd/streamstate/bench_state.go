package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/streamstate/streamstate/cmd/streamstate/internal/bench"
	"github.com/streamstate/streamstate/state/ttl"
)

// benchStateCmd is `streamstate bench state`: a state micro-benchmark in the spirit of Apache
// flink-benchmarks against a same-run baseline (package internal/bench describes the
// operations and the baselines: plain Go maps for hashmap, raw Pebble for lsm). This command
// parses the flags, runs bench.Run and prints the results.
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
	TTL        time.Duration `name:"ttl" help:"Measure the cost of state TTL: the states get this TTL (long enough that nothing expires during the run, e.g. 1h) and the baseline is the same backend without TTL (default 0: no TTL, baseline as above)."`
	TTLTime    string        `name:"ttl-time" default:"processing" enum:"processing,event" help:"Time of --ttl: processing (the wall clock, read at every access) or event (a fixed record timestamp and watermark)."`
}

// benchOpNames are the operations of `bench state`, in order.
func benchOpNames() []string { return bench.OpNames() }

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
	if c.TTL < 0 {
		errs = append(errs, fmt.Errorf("--ttl must not be negative, got %v", c.TTL))
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

// Run runs the benchmark and writes its results to e.Out.
func (c *benchStateCmd) Run(e *env) error {
	if err := c.Validate(); err != nil { // also when called without kong
		return err
	}
	sb, err := soloStateBackend(c.Backend, false)
	if err != nil {
		return err
	}
	defer sb.Close()
	cfg := bench.Config{StateBackend: sb, Keys: c.Keys, Ops: c.Ops, Duration: c.Duration, Iterations: c.Iterations,
		Rounds: c.Rounds, Seed: c.Seed, TTL: c.ttlConfig()}
	baseline, column := bench.BaselineDesc(c.Backend), c.Backend
	if cfg.TTL.Enabled() {
		baseline, column = bench.TTLBaselineDesc, c.Backend+" TTL"
	}
	if !c.JSON {
		ttlDesc := ""
		if cfg.TTL.Enabled() {
			ttlDesc = ", TTL " + bench.TTLDesc(cfg.TTL)
		}
		fmt.Fprintf(e.Out, "backend %s%s, %d keys, max parallelism %d, %s per op (baseline: %s, same key sequence)\n",
			c.Backend, ttlDesc, c.Keys, bench.MaxParallelism, c.measureDesc(), baseline)
	}
	if c.CPUProfile != "" {
		cfg.Profile = func(op string) (func(), error) {
			return startCPUProfile(fmt.Sprintf("%s-%s.pprof", c.CPUProfile, op))
		}
	}
	var results []bench.Result
	preloads, err := bench.Run(e.Ctx, cfg, func(r bench.Result) error {
		results = append(results, r)
		if !c.JSON {
			return nil
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.Out, "%s\n", b)
		return err
	})
	if err != nil || c.JSON {
		return err
	}
	if err := writeBenchTable(e.Out, column, results); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.Out, "preload: %s\n", strings.Join(preloads, ", "))
	return err
}

// ttlConfig is the TTL of --ttl and --ttl-time; not enabled without --ttl.
func (c *benchStateCmd) ttlConfig() ttl.Config {
	cfg := ttl.Config{TTL: c.TTL}
	if c.TTLTime == "event" {
		cfg.Time = ttl.EventTime
	}
	return cfg
}

func (c *benchStateCmd) measureDesc() string {
	if c.Iterations > 0 {
		return fmt.Sprintf("%d rounds of %d iterations", c.Rounds, c.Iterations)
	}
	return fmt.Sprintf("%v in %d rounds", c.Duration, c.Rounds)
}

func writeBenchTable(out io.Writer, backend string, rs []bench.Result) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-12s\t%s ns/op\tbaseline ns/op\tratio\tallocs/op\tB/op\tbaseline allocs/op\titerations\t\n", "op", backend)
	for _, r := range rs {
		fmt.Fprintf(tw, "%-12s\t%.1f\t%.1f\t%.2fx\t%.2f\t%.1f\t%.2f\t%d\t\n", r.Op, r.NsPerOp, r.BaselineNsPerOp, r.Ratio,
			r.AllocsPerOp, r.BytesPerOp, r.BaselineAllocsPerOp, r.Iterations)
	}
	return tw.Flush()
}

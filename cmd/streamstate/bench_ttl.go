package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/streamstate/streamstate/backend/lsm"

	"github.com/streamstate/streamstate/cmd/streamstate/internal/bench"
)

// benchTTLCmd is `streamstate bench ttl`: the plateau benchmark of state TTL. New keys arrive
// at --rate, each written once to a value state (and, optionally, a list and a map state)
// with processing-time TTL --ttl, for --duration, on each backend in turn. Every --interval
// it prints the keys written, the keys that must be live (written less than a TTL ago), the
// keys the backend still stores, the Go heap and the lsm backend's disk bytes; with cleanup
// that keeps up, the last three level off at about --rate × --ttl entries. A summary line per
// backend compares the last third of the run with the middle third. It reports; it asserts
// nothing.
type benchTTLCmd struct {
	Backend   []string      `sep:"," default:"hashmap,lsm" help:"State backends to measure, one after the other: ${backends}."`
	Rate      int           `default:"20000" help:"New keys per second."`
	TTL       time.Duration `name:"ttl" default:"3s" help:"TTL of every state (processing time)."`
	Duration  time.Duration `default:"63s" help:"Length of each backend's run; at least 20 TTLs show a plateau."`
	Interval  time.Duration `default:"1s" help:"Time between two samples."`
	List      bool          `help:"Also add each new key's value to a list state with the same TTL."`
	Map       bool          `help:"Also put each new key's value into a map state with the same TTL."`
	Cleanup   int           `name:"cleanup-size" help:"Entries the hashmap backend checks for expiry per state access (ttl.Config.CleanupSize; 0: the default, -1: none)."`
	LSMRate   int           `name:"lsm-cleanup-rate" help:"Entries per second the lsm backend's TTL sweep examines at most (state.backend.lsm.ttl-cleanup-rate; 0: its default). It must exceed the rate at which entries expire (rate x states) for the store to level off."`
	Tolerance float64       `default:"10" help:"A quantity has plateaued when the last third's maximum is at most this many percent above the middle third's (reported, not enforced)."`
	JSON      bool          `name:"json" help:"Print one JSON object per sample and summary line."`
}

// Validate implements kong's validation hook: it reports every bad flag at once.
func (c *benchTTLCmd) Validate() error {
	var errs []error
	if len(c.Backend) == 0 {
		errs = append(errs, errors.New("--backend: name at least one state backend"))
	}
	for i, name := range c.Backend {
		b, err := canonicalBackend(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("--backend: %w", err))
			continue
		}
		c.Backend[i] = b
	}
	if c.Rate < 1 {
		errs = append(errs, fmt.Errorf("--rate must be at least 1 key/s, got %d", c.Rate))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--ttl", c.TTL}, {"--duration", c.Duration}, {"--interval", c.Interval}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %v", d.name, d.v))
		}
	}
	if c.Cleanup < -1 {
		errs = append(errs, fmt.Errorf("--cleanup-size must be a count of entries, 0 for the default or -1 for none, got %d", c.Cleanup))
	}
	if c.LSMRate < 0 {
		errs = append(errs, fmt.Errorf("--lsm-cleanup-rate must be a positive rate, or 0 for the backend's default, got %d", c.LSMRate))
	}
	if c.Tolerance < 0 {
		errs = append(errs, fmt.Errorf("--tolerance must not be negative, got %v", c.Tolerance))
	}
	return errors.Join(errs...)
}

// Run runs the benchmark on each backend and writes its samples to e.Out.
func (c *benchTTLCmd) Run(e *env) error {
	if err := c.Validate(); err != nil { // also when called without kong
		return err
	}
	if !c.JSON {
		fmt.Fprintf(e.Out, "%d new keys/s, TTL %v (live: about %d keys), %v per backend (%.0f TTLs), a sample every %v\n",
			c.Rate, c.TTL, int64(float64(c.Rate)*c.TTL.Seconds()), c.Duration, c.Duration.Seconds()/c.TTL.Seconds(), c.Interval)
	}
	for _, name := range c.Backend {
		if err := c.runOne(e, name); err != nil {
			return err
		}
	}
	return nil
}

func (c *benchTTLCmd) runOne(e *env, name string) error {
	var extra []string
	if c.LSMRate > 0 {
		extra = []string{lsm.ConfigPrefix + "ttl-cleanup-rate", fmt.Sprint(c.LSMRate)}
	}
	sb, err := soloStateBackend(name, false, extra...)
	if err != nil {
		return err
	}
	defer sb.Close()
	if !c.JSON {
		fmt.Fprintf(e.Out, "%-8s %8s %10s %9s %9s %9s %10s %10s\n", "backend", "t", "written", "keys/s", "live", "stored", "heap MiB", "disk MiB")
	}
	cfg := bench.PlateauConfig{StateBackend: sb, Rate: c.Rate, TTL: c.TTL, Duration: c.Duration, Interval: c.Interval,
		List: c.List, Map: c.Map, CleanupSize: c.Cleanup}
	sum, err := bench.RunPlateau(e.Ctx, cfg, func(s bench.Sample) error {
		if c.JSON {
			return writeJSONLine(e.Out, s)
		}
		_, err := fmt.Fprintf(e.Out, "%-8s %8s %10d %9.0f %9d %9d %10s %10s\n", s.Backend, s.Elapsed.Round(time.Millisecond),
			s.Written, s.KeysPerSec, s.Live, s.Stored, mib(int64(s.HeapLive)), mib(s.DiskBytes))
		return err
	})
	if err != nil {
		return fmt.Errorf("bench ttl on %s: %w", name, err)
	}
	return c.writeSummary(e.Out, sum)
}

// plateauVerdict is the JSON form of a backend's summary line.
type plateauVerdict struct {
	Summary bench.PlateauSummary `json:"summary"`
	// Growth is, per quantity, how much the last third's maximum exceeds the middle
	// third's, in percent; Plateau says whether each is within the tolerance.
	Growth  map[string]float64 `json:"growth_percent"`
	Plateau map[string]bool    `json:"plateau"`
}

func (c *benchTTLCmd) writeSummary(out io.Writer, sum bench.PlateauSummary) error {
	v := plateauVerdict{Summary: sum, Growth: map[string]float64{}, Plateau: map[string]bool{}}
	quantities := []struct {
		name  string
		field func(bench.Sample) float64
	}{
		{"stored", func(s bench.Sample) float64 { return float64(s.Stored) }},
		{"heap", func(s bench.Sample) float64 { return float64(s.HeapLive) }},
		{"disk", func(s bench.Sample) float64 { return float64(s.DiskBytes) }},
	}
	line := fmt.Sprintf("summary %s (%d samples, last third's maximum vs the middle third's, plateau within %.0f%%):", sum.Backend, sum.Samples, c.Tolerance)
	for _, q := range quantities {
		if q.name == "disk" && sum.Last.DiskBytes < 0 {
			continue // no disk
		}
		g := 100 * sum.Growth(q.field)
		v.Growth[q.name], v.Plateau[q.name] = g, g <= c.Tolerance
		verdict := "plateau"
		if g > c.Tolerance {
			verdict = "GROWING"
		}
		line += fmt.Sprintf(" %s %s→%s (%+.1f%%, %s);", q.name, c.quantity(q.name, q.field(sum.Middle)), c.quantity(q.name, q.field(sum.Last)), g, verdict)
	}
	if c.JSON {
		return writeJSONLine(out, v)
	}
	_, err := fmt.Fprintln(out, line[:len(line)-1])
	return err
}

func (c *benchTTLCmd) quantity(name string, v float64) string {
	if name == "stored" {
		return fmt.Sprintf("%.0f", v)
	}
	return mib(int64(v)) + " MiB"
}

// mib formats bytes in MiB; "-" for a negative count (none).
func mib(b int64) string {
	if b < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}

func writeJSONLine(out io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

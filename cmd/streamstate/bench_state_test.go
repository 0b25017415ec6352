package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// runCLI runs the command line in-process and returns what it wrote to stdout and stderr.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, log bytes.Buffer
	err = run(context.Background(), args, &out, &log)
	return out.String(), log.String(), err
}

func TestBenchStateJSON(t *testing.T) {
	out, _, err := runCLI(t, "bench", "state", "--keys", "2000", "--duration", "5ms", "--json")
	if err != nil {
		t.Fatalf("bench state: %v", err)
	}
	var ops []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		// Decode into a generic map too, to check the field names of the contract.
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		for _, f := range []string{"backend", "op", "ns_per_op", "baseline_ns_per_op", "ratio", "keys", "iterations"} {
			if _, ok := raw[f]; !ok {
				t.Errorf("line %q lacks field %q", line, f)
			}
		}
		var r benchResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if r.Backend != "hashmap" || r.Keys != 2000 {
			t.Errorf("line %q: want backend hashmap and 2000 keys", line)
		}
		if !(r.NsPerOp > 0 && r.BaselineNsPerOp > 0 && r.Ratio > 0 && r.Iterations > 0 && r.BaselineIterations > 0) {
			t.Errorf("line %q: want positive ns/op, ratio and iterations", line)
		}
		ops = append(ops, r.Op)
	}
	if !slices.Equal(ops, benchOpNames()) {
		t.Errorf("ops %v, want one line per op in order %v", ops, benchOpNames())
	}
}

func TestBenchStateTableAndFilter(t *testing.T) {
	out, _, err := runCLI(t, "bench", "state", "--keys", "500", "--iterations", "300", "--rounds", "2", "--ops", "mapAdd,valueGet,mapIterator")
	if err != nil {
		t.Fatalf("bench state: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Header, column names, three ops, preload.
	if len(lines) != 6 {
		t.Fatalf("want 6 lines, got:\n%s", out)
	}
	if f := strings.Fields(lines[2]); f[0] != "valueGet" || f[len(f)-1] != "600" {
		t.Errorf("row %q: want valueGet with 2x300 iterations", lines[2])
	}
	if f := strings.Fields(lines[3]); f[0] != "mapAdd" {
		t.Errorf("row %q: want mapAdd", lines[3])
	}
	// mapIterator counts entries, as flink-benchmarks' @OperationsPerInvocation(mapKeyCount).
	if f := strings.Fields(lines[4]); f[0] != "mapIterator" || f[len(f)-1] != "6000" {
		t.Errorf("row %q: want mapIterator with 2x300 maps of 10 entries", lines[4])
	}
}

// TestBenchStateGrowingOpsReset runs the ops that add state over several batches and checks
// that the fixture ends as preloaded: the resets work, so state does not grow with time.
func TestBenchStateGrowingOpsReset(t *testing.T) {
	const keys = 300
	seqs := newBenchSeqs(1, keys)
	m := &benchMeter{iterations: 3*(1<<12) + 5, rounds: 1}
	for _, kind := range []string{"value", "list", "map"} {
		f, err := newBenchFixture(context.Background(), "hashmap", kind, keys, seqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range benchOps {
			if op.kind != kind || op.batch == 0 {
				continue
			}
			if _, err := m.compare(f, op); err != nil {
				t.Fatalf("%s: %v", op.name, err)
			}
		}
		n := 0
		for _, err := range f.backend.Keys(kind, nil) { // each fixture names its state by its kind
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != keys {
			t.Errorf("%s state holds %d keys after the growing ops, want the %d preloaded", kind, n, keys)
		}
		if err := f.close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBenchStateBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--backend", "nope"}, []string{`unknown state backend "nope"`, "known backends: hashmap"}},
		{[]string{"--keys", "0"}, []string{"--keys must be at least 1"}},
		{[]string{"--keys=-5"}, []string{"--keys must be at least 1"}},
		{[]string{"--ops", "valueGet,bogus"}, []string{`unknown operation "bogus"`, "valueGet"}},
		{[]string{"--duration", "0s"}, []string{"--duration must be positive"}},
		{[]string{"--rounds", "0"}, []string{"--rounds must be at least 1"}},
		{[]string{"--keys", "zero"}, []string{"--keys"}},
		{[]string{"--no-such-flag"}, []string{"unknown flag --no-such-flag"}},
	} {
		args := append([]string{"bench", "state"}, tc.args...)
		_, _, err := runCLI(t, args...)
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", args, err, w)
			}
		}
	}
}

func TestHelp(t *testing.T) {
	out, _, err := runCLI(t, "bench", "state", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"--keys", "--json", "valueGet", "hashmap"} {
		if !strings.Contains(out, w) {
			t.Errorf("help does not mention %q:\n%s", w, out)
		}
	}
}

// BenchmarkState runs the operations of `bench state` as Go benchmarks, for go test -bench,
// benchstat and -cpuprofile: BenchmarkState/<op>/{hashmap,baseline}. -short uses 10000 keys
// instead of 500000.
func BenchmarkState(b *testing.B) {
	keys := 500_000
	if testing.Short() {
		keys = 10_000
	}
	seqs := newBenchSeqs(1, keys)
	for _, kind := range []string{"value", "list", "map"} {
		var f *benchFixture
		for _, op := range benchOps {
			if op.kind != kind {
				continue
			}
			for side, name := range []string{"hashmap", "baseline"} {
				b.Run(op.name+"/"+name, func(b *testing.B) {
					if f == nil { // preload lazily, so -bench filters skip it
						var err error
						if f, err = newBenchFixture(context.Background(), "hashmap", kind, keys, seqs); err != nil {
							b.Fatal(err)
						}
					}
					w := f.work[op.name][side]
					b.ReportAllocs()
					b.ResetTimer()
					for off := 0; off < b.N; {
						n := b.N - off
						if w.reset != nil && op.batch > 0 {
							n = min(n, op.batch)
						}
						w.run(off, n)
						if w.reset != nil {
							b.StopTimer()
							w.reset(off, n)
							b.StartTimer()
						}
						if f.err != nil {
							b.Fatal(f.err)
						}
						off += n
					}
				})
			}
		}
		if f != nil {
			_ = f.close()
		}
	}
}

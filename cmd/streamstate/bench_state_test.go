package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/cmd/streamstate/internal/bench"
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
		var r bench.Result
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
		{[]string{"--ttl=-1s"}, []string{"--ttl must not be negative"}},
		{[]string{"--ttl", "1h", "--ttl-time", "wall"}, []string{"--ttl-time"}},
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

func TestBenchStateLSMJSON(t *testing.T) {
	out, _, err := runCLI(t, "bench", "state", "--backend", "lsm", "--keys", "500", "--iterations", "200", "--rounds", "1", "--json")
	if err != nil {
		t.Fatalf("bench state: %v", err)
	}
	var ops []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r bench.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		want := 200
		if r.Op == "mapIterator" {
			want *= bench.MapKeys // counted per entry
		}
		if r.Backend != "lsm" || r.Keys != 500 || r.Iterations != want || r.BaselineIterations != want {
			t.Errorf("line %q: want backend lsm, 500 keys, %d iterations on each side", sc.Text(), want)
		}
		if !(r.NsPerOp > 0 && r.BaselineNsPerOp > 0 && r.Ratio > 0) {
			t.Errorf("line %q: want positive ns/op and ratio", sc.Text())
		}
		ops = append(ops, r.Op)
	}
	if !slices.Equal(ops, benchOpNames()) {
		t.Errorf("ops %v, want one line per op in order %v", ops, benchOpNames())
	}
}

func TestBenchStateLSMTableNamesBaseline(t *testing.T) {
	out, _, err := runCLI(t, "bench", "state", "--backend", "lsm", "--keys", "100", "--iterations", "50", "--rounds", "1", "--ops", "valueGet")
	if err != nil {
		t.Fatalf("bench state: %v", err)
	}
	if !strings.Contains(out, "baseline: raw Pebble") {
		t.Errorf("header does not name the raw Pebble baseline:\n%s", out)
	}
}

// TestBenchStateTTL: with --ttl the same op table measures the backend's TTL states against
// the same backend without TTL, on both backends, and says so in the header and in JSON.
func TestBenchStateTTL(t *testing.T) {
	ops := []string{"valueGet", "valueUpdate", "listAdd", "mapGet"}
	for _, be := range []string{"hashmap", "lsm"} {
		out, _, err := runCLI(t, "bench", "state", "--backend", be, "--keys", "300", "--iterations", "100", "--rounds", "1",
			"--ttl", "1h", "--ops", strings.Join(ops, ","), "--json")
		if err != nil {
			t.Fatalf("bench state --ttl on %s: %v", be, err)
		}
		var got []string
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var r bench.Result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if r.Backend != be || r.TTL != "1h0m0s processing" || !(r.NsPerOp > 0 && r.BaselineNsPerOp > 0 && r.Ratio > 0) {
				t.Errorf("line %q: want backend %s, ttl \"1h0m0s processing\", positive ns/op and ratio", sc.Text(), be)
			}
			got = append(got, r.Op)
		}
		if !slices.Equal(got, ops) {
			t.Errorf("%s: ops %v, want %v", be, got, ops)
		}
	}
	out, _, err := runCLI(t, "bench", "state", "--keys", "100", "--iterations", "50", "--rounds", "1", "--ops", "valueGet",
		"--ttl", "1h", "--ttl-time", "event")
	if err != nil {
		t.Fatalf("bench state --ttl-time event: %v", err)
	}
	for _, w := range []string{"TTL 1h0m0s event", "baseline: the same backend without TTL", "hashmap TTL ns/op"} {
		if !strings.Contains(out, w) {
			t.Errorf("table does not say %q:\n%s", w, out)
		}
	}
}

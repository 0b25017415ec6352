package main

import (
	"bufio"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestBenchStateLSMJSON(t *testing.T) {
	out, _, err := runCLI(t, "bench", "state", "--backend", "lsm", "--keys", "500", "--iterations", "200", "--rounds", "1", "--json")
	if err != nil {
		t.Fatalf("bench state: %v", err)
	}
	var ops []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r benchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		want := 200
		if r.Op == "mapIterator" {
			want *= benchMapKeys // counted per entry
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

// TestBenchStatePebbleBaselineAgrees checks the raw Pebble baseline against the lsm backend:
// every read sees the same data on both sides, after preload, after the growing operations
// and after their resets.
func TestBenchStatePebbleBaselineAgrees(t *testing.T) {
	const keys, n = 400, 3000
	seqs := newBenchSeqs(7, keys)
	reads := map[string][]string{
		"value": {"valueGet"},
		"list":  {"listGet"},
		"map":   {"mapGet", "mapContains", "mapIterator"},
	}
	writes := map[string][]string{
		"value": {"valueUpdate", "valueAdd"},
		"list":  {"listAdd", "listAppend", "listAddAll"},
		"map":   {"mapAdd"},
	}
	for _, kind := range []string{"value", "list", "map"} {
		t.Run(kind, func(t *testing.T) {
			f, err := newBenchFixture(context.Background(), "lsm", kind, keys, seqs)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := f.close(); err != nil {
					t.Error(err)
				}
			}()
			if f.raw == nil {
				t.Fatal("lsm fixture has no raw pebble baseline")
			}
			check := func(when string) {
				t.Helper()
				for _, op := range reads[kind] {
					var got [2]int64
					for side, w := range f.work[op] {
						before := f.sink
						w.run(0, n)
						got[side] = f.sink - before
					}
					if f.err != nil {
						t.Fatalf("%s %s: %v", when, op, f.err)
					}
					if got[0] != got[1] {
						t.Errorf("%s %s: backend read %d, raw pebble %d", when, op, got[0], got[1])
					}
				}
			}
			check("after preload")
			for _, op := range writes[kind] {
				for _, w := range f.work[op] {
					w.run(n, n)
				}
			}
			check("after writes")
			for _, op := range writes[kind] {
				for _, w := range f.work[op] {
					if w.reset != nil {
						w.reset(n, n)
					}
				}
			}
			check("after resets")
		})
	}
}

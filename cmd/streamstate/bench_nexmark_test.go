package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchNexmarkRounds: --rounds alternates the intervals and ends with one median line per
// interval, whose ratio is median against median.
func TestBenchNexmarkRounds(t *testing.T) {
	out, _, err := runCLI(t, "bench", "nexmark", "--query", "q8", "--events", "20000", "--intervals", "0,50ms", "--rounds", "3", "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3*2+2 {
		t.Fatalf("%d lines, want 8:\n%s", len(lines), out)
	}
	var rounds []int
	for _, l := range lines {
		var r benchNexmarkResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if r.Query != "q8" || r.Events != 20000 || r.EventsPerS <= 0 || r.VsFirst <= 0 {
			t.Errorf("implausible run: %s", l)
		}
		rounds = append(rounds, r.Round)
	}
	want := []int{1, 1, 2, 2, 3, 3, 0, 0}
	for i := range want {
		if rounds[i] != want[i] {
			t.Fatalf("rounds %v, want %v", rounds, want)
		}
	}
	if _, _, err := runCLI(t, "bench", "nexmark", "--query", "q8", "--rounds", "0"); err == nil || !strings.Contains(err.Error(), "--rounds") {
		t.Errorf("--rounds 0: %v", err)
	}
}

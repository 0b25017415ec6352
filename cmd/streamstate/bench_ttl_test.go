package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/cmd/streamstate/internal/bench"
)

// TestBenchTTLShort runs `bench ttl` for a few TTLs on both backends, as CI can afford: a
// table of samples and a summary line per backend. It checks the shape and the counts, not
// the timing or whether the state levelled off.
func TestBenchTTLShort(t *testing.T) {
	out, _, err := runCLI(t, "bench", "ttl", "--rate", "2000", "--ttl", "150ms", "--duration", "600ms", "--interval", "100ms", "--list", "--map")
	if err != nil {
		t.Fatalf("bench ttl: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "2000 new keys/s, TTL 150ms (live: about 300 keys)") {
		t.Errorf("header %q", lines[0])
	}
	samples := map[string]int{}
	summaries := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch {
		case f[0] == "summary":
			summaries[f[1]] = l
		case f[0] == "backend":
		default:
			if len(f) != 8 {
				t.Errorf("sample %q: want 8 columns", l)
				continue
			}
			samples[f[0]]++
			if disk := f[7]; (disk == "-") != (f[0] == "hashmap") {
				t.Errorf("sample %q: disk column %q", l, disk)
			}
		}
	}
	for _, be := range []string{"hashmap", "lsm"} {
		if samples[be] < 2 {
			t.Errorf("%s: %d samples, want several:\n%s", be, samples[be], out)
		}
		s := summaries[be]
		if !strings.Contains(s, "stored ") || !strings.Contains(s, "heap ") || strings.Contains(s, "disk ") != (be == "lsm") {
			t.Errorf("%s summary %q: want stored, heap, and disk for lsm only", be, s)
		}
	}
}

func TestBenchTTLJSON(t *testing.T) {
	out, _, err := runCLI(t, "bench", "ttl", "--backend", "lsm", "--rate", "1000", "--ttl", "100ms", "--duration", "300ms", "--interval", "100ms", "--json")
	if err != nil {
		t.Fatalf("bench ttl: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	var samples []bench.Sample
	var summary plateauVerdict
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"summary"`) {
			if err := json.Unmarshal(sc.Bytes(), &summary); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			continue
		}
		var s bench.Sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if s.Backend != "lsm" || s.Written <= 0 || s.Stored <= 0 || s.Stored > s.Written || s.Live > s.Written || s.DiskBytes < 0 {
			t.Errorf("sample %q: want lsm, keys written, stored and live at most written, disk bytes counted", sc.Text())
		}
		samples = append(samples, s)
	}
	if len(samples) < 2 || summary.Summary.Backend != "lsm" || summary.Summary.Samples != len(samples) {
		t.Fatalf("%d samples, summary %+v", len(samples), summary)
	}
	for _, q := range []string{"stored", "heap", "disk"} {
		if _, ok := summary.Growth[q]; !ok {
			t.Errorf("summary lacks the growth of %s: %+v", q, summary)
		}
	}
}

func TestBenchTTLBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--backend", "nope"}, []string{`unknown state backend "nope"`}},
		{[]string{"--rate", "0", "--ttl", "0s"}, []string{"--rate must be at least 1", "--ttl must be positive"}},
		{[]string{"--duration=-1s", "--interval", "0s"}, []string{"--duration must be positive", "--interval must be positive"}},
		{[]string{"--cleanup-size=-2"}, []string{"--cleanup-size"}},
	} {
		args := append([]string{"bench", "ttl"}, tc.args...)
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

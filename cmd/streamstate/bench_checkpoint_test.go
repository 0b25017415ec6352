package main

import (
	"bufio"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func decodeCheckpointLines(t *testing.T, out string) []benchCheckpointResult {
	rs, _ := decodeCheckpointSummary(t, out)
	return rs
}

// decodeCheckpointSummary decodes --json output: the checkpoints' lines, and the summary
// line of an --incremental run (nil without one).
func decodeCheckpointSummary(t *testing.T, out string) ([]benchCheckpointResult, *benchCheckpointSummary) {
	t.Helper()
	var rs []benchCheckpointResult
	var sum *benchCheckpointSummary
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", sc.Text(), err)
		}
		if _, ok := raw["increments"]; ok {
			sum = new(benchCheckpointSummary)
			if err := json.Unmarshal(sc.Bytes(), sum); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			continue
		}
		for _, f := range []string{"backend", "incremental", "checkpoint", "sync_ms", "async_ms", "bytes_written", "keys", "changed"} {
			if _, ok := raw[f]; !ok {
				t.Errorf("line %q lacks field %q", sc.Text(), f)
			}
		}
		var r benchCheckpointResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rs = append(rs, r)
	}
	return rs, sum
}

func TestBenchCheckpointJSON(t *testing.T) {
	for _, tc := range []struct {
		backend     string
		incremental bool
	}{{"hashmap", false}, {"hashmap", true}, {"lsm", false}, {"lsm", true}} {
		args := []string{"bench", "checkpoint", "--backend", tc.backend, "--keys", "2000", "--change-percent", "5", "--checkpoints", "3", "--json"}
		if tc.incremental {
			args = append(args, "--incremental")
		}
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		rs, sum := decodeCheckpointSummary(t, out)
		if tc.incremental {
			// Then the full checkpoint of the same state, and the summary.
			if len(rs) != 4 || !rs[3].Full || rs[3].Checkpoint != 4 || sum == nil {
				t.Fatalf("%v: want 3 incremental checkpoints, a full one and a summary, got:\n%s", args, out)
			}
			if sum.Increments != 2 || sum.FullBytes != rs[3].BytesWritten || !(sum.BytesRatio > 0 && sum.BytesRatio < 0.5) ||
				sum.RestoreLastMs <= 0 || sum.RestoreFullMs <= 0 {
				t.Errorf("%v: summary %+v: want 2 increments of less than half the full checkpoint's bytes, and restore times", args, sum)
			}
			rs = rs[:3]
		}
		if len(rs) != 3 {
			t.Fatalf("%v: want 3 lines, got:\n%s", args, out)
		}
		for i, r := range rs {
			wantChanged := 100
			if i == 0 {
				wantChanged = 0
			}
			if r.Backend != tc.backend || r.Incremental != tc.incremental || r.Checkpoint != int64(i+1) || r.Keys != 2000 || r.Changed != wantChanged {
				t.Errorf("%v: line %d = %+v", args, i, r)
			}
			if r.BytesWritten <= 0 || r.Objects < 2 || r.SyncMs < 0 || r.AsyncMs <= 0 {
				t.Errorf("%v: line %d = %+v: want bytes, at least two objects (data and metadata), times", args, i, r)
			}
		}
		// 2000 keys of 100 bytes: every full checkpoint holds them all; the second
		// incremental one uploads only the flushed changes (and the private files).
		if !tc.incremental && rs[1].BytesWritten < 2000*100 {
			t.Errorf("%v: full checkpoint 2 wrote %d bytes, less than the state", args, rs[1].BytesWritten)
		}
		if tc.incremental && tc.backend == "hashmap" && (rs[0].Chain != 1 || rs[1].Chain != 2 || rs[2].Chain != 3) {
			t.Errorf("%v: chains of %d, %d, %d handles, want a base and then one delta more each time", args, rs[0].Chain, rs[1].Chain, rs[2].Chain)
		}
		if tc.incremental && rs[1].BytesWritten*2 > rs[0].BytesWritten {
			t.Errorf("%v: incremental checkpoint 2 wrote %d bytes, the first %d: want less than half", args, rs[1].BytesWritten, rs[0].BytesWritten)
		}
	}
}

// TestBenchCheckpointStorage writes to a given storage twice: the second run continues the
// checkpoint ids, and retention keeps the newest checkpoints only.
func TestBenchCheckpointStorage(t *testing.T) {
	dir := t.TempDir()
	u := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	for run, want := range []int64{1, 4} {
		out, _, err := runCLI(t, "bench", "checkpoint", "--backend", "hashmap", "--keys", "100", "--checkpoints", "3", "--storage", u, "--json")
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		rs := decodeCheckpointLines(t, out)
		if len(rs) != 3 || rs[0].Checkpoint != want {
			t.Fatalf("run %d: want 3 checkpoints from %d, got:\n%s", run, want, out)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, benchCheckpointJob))
	if err != nil {
		t.Fatal(err)
	}
	var chks []string
	for _, e := range entries {
		// Nothing else may remain: deleted checkpoints leave no directory (issue 17).
		chks = append(chks, e.Name())
		if _, err := os.Stat(filepath.Join(dir, benchCheckpointJob, e.Name(), "_metadata")); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
	if strings.Join(chks, ",") != "chk-5,chk-6" {
		t.Errorf("the job's directory holds %v, want chk-5 and chk-6 only (--retained 2)", chks)
	}
}

func TestBenchCheckpointTable(t *testing.T) {
	out, _, err := runCLI(t, "bench", "checkpoint", "--backend", "hashmap", "--incremental", "--keys", "300", "--checkpoints", "2")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Header, column names, two checkpoints, the full one, two summary lines.
	if len(lines) != 7 || !strings.Contains(lines[0], "incremental") || !strings.Contains(lines[1], "bytes written") {
		t.Fatalf("unexpected table:\n%s", out)
	}
	if f := strings.Fields(lines[3]); f[0] != "2" || f[1] != "3" || f[2] != "delta" {
		t.Errorf("row %q: want checkpoint 2, a delta, with 3 changed keys", lines[3])
	}
	if f := strings.Fields(lines[4]); f[0] != "3" || f[2] != "full" {
		t.Errorf("row %q: want checkpoint 3, full", lines[4])
	}
	if !strings.Contains(lines[5], "of the full checkpoint's") || !strings.Contains(lines[6], "restore of checkpoint 2 (delta 1)") {
		t.Errorf("summary lines:\n%s\n%s", lines[5], lines[6])
	}
}

func TestBenchCheckpointValidate(t *testing.T) {
	_, _, err := runCLI(t, "bench", "checkpoint", "--backend", "hashmap", "--incremental", "--retained", "1", "--keys", "0", "--change-percent", "150", "--checkpoints", "0")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"--retained", "--keys", "--change-percent", "--checkpoints"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// TestBenchCheckpointBaseline: on file:// storage every checkpoint is followed by the
// fsync'd disk baseline of the same bytes, which leaves no file behind; --no-baseline and
// other storages have none.
func TestBenchCheckpointBaseline(t *testing.T) {
	dir := t.TempDir()
	u := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	for _, tc := range []struct {
		args     []string
		baseline bool
	}{
		{[]string{"--storage", u}, true},
		{[]string{"--storage", u, "--no-baseline"}, false},
		{[]string{"--storage", "mem://"}, false},
	} {
		args := append([]string{"bench", "checkpoint", "--backend", "hashmap", "--keys", "500", "--checkpoints", "2", "--json"}, tc.args...)
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for i, r := range decodeCheckpointLines(t, out) {
			if r.MBPerS <= 0 {
				t.Errorf("%v: line %d: no write speed: %+v", args, i, r)
			}
			if (r.BaselineMBPerS > 0) != tc.baseline {
				t.Errorf("%v: line %d: baseline %v MB/s, want one: %v", args, i, r.BaselineMBPerS, tc.baseline)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != benchCheckpointJob {
			t.Errorf("%s holds %s: the baseline must remove its file", dir, e.Name())
		}
	}
}

func TestFileStorageDir(t *testing.T) {
	for in, want := range map[string]string{
		"file:///tmp/x":      "/tmp/x",
		"file://./rel/dir":   "rel/dir",
		"mem://name":         "",
		"s3://bucket/prefix": "",
	} {
		if got := fileStorageDir(in); got != filepath.FromSlash(want) {
			t.Errorf("fileStorageDir(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBenchCheckpointAfterRestore: --after-restore adds the first checkpoint of a new job
// after a no-claim and after a claim restore of the last checkpoint; the claim one reuses the
// restored files (it writes far less), and the claimed checkpoint is gone afterwards while
// the no-claim job left it alone until then.
func TestBenchCheckpointAfterRestore(t *testing.T) {
	dir := t.TempDir()
	storage := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	// No change between checkpoints: checkpoint 2 holds the database as its compactions left
	// it after checkpoint 1, so a restored copy has nothing to compact and nothing new to
	// write but its registration record.
	out, _, err := runCLI(t, "bench", "checkpoint", "--incremental", "--keys", "20000", "--checkpoints", "2", "--change-percent", "0",
		"--after-restore", "--json", "--storage", storage, "--no-baseline", "--retained", "1")
	if err != nil {
		t.Fatal(err)
	}
	rs := decodeCheckpointLines(t, out)
	if len(rs) != 5 || rs[2].AfterRestore != "no" || rs[3].AfterRestore != "no-claim" || rs[4].AfterRestore != "claim" {
		t.Fatalf("want 2 checkpoints, then the job's next one and one after a no-claim and one after a claim restore; got:\n%s", out)
	}
	t.Logf("bytes written: job goes on %d, no-claim %d, claim %d", rs[2].BytesWritten, rs[3].BytesWritten, rs[4].BytesWritten)
	// The claim restore's first checkpoint writes what the job's own next one writes (the
	// same new files; a compaction either runs in both or in neither), give or take the
	// private files.
	if goesOn, claim := rs[2].BytesWritten, rs[4].BytesWritten; claim > 2*goesOn {
		t.Errorf("the first checkpoint after a claim restore wrote %d bytes, the job's own next checkpoint %d", claim, goesOn)
	}
	if noClaim, claim := rs[3].BytesWritten, rs[4].BytesWritten; claim*4 > noClaim {
		t.Errorf("the first checkpoint after a claim restore wrote %d bytes, after a no-claim restore %d (everything): want a fraction", claim, noClaim)
	}
	if _, err := os.Stat(filepath.Join(dir, benchCheckpointJob, "chk-2")); !os.IsNotExist(err) {
		t.Errorf("the claimed checkpoint chk-2 is still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, benchCheckpointJob+"-claim", "chk-1", "_metadata")); err != nil {
		t.Errorf("the claiming job's checkpoint: %v", err)
	}
}

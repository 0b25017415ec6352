package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func decodeRestoreLines(t *testing.T, out string) []benchRestoreResult {
	t.Helper()
	var rs []benchRestoreResult
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", sc.Text(), err)
		}
		for _, f := range []string{"backend", "checkpoint", "source", "size", "state_bytes", "keys", "checkpoint_bytes", "files",
			"restore_ms", "restore_mb_per_s", "raw_ms", "raw_mb_per_s", "ratio", "peak_rss_bytes"} {
			if _, ok := raw[f]; !ok {
				t.Errorf("line %q lacks field %q", sc.Text(), f)
			}
		}
		var r benchRestoreResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// checkRestoreResult checks what every line must satisfy: both reads read the checkpoint,
// whose bytes are at least the state's; a local row read every file from the local copy.
func checkRestoreResult(t *testing.T, r benchRestoreResult) {
	t.Helper()
	if r.Keys != r.StateBytes/100 || r.CheckpointBytes < r.StateBytes || r.Files < 1 || r.RestoreMs <= 0 || r.RestoreMBPerS <= 0 {
		t.Errorf("implausible result %+v", r)
	}
	wantKind := map[string]string{"hashmap": "full", "lsm": "incremental"}[r.Backend]
	if r.Checkpoint != wantKind {
		t.Errorf("%s restored a %s checkpoint, want %s", r.Backend, r.Checkpoint, wantKind)
	}
	switch r.Source {
	case "file":
		if r.RawMs <= 0 || r.RawMBPerS <= 0 || r.LocalFiles != 0 || r.VsRemote != 0 {
			t.Errorf("implausible remote row %+v", r)
		}
		if (r.Backend == "lsm") != (r.CopyMBPerS > 0) {
			t.Errorf("%s: raw copy %v MB/s; want one exactly for lsm, which writes what it reads", r.Backend, r.CopyMBPerS)
		}
	case "local:file":
		if r.LocalFiles != int64(r.Files) || r.RemoteFiles != 0 || r.VsRemote <= 0 || r.RawMs != 0 {
			t.Errorf("local row did not restore every file from the local copy: %+v", r)
		}
	default:
		t.Errorf("unknown source %q", r.Source)
	}
}

func TestBenchRestoreInProcess(t *testing.T) {
	out, _, err := runCLI(t, "bench", "restore", "--sizes", "100KB,200KB", "--value-size", "100", "--no-isolate", "--json")
	if err != nil {
		t.Fatal(err)
	}
	rs := decodeRestoreLines(t, out)
	if len(rs) != 8 {
		t.Fatalf("want 8 lines (2 backends × 2 sizes × remote and local), got:\n%s", out)
	}
	for i, r := range rs {
		checkRestoreResult(t, r)
		if r.PeakRSSBytes != 0 {
			t.Errorf("in-process restore reports a peak RSS: %+v", r)
		}
		if want := []string{"hashmap", "lsm"}[i/4]; r.Backend != want {
			t.Errorf("line %d: backend %s, want %s", i, r.Backend, want)
		}
		if want := []string{"file", "local:file"}[i%2]; r.Source != want {
			t.Errorf("line %d: source %s, want %s", i, r.Source, want)
		}
	}
	if rs[2].StateBytes != 2*rs[0].StateBytes {
		t.Errorf("state of 200KB holds %d bytes, of 100KB %d", rs[2].StateBytes, rs[0].StateBytes)
	}
	out, _, err = runCLI(t, "bench", "restore", "--sizes", "100KB", "--value-size", "100", "--no-isolate", "--no-local", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if rs := decodeRestoreLines(t, out); len(rs) != 2 || rs[0].Source != "file" || rs[1].Source != "file" {
		t.Fatalf("--no-local: want 2 remote lines, got:\n%s", out)
	}
}

// TestBenchRestoreChild runs the restores in child processes of the built binary, which
// report their peak RSS.
func TestBenchRestoreChild(t *testing.T) {
	bin := e2eBinary(t)
	p, err := startProc(bin, t.TempDir(), "bench", "restore", "--sizes", "100KB", "--value-size", "100", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.wait(60 * time.Second); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, p.stderr)
	}
	rs := decodeRestoreLines(t, p.stdout.String())
	if len(rs) != 4 {
		t.Fatalf("want 4 lines, got:\n%s", p.stdout.String())
	}
	for _, r := range rs {
		checkRestoreResult(t, r)
		if r.PeakRSSBytes < 1<<20 || r.PeakRSSBytes > 4<<30 {
			t.Errorf("implausible peak RSS: %+v", r)
		}
	}
}

func TestBenchRestoreFlags(t *testing.T) {
	_, _, err := runCLI(t, "bench", "restore", "--backends", "nope", "--sizes", "12XB", "--value-size", "4", "--raw-concurrency", "0")
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"--backends", "--sizes", "--value-size", "--raw-concurrency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestBenchRestoreConfig(t *testing.T) {
	_, _, err := runCLI(t, "bench", "restore", "--sizes", "10KB", "--value-size", "100", "--no-isolate", "--config", "no.such.key=1")
	if err == nil || !strings.Contains(err.Error(), "no.such.key") {
		t.Fatalf("unknown --config key: err = %v", err)
	}
	out, _, err := runCLI(t, "bench", "restore", "--backends", "lsm", "--sizes", "10KB", "--value-size", "100", "--no-isolate", "--json",
		"--config", "state.backend.lsm.block.cache-size=16mb")
	if err != nil {
		t.Fatal(err)
	}
	if rs := decodeRestoreLines(t, out); len(rs) != 2 {
		t.Fatalf("want 2 lines, got:\n%s", out)
	}
}

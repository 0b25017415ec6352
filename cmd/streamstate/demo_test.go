package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/stream"
)

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	chk := "file://" + filepath.ToSlash(filepath.Join(dir, "checkpoints"))
	args := []string{"demo", "--events", "3000", "--accounts", "200", "--checkpoints", chk}

	out, _, err := runCLI(t, append(args, "--savepoint", filepath.Join(dir, "sp1"))...)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, w := range []string{
		"checkpoint 1 of job demo",
		"restored checkpoint 1 at parallelism 3 (rescale 2→3",
		"verified 200 keys as of the checkpoint",
		"replayed the 600 events after the checkpoint: verified 200 keys",
		"restored the savepoint at parallelism 1 (rescale 3→1): verified 200 keys",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", "demo", "chk-1", "_metadata")); err != nil {
		t.Errorf("checkpoint metadata: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sp1", "_metadata")); err != nil {
		t.Errorf("savepoint metadata: %v", err)
	}

	// A second run continues the job's checkpoint ids; retention keeps only the latest.
	out, _, err = runCLI(t, append(args, "--savepoint", filepath.Join(dir, "sp2"), "--compression", "none")...)
	if err != nil {
		t.Fatalf("second demo: %v\n%s", err, out)
	}
	if !strings.Contains(out, "checkpoint 2 of job demo") || !strings.Contains(out, "restored checkpoint 2 at parallelism 3") {
		t.Errorf("second run did not take and restore checkpoint 2:\n%s", out)
	}
	// (file:// storage deletes the files but may leave the empty chk-1 directory behind.)
	if files, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "demo", "chk-1", "*")); len(files) > 0 {
		t.Errorf("chk-1 should be deleted by retention, it holds %v", files)
	}

	// The savepoint directory already holds a savepoint: a clear error, not a silent overwrite.
	_, _, err = runCLI(t, append(args, "--savepoint", filepath.Join(dir, "sp1"))...)
	if err == nil || !strings.Contains(err.Error(), "savepoint") || !strings.Contains(err.Error(), "exists") {
		t.Errorf("savepoint into a used directory: got %v", err)
	}
}

func TestDemoStorages(t *testing.T) {
	for _, chk := range []string{"mem://", "jobmanager"} {
		t.Run(chk, func(t *testing.T) {
			out, _, err := runCLI(t, "demo", "--events", "500", "--accounts", "50", "--seed", "7",
				"--checkpoints", chk, "--savepoint", filepath.Join(t.TempDir(), "sp"))
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out)
			}
			if !strings.Contains(out, "verified 50 keys") || !strings.Contains(out, "ok:") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
}

// TestDemoDefaults runs the demo as the README does, without storage flags: checkpoints go to
// ./checkpoints, the savepoint to a new temporary directory.
func TestDemoDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("TMPDIR", t.TempDir())
	out, _, err := runCLI(t, "demo", "--events", "400")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", "demo", "chk-1", "_metadata")); err != nil {
		t.Errorf("default checkpoint location: %v\n%s", err, out)
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--events", "0"}, "--events must be at least 1"},
		{[]string{"--accounts", "0"}, "--accounts must be at least 1"},
		{[]string{"--compression", "zstd"}, "--compression"},
		{[]string{"--backend", "leveldb"}, `unknown state backend "leveldb"; known backends: hashmap`},
		{[]string{"--checkpoints", "ftp://x/y"}, `unsupported scheme "ftp"`},
		{[]string{"--job-id", "a/b"}, "job id"},
	} {
		// mem:// unless the case is about storage: nothing may land in the package directory.
		args := append([]string{"demo", "--events", "10", "--checkpoints", "mem://"}, tc.args...)
		_, _, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got error %v, want one mentioning %q", args, err, tc.want)
		}
	}
}

// TestDemoVerifyDetects checks the checker: a verification round must fail when the state
// and the model differ, or "verified" would prove nothing. One job runs the events, then a
// faithful round and one round per kind of difference.
func TestDemoVerifyDetects(t *testing.T) {
	events := generateEvents(3, 300, 40)
	want := demoModel{}
	for _, ev := range events {
		want.apply(ev)
	}
	changes := map[string]func(m demoModel){
		"total":    func(m demoModel) { m["acct-00001"].total++ },
		"recent":   func(m demoModel) { m["acct-00002"].recent[0]++ },
		"merchant": func(m demoModel) { m["acct-00003"].merchants["nowhere"] = 1 },
		"missing":  func(m demoModel) { m["acct-99999"] = &demoAccount{merchants: map[string]int64{}} },
		"extra":    func(m demoModel) { delete(m, "acct-00004") },
	}
	universe := accountNames(40)
	faithful := newDemoRound(want, universe)
	src := newDemoSourceSpec(events)
	src.after = []*demoRound{faithful}
	rounds := map[string]*demoRound{}
	for name, change := range changes {
		m := want.clone()
		change(m)
		rounds[name] = newDemoRound(m, universe)
		src.after = append(src.after, rounds[name])
	}
	var processed atomic.Int64
	job, err := stream.Execute(context.Background(), demoGraph(src, &processed),
		stream.Options{StateBackend: &heap.StateBackend{}, Parallelism: 2, MaxParallelism: demoMaxParallelism})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Wait(); err != nil {
		t.Fatal(err)
	}
	if processed.Load() != int64(len(events)) {
		t.Fatalf("processed %d events, want %d", processed.Load(), len(events))
	}
	for _, r := range src.after {
		select {
		case <-r.done:
		default:
			t.Fatalf("the job ended before every account of a round was checked (%d of %d)", r.checked, r.total)
		}
	}
	if n, err := faithful.result(); err != nil || n != len(want) {
		t.Fatalf("verify of a faithful model: %d keys, %v", n, err)
	}
	for name, r := range rounds {
		if _, err := r.result(); err == nil {
			t.Errorf("%s: verify found no difference", name)
		}
	}
}

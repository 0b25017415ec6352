package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The command-line end of issue 17's corruption matrix (backend/corruption holds the matrix
// itself): a real job is killed, bytes of its checkpoints are damaged, and then
// `checkpoints validate` must name the damaged file and `run --resume` must either fall back
// to an undamaged checkpoint and produce the uninterrupted run's output, or, when no
// checkpoint is readable, fail naming every checkpoint it tried, without publishing a line
// (a silent fresh start would publish the pre-crash lines a second time).

// corruptRun runs the fraud job with args until at least minChk checkpoints completed, kills
// it, and returns the ids of the complete checkpoints.
func corruptRun(t *testing.T, dir, chk string, args []string, minChk int64) []int64 {
	t.Helper()
	p, err := startProc(e2eBinary(t), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for latestCheckpoint(chk, "fraud") < minChk {
		if p.exited() {
			t.Fatalf("the job exited before checkpoint %d: %v\nstdout:\n%s\nstderr:\n%s", minChk, p.err, p.stdout, p.stderr)
		}
		if time.Now().After(deadline) {
			p.signal(syscall.SIGKILL)
			<-p.done
			t.Fatalf("checkpoint %d did not complete within 30 s\nstderr:\n%s", minChk, p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.signal(syscall.SIGKILL)
	<-p.done
	if p.err == nil {
		t.Fatalf("the job finished before the kill:\n%s", p.stdout)
	}
	return completeCheckpoints(t, chk)
}

// completeCheckpoints returns the ids of the fraud job's checkpoints that have a _metadata.
func completeCheckpoints(t *testing.T, chk string) []int64 {
	t.Helper()
	mds, err := filepath.Glob(filepath.Join(chk, "fraud", "chk-*", "_metadata"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, md := range mds {
		id, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(filepath.Dir(md)), "chk-"), 10, 64)
		if err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// flipLast flips the last byte of the first file of checkpoint id whose name matches pattern
// (a glob relative to the checkpoint's directory) and returns its path.
func flipLast(t *testing.T, chk string, id int64, pattern string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chk, "fraud", fmt.Sprintf("chk-%d", id), pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no file %s in checkpoint %d (%v)", pattern, id, err)
	}
	slices.Sort(files)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatalf("%s is empty", files[0])
	}
	b[len(b)-1] ^= 0x01
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	return files[0]
}

// validateNames runs `checkpoints validate --all` and checks that it fails naming every file
// of bad.
func validateNames(t *testing.T, dir, chk string, bad []string) {
	t.Helper()
	stdout, stderr, err := runBinary(t, dir, "checkpoints", "validate", e2eURL(chk), "--all")
	if err == nil {
		t.Errorf("checkpoints validate succeeded though %v are damaged:\n%s", bad, stdout)
	}
	for _, b := range bad {
		if !strings.Contains(stdout+stderr, filepath.Base(b)) {
			t.Errorf("checkpoints validate does not name the damaged file %s:\nstdout:\n%s\nstderr:\n%s", filepath.Base(b), stdout, stderr)
		}
	}
}

// TestCorruptCheckpointResume: see the comment above. The damaged file is a keyed state file
// of a full checkpoint, or the MANIFEST of an incremental one (the file whose damage made the
// lsm backend restore an older database version before issue 17).
func TestCorruptCheckpointResume(t *testing.T) {
	e2eReference(t)
	for _, c := range []struct {
		backend     string
		incremental bool
		pattern     string
	}{
		{"hashmap", false, "fraud-detector-keyed-*"},
		{"lsm", false, "fraud-detector-keyed-*"},
		{"lsm", true, "fraud-detector-*-MANIFEST-*"},
	} {
		name := c.backend
		if c.incremental {
			name += "-incremental"
		}
		base := func(dir string) []string {
			args := []string{"run", "fraud", "--events", fmt.Sprint(e2eEvents), "--rate", fmt.Sprint(e2eRate), "-p", "2",
				"--interval", "200ms", "--backend", c.backend, "--checkpoints", e2eURL(dir, "checkpoints"),
				"--output", filepath.Join(dir, "out"), "--progress", "0", "--savepoint-dir", e2eURL(dir, "savepoints")}
			if c.incremental {
				args = append(args, "--incremental")
			}
			return args
		}
		// The newest checkpoint damaged, an older one intact: resume falls back to it.
		t.Run(name+"/fallback", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			chk, out := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "out")
			args := append(base(dir), "-D", "state.checkpoints.num-retained=3")
			ids := corruptRun(t, dir, chk, args, 3)
			latest := ids[len(ids)-1]
			bad := flipLast(t, chk, latest, c.pattern)
			t.Logf("complete checkpoints %v; damaged %s", ids, bad)
			validateNames(t, dir, chk, []string{bad})
			p, err := startProc(e2eBinary(t), dir, append(args, "--resume")...)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.wait(90 * time.Second); err != nil {
				t.Fatalf("resume: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
			}
			if want := fmt.Sprintf("from checkpoint %d", ids[len(ids)-2]); !strings.Contains(p.stdout.String(), want) {
				t.Errorf("stdout lacks %q:\n%s", want, p.stdout)
			}
			if !strings.Contains(p.stderr.String(), filepath.Base(bad)) {
				t.Errorf("stderr does not name the damaged file %s:\n%s", filepath.Base(bad), p.stderr)
			}
			checkOutput(t, out)
		})
		// Every retained checkpoint damaged: resume fails loudly and publishes nothing.
		t.Run(name+"/none-left", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			chk, out := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "out")
			args := base(dir) // one retained checkpoint, the default
			ids := corruptRun(t, dir, chk, args, 2)
			var bad []string
			for _, id := range ids {
				bad = append(bad, flipLast(t, chk, id, c.pattern))
			}
			t.Logf("complete checkpoints %v; damaged %v", ids, bad)
			validateNames(t, dir, chk, bad)
			before, err := readOutput(out)
			if err != nil {
				t.Fatal(err)
			}
			p, err := startProc(e2eBinary(t), dir, append(args, "--resume")...)
			if err != nil {
				t.Fatal(err)
			}
			err = p.wait(90 * time.Second)
			msg := p.stdout.String() + p.stderr.String()
			switch {
			case err == nil:
				t.Errorf("resume exited 0 though no checkpoint is readable (a silent fresh start?):\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
			case strings.Contains(msg, "panic"):
				t.Errorf("resume panicked:\n%s", p.stderr)
			}
			for i, id := range ids {
				if !strings.Contains(msg, fmt.Sprintf("checkpoint %d", id)) {
					t.Errorf("resume's failure does not name checkpoint %d:\n%s", id, p.stderr)
				}
				if !strings.Contains(msg, filepath.Base(bad[i])) {
					t.Errorf("resume's failure does not name the damaged file %s:\n%s", filepath.Base(bad[i]), p.stderr)
				}
			}
			after, err := readOutput(out)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(before, after) {
				t.Errorf("the failed resume changed the published output: %d distinct lines before, %d after", len(before), len(after))
			}
		})
	}
}

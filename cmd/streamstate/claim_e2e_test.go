package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EKillClaimResume: job "src" (lsm, incremental) is killed right after a checkpoint;
// job "fraud" starts from that checkpoint in claim mode (--claim-mode claim) into the same
// output directory, is killed at random moments and resumed (--resume; or, killed before its
// first checkpoint, restored from src's checkpoint in claim mode again, which is untouched
// until then) at other parallelisms, and finishes. Its output equals an uninterrupted run's,
// and src's claimed checkpoint is gone: deleted once fraud's checkpoints subsumed it, after a
// restart too (fraud's checkpoints record it until then).
func TestE2EKillClaimResume(t *testing.T) {
	e2eReference(t)
	t.Parallel()
	rng := e2eSeed(t)
	dir := t.TempDir()
	chk, out := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "out")
	base := []string{"run", "fraud", "--events", fmt.Sprint(e2eEvents), "--rate", fmt.Sprint(e2eRate),
		"--interval", "200ms", "--backend", "lsm", "--incremental", "--checkpoints", e2eURL(chk), "--output", out,
		"--progress", "0", "--savepoint-dir", e2eURL(dir, "savepoints")}

	src, err := startProc(e2eBinary(t), dir, append(slices.Clone(base), "--job-id", "src", "-p", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	var claimed int64
	deadline := time.Now().Add(20 * time.Second)
	time.Sleep(randDuration(rng, 300*time.Millisecond, 900*time.Millisecond))
	for claimed == 0 && time.Now().Before(deadline) && !src.exited() {
		claimed = latestCheckpoint(chk, "src")
		time.Sleep(time.Millisecond)
	}
	src.signal(syscall.SIGKILL)
	<-src.done
	if claimed == 0 || latestCheckpoint(chk, "src") == 0 {
		t.Fatalf("job src completed no checkpoint before the kill\nstdout:\n%s\nstderr:\n%s", src.stdout, src.stderr)
	}
	claimed = latestCheckpoint(chk, "src")
	from := e2eURL(chk, "src", fmt.Sprintf("chk-%d", claimed))
	history := []string{fmt.Sprintf("src killed after checkpoint %d", claimed)}

	pars := []int{3, 1, 2, 2}
	kills := 3 + rng.IntN(2)
	for run := 0; ; run++ {
		if run > 12 {
			t.Fatalf("the job did not finish in %d runs: %s", run, strings.Join(history, "; "))
		}
		par := pars[run%len(pars)]
		args := append(slices.Clone(base), "-p", fmt.Sprint(par))
		how := "resumed"
		if latestCheckpoint(chk, "fraud") == 0 {
			args = append(args, "--from", from, "--claim-mode", "claim")
			how = "claimed"
		} else {
			args = append(args, "--resume")
		}
		p, err := startProc(e2eBinary(t), dir, args...)
		if err != nil {
			t.Fatal(err)
		}
		if run < kills {
			killed := killRandomly(p, rng, chk)
			if p.exited() && !strings.HasPrefix(killed, "killed") {
				if p.err != nil {
					t.Fatalf("run %d (-p %d, %s) failed: %v\nstdout:\n%s\nstderr:\n%s", run, par, how, p.err, p.stdout, p.stderr)
				}
				history = append(history, fmt.Sprintf("-p %d %s, finished before the kill", par, how))
				break
			}
			history = append(history, fmt.Sprintf("-p %d %s, %s", par, how, killed))
			<-p.done
			if strings.Contains(p.stderr.String(), "panic") {
				t.Fatalf("run %d panicked:\n%s", run, p.stderr)
			}
			continue
		}
		if err := p.wait(60 * time.Second); err != nil {
			t.Fatalf("run %d (-p %d, %s, after %s) failed: %v\nstdout:\n%s\nstderr:\n%s", run, par, how, strings.Join(history, "; "), err, p.stdout, p.stderr)
		}
		if how == "claimed" && !strings.Contains(p.stdout.String(), "(claim mode") {
			t.Errorf("run %d restored in claim mode, but its header does not say so:\n%s", run, p.stdout)
		}
		history = append(history, fmt.Sprintf("-p %d %s, finished", par, how))
		break
	}
	t.Logf("runs: %s", strings.Join(history, "; "))
	checkOutput(t, out)
	if _, err := os.Stat(filepath.Join(chk, "src", fmt.Sprintf("chk-%d", claimed))); !os.IsNotExist(err) {
		t.Errorf("the claimed checkpoint src/chk-%d is still there (%v) after the job's checkpoints subsumed it", claimed, err)
	}
}

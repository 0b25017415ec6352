package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// localCopyLine is run's note on where a resume's files came from (local recovery).
var localCopyLine = regexp.MustCompile(`\(local copy: (\d+) files, [^;]+; checkpoint storage: (\d+) files, [^)]+\)`)

// TestE2ELocalRecoveryKillAndResume kills a job with local recovery on at random moments and
// resumes it, each time after leaving the local copy alone or deleting all of it, or deleting,
// corrupting or truncating one file of it that the latest checkpoint references. Every resume
// must read exactly the damaged files from checkpoint storage (repairing their local copies)
// and the others from the local copy, the output must equal an uninterrupted run's, and the
// finished job leaves no local copy.
func TestE2ELocalRecoveryKillAndResume(t *testing.T) {
	e2eReference(t)
	for _, c := range []struct {
		backend     string
		incremental bool
	}{{"hashmap", false}, {"lsm", true}} {
		name := c.backend
		if c.incremental {
			name += "-incremental"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := e2eSeed(t)
			dir := t.TempDir()
			chk, out, local := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "out"), filepath.Join(dir, "local")
			base := []string{"run", "fraud", "--events", fmt.Sprint(e2eEvents), "--rate", fmt.Sprint(e2eRate),
				"--interval", "200ms", "--backend", c.backend, "--checkpoints", e2eURL(chk), "--output", out,
				"--progress", "0", "--savepoint-dir", e2eURL(dir, "savepoints"),
				"-D", "execution.state-recovery.from-local=true", "-D", "taskmanager.state.local.root-dirs=" + local}
			if c.incremental {
				base = append(base, "--incremental")
			}
			kills := 3 + rng.IntN(2)
			damage := &localDamage{deleted: map[int64]bool{}, files: map[int64]map[string]bool{}, uncertain: map[int64]bool{}}
			var history []string
			for run := 0; ; run++ {
				if run > 12 {
					t.Fatalf("the job did not finish in %d runs: %s", run, strings.Join(history, "; "))
				}
				args := append(slices.Clone(base), "-p", "2")
				damaged := -1 // files the resume must read from storage; -1: all of them
				var damagedID int64
				if run > 0 {
					args = append(args, "--resume")
					var how string
					how, damaged, damagedID = damage.damageLocalCopy(t, rng, chk, local)
					history = append(history, how)
				}
				p, err := startProc(e2eBinary(t), dir, args...)
				if err != nil {
					t.Fatal(err)
				}
				finished := false
				if run < kills {
					how := killRandomly(p, rng, chk)
					<-p.done
					if p.exited() && !strings.HasPrefix(how, "killed") {
						if p.err != nil {
							t.Fatalf("run %d failed: %v\nstdout:\n%s\nstderr:\n%s", run, p.err, p.stdout, p.stderr)
						}
						finished = true
					}
					history = append(history, how)
				} else {
					if err := p.wait(60 * time.Second); err != nil {
						t.Fatalf("run %d (after %s) failed: %v\nstdout:\n%s\nstderr:\n%s", run, strings.Join(history, "; "), err, p.stdout, p.stderr)
					}
					finished = true
				}
				if strings.Contains(p.stderr.String(), "panic") {
					t.Fatalf("run %d panicked:\n%s", run, p.stderr)
				}
				checkLocalCopyLine(t, run, p.stdout.String(), damaged)
				damage.restored(run, damagedID, p.stdout.String())
				if finished {
					history = append(history, "finished")
					break
				}
			}
			t.Logf("runs: %s", strings.Join(history, "; "))
			checkOutput(t, out)
			if left, _ := filepath.Glob(filepath.Join(local, "*", "*")); len(left) > 0 {
				t.Errorf("the finished job left its local copy: %q", left)
			}
		})
	}
}

// checkLocalCopyLine checks what a run says about where its restored files came from: exactly
// damaged files from checkpoint storage (all of them when damaged < 0), the others from the
// local copy. A run killed before it printed its header, or that started fresh, says nothing.
func checkLocalCopyLine(t *testing.T, run int, stdout string, damaged int) {
	t.Helper()
	if !strings.Contains(stdout, "local recovery in ") && strings.Contains(stdout, "job fraud") {
		t.Errorf("run %d does not say that local recovery is on:\n%s", run, stdout)
	}
	m := localCopyLine.FindStringSubmatch(stdout)
	if m == nil {
		if run > 0 && strings.Contains(stdout, "from checkpoint ") {
			t.Errorf("run %d resumed without saying where its files came from:\n%s", run, stdout)
		}
		return
	}
	t.Logf("run %d restored %s", run, m[0])
	if damaged == unknownDamage {
		return
	}
	nLocal, _ := strconv.Atoi(m[1])
	nRemote, _ := strconv.Atoi(m[2])
	switch {
	case damaged < 0 && nLocal != 0:
		t.Errorf("run %d read %d files from a deleted local copy: %s", run, nLocal, m[0])
	case damaged >= 0 && (nRemote != damaged || nLocal == 0):
		t.Errorf("run %d: %s; want %d files from checkpoint storage and the others from the local copy", run, m[0], damaged)
	}
}

// localDamage remembers what damageLocalCopy did to the local copy of each checkpoint: a
// checkpoint no run has replaced yet keeps its damage for the next resume, until a resume
// from it repairs it (reads the damaged files from storage into the local copy).
type localDamage struct {
	deleted map[int64]bool            // the whole local copy
	files   map[int64]map[string]bool // single files
	// uncertain marks checkpoints a run may or may not have restored (and repaired) before
	// it was killed: the next resume's counts are not checked.
	uncertain map[int64]bool
}

// unknownDamage says that the number of damaged files is not known.
const unknownDamage = -2

// restored updates the model after run, which resumed from checkpoint id (when id > 0): a run
// that says where its files came from has repaired the local copy of what it restored; one
// killed before it said so may have.
func (d *localDamage) restored(run int, id int64, stdout string) {
	if run == 0 || id == 0 {
		return
	}
	if m := regexp.MustCompile(`from checkpoint (\d+) \(local copy`).FindStringSubmatch(stdout); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		delete(d.deleted, n)
		delete(d.files, n)
		delete(d.uncertain, n)
		return
	}
	if !strings.Contains(stdout, "from ") {
		d.uncertain[id] = true
	}
}

// damageLocalCopy does one of five things to the local copy of the job's latest complete
// checkpoint before a resume: nothing, delete it all, or delete, corrupt or truncate one file
// that checkpoint references and that is still intact. It returns what it did, how many of
// the checkpoint's files the resume must read from storage (-1: all; unknownDamage: not
// known), and the checkpoint.
func (d *localDamage) damageLocalCopy(t *testing.T, rng *rand.Rand, chk, local string) (string, int, int64) {
	t.Helper()
	how, n, id := d.damage(t, rng, chk, local)
	if d.uncertain[id] && n >= 0 {
		n = unknownDamage
	}
	return how, n, id
}

func (d *localDamage) damage(t *testing.T, rng *rand.Rand, chk, local string) (string, int, int64) {
	t.Helper()
	id := latestCheckpoint(chk, "fraud")
	roots, _ := filepath.Glob(filepath.Join(local, "fraud-*"))
	if id == 0 || len(roots) != 1 {
		return "no local copy to damage", -1, id
	}
	if d.deleted[id] {
		return "local copy still deleted", -1, id
	}
	b, err := os.ReadFile(filepath.Join(chk, "fraud", fmt.Sprintf("chk-%d", id), snapshot.MetadataName))
	if err != nil {
		t.Fatal(err)
	}
	m, err := snapshot.DecodeMetadata("metadata", b)
	if err != nil {
		t.Fatal(err)
	}
	var intact []snapshot.FileRef
	for _, f := range m.Files() {
		if f.Size > 0 && !d.files[id][f.Path] {
			intact = append(intact, f)
		}
	}
	how := rng.IntN(5)
	if how == 0 || len(intact) == 0 {
		return "local copy left alone", len(d.files[id]), id
	}
	if how == 1 {
		if err := os.RemoveAll(roots[0]); err != nil {
			t.Fatal(err)
		}
		d.deleted[id] = true
		return "local copy deleted", -1, id
	}
	f := intact[rng.IntN(len(intact))]
	p := filepath.Join(roots[0], filepath.FromSlash(f.Path))
	switch how {
	case 2:
		err = os.Remove(p)
	case 3: // in place: every name of an lsm file's inode (its hard links) is damaged alike
		var data []byte
		if data, err = os.ReadFile(p); err == nil {
			data[rng.IntN(len(data))] ^= 0x10
			err = os.WriteFile(p, data, 0o600)
		}
	default:
		err = os.Truncate(p, f.Size/2)
	}
	if err != nil {
		t.Fatalf("damage the local copy of %s: %v", f.Path, err)
	}
	if d.files[id] == nil {
		d.files[id] = map[string]bool{}
	}
	d.files[id][f.Path] = true
	return fmt.Sprintf("local %s of checkpoint %d %s", f.Path, id, []string{2: "deleted", 3: "corrupted", 4: "truncated"}[how]), len(d.files[id]), id
}

// TestE2ELocalRecoveryCancelDiscards: a job canceled with SIGTERM ends for good, as in Flink,
// and its local copy goes with it; its checkpoints stay.
func TestE2ELocalRecoveryCancelDiscards(t *testing.T) {
	bin := e2eBinary(t)
	dir := t.TempDir()
	chk, local := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "local")
	p, err := startProc(bin, dir, "run", "fraud", "--events", "0", "--rate", "5000", "--interval", "100ms",
		"--backend", "lsm", "--incremental", "--checkpoints", e2eURL(chk), "--output", filepath.Join(dir, "out"), "--progress", "0",
		"-D", "execution.state-recovery.from-local=true", "-D", "taskmanager.state.local.root-dirs="+local)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for latestCheckpoint(chk, "fraud") == 0 && time.Now().Before(deadline) && !p.exited() {
		time.Sleep(20 * time.Millisecond)
	}
	files, _ := filepath.Glob(filepath.Join(local, "fraud-*", "*", "*"))
	if len(files) == 0 {
		p.signal(os.Kill)
		<-p.done
		t.Fatalf("no local copy while the job runs (checkpoint %d)\nstdout:\n%s\nstderr:\n%s", latestCheckpoint(chk, "fraud"), p.stdout, p.stderr)
	}
	p.signal(os.Interrupt)
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("canceled run: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(local, "*", "*")); len(left) > 0 {
		t.Errorf("the canceled job left its local copy: %q\nstdout:\n%s", left, p.stdout)
	}
	if latestCheckpoint(chk, "fraud") == 0 {
		t.Error("the canceled job's checkpoints are gone")
	}
}

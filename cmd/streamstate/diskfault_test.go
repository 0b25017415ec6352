//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The disk-fault test of issue 17: the real binary runs the fraud job with one of its
// directories (checkpoint storage, output, lsm working directory) on a tmpfs of its own; once
// a checkpoint has completed, that filesystem fills up or turns read-only. The job must fail
// within seconds, exit non-zero and name the directory; the checkpoints already completed must
// stay intact (`checkpoints validate` OK); and once the space is back, --resume must produce
// exactly the output of an uninterrupted run (the same multiset of lines).
//
// Mounting needs root (CAP_SYS_ADMIN); without it the test skips and says why. Root ignores
// file modes, so a read-only directory is a read-only remount.

const (
	// diskFaultRate makes a run last about 10 s, long enough to fault it after its first
	// checkpoint and before its sources end.
	diskFaultRate = 6000
	// diskFaultFailWithin bounds the time from the fault to the job's exit.
	diskFaultFailWithin = 20 * time.Second
	tmpfsSize           = 256 << 20
)

// mountTmpfs mounts a tmpfs of size bytes on dir (created) and unmounts it in t.Cleanup. It
// skips the test when mounting is not permitted.
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("cannot mount a tmpfs on %s (needs root or CAP_SYS_ADMIN): %v", dir, err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// Lazily: a killed process's open files must not keep the mount (and t.TempDir) alive.
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// remount changes the mount options of the tmpfs on dir.
func remount(t *testing.T, dir string, flags uintptr, data string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|flags, data); err != nil {
		t.Fatalf("remount %s (%s): %v", dir, data, err)
	}
}

// remountReadOnly tries to turn the tmpfs on dir read-only until within passes; it reports
// whether it succeeded. The kernel refuses (EBUSY) while a file on it is open for writing.
func remountReadOnly(dir string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
		if err == nil {
			return true
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fill writes a file into dir until its filesystem has no space left.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", dir, err)
				}
				break
			}
		}
	}
}

// TestDiskFault runs the fraud job with its checkpoint, output or lsm working directory on a
// tmpfs that fills up or turns read-only after the first checkpoint; see the comment above.
func TestDiskFault(t *testing.T) {
	bin := e2eBinary(t)
	// Probe once, so that a machine without the permission skips before any job runs.
	mountTmpfs(t, filepath.Join(t.TempDir(), "probe"), 1<<20)
	e2eReference(t)
	for _, where := range []string{"checkpoints", "output", "lsm"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			for _, fault := range []string{"full", "read-only"} {
				t.Run(fault, func(t *testing.T) { diskFault(t, bin, where, fault) })
			}
		})
	}
}

func diskFault(t *testing.T, bin, where, fault string) {
	dir := t.TempDir()
	chk, out, lsmDir := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "out"), filepath.Join(dir, "lsm")
	target := map[string]string{"checkpoints": chk, "output": out, "lsm": lsmDir}[where]
	mountTmpfs(t, target, tmpfsSize)
	args := []string{"run", "fraud", "--events", fmt.Sprint(e2eEvents), "-p", "2",
		"--interval", "200ms", "--backend", "lsm", "--incremental", "--checkpoints", e2eURL(chk), "--output", out,
		"--progress", "0", "--savepoint-dir", e2eURL(dir, "savepoints")}
	if where == "lsm" {
		// Flink's key for the lsm working directory (alias state.backend.rocksdb.localdir);
		// elsewhere the working directories go to $TMPDIR, which startProc sets.
		args = append(args, "-D", "state.backend.lsm.localdir="+lsmDir)
	}
	p, err := startProc(bin, dir, append(slices.Clone(args), "--rate", fmt.Sprint(diskFaultRate))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.exited() { // p as it is at the end: the faulted run
			p.cmd.Process.Kill()
			<-p.done
		}
	})

	// Fault the directory once a checkpoint has completed.
	deadline := time.Now().Add(30 * time.Second)
	for latestCheckpoint(chk, "fraud") < 1 {
		if p.exited() {
			t.Fatalf("the job exited before its first checkpoint: %v\nstdout:\n%s\nstderr:\n%s", p.err, p.stdout, p.stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint completed within 30 s\nstderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := latestCheckpoint(chk, "fraud")
	switch fault {
	case "full":
		fill(t, target)
	case "read-only":
		// A filesystem with files open for writing cannot turn read-only (EBUSY): the lsm
		// working directory always has (Pebble's MANIFEST), the others between writes. Then the
		// job is killed, the directory turned read-only, and the job resumed into it: that run
		// must fail the same way.
		if where == "lsm" || !remountReadOnly(target, 5*time.Second) {
			t.Logf("%s directory %s has files open for writing; killing the job, turning it read-only and resuming into it", where, target)
			p.cmd.Process.Kill()
			<-p.done
			remount(t, target, syscall.MS_RDONLY, "")
			if p, err = startProc(bin, dir, append(slices.Clone(args), "--resume", "--rate", fmt.Sprint(diskFaultRate))...); err != nil {
				t.Fatal(err)
			}
		}
	}
	faulted := time.Now()
	t.Logf("%s directory %s %s after checkpoint %d", where, target, fault, before)

	// A clear failure, within seconds.
	select {
	case <-p.done:
	case <-time.After(diskFaultFailWithin):
		t.Errorf("the job still runs %v after its %s directory became %s (it must fail within seconds); killed\nstderr:\n%s",
			diskFaultFailWithin, where, fault, tail(p.stderr.String(), 20))
		p.cmd.Process.Kill()
		<-p.done
	}
	took := time.Since(faulted)
	msg := p.stdout.String() + p.stderr.String()
	switch {
	case p.err == nil:
		t.Errorf("the job exited 0 though its %s directory became %s\nstdout:\n%s\nstderr:\n%s", where, fault, p.stdout, p.stderr)
	case strings.Contains(msg, "panic"):
		t.Errorf("the job panicked:\n%s", p.stderr)
	case !strings.Contains(msg, target):
		t.Errorf("the job's failure does not name the %s directory %s:\n%s", where, target, tail(p.stderr.String(), 20))
	default:
		t.Logf("failed %v after the fault: %s", took.Round(time.Millisecond), lastLine(p.stderr.String()))
	}

	// The checkpoints already completed are intact.
	if got := latestCheckpoint(chk, "fraud"); got < before {
		t.Errorf("the latest complete checkpoint is %d after the fault, was %d", got, before)
	}
	if stdout, stderr, err := runBinary(t, dir, "checkpoints", "validate", e2eURL(chk), "--all"); err != nil || !strings.Contains(stdout, "OK") {
		t.Errorf("checkpoints validate after the fault: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}

	// Space back: the resumed job produces the uninterrupted run's output.
	switch fault {
	case "full":
		remount(t, target, 0, fmt.Sprintf("size=%d", 2*tmpfsSize))
	case "read-only":
		remount(t, target, 0, "")
	}
	r, err := startProc(bin, dir, append(args, "--resume")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.wait(90 * time.Second); err != nil {
		t.Fatalf("the resumed run failed: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout.String(), "from checkpoint ") {
		t.Errorf("the resumed run did not restore a checkpoint:\n%s", r.stdout)
	}
	checkOutput(t, out)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func lastLine(s string) string { return tail(s, 1) }

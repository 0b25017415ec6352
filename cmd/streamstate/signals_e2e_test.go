package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// End-to-end tests of job control: signals from the first instant of a run, `streamstate
// savepoint` against jobs and against processes that are not, cancel with SIGINT/SIGTERM.

// startSignalProc starts the binary like startProc, with the runtime directory rt.
func startSignalProc(t *testing.T, dir, rt string, args ...string) *proc {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(e2eBinary(t), args...), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(dir, "tmp"), runtimeDirEnv+"="+rt)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// signalTestArgs runs fraud unbounded and rate-limited, so that only a signal ends it.
func signalTestArgs(dir string, extra ...string) []string {
	return append([]string{"run", "fraud", "--events", "0", "--rate", "5000", "--interval", "0", "--progress", "0",
		"--checkpoints", e2eURL(dir, "checkpoints"), "--savepoint-dir", e2eURL(dir, "savepoints"), "--output", filepath.Join(dir, "out")}, extra...)
}

// blockedConfig returns a FIFO to pass as --config: the job blocks reading it — inside its
// start, before anything runs — until release writes a configuration into it.
func blockedConfig(t *testing.T, dir string) (path string, release func()) {
	t.Helper()
	path = filepath.Join(dir, "config.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, err := io.WriteString(f, "execution.checkpointing.interval: 0\n"); err != nil {
			t.Error(err)
		}
	}
}

// waitRecord waits until the job pid has its runtime record: from then on its signals are
// handled (it is written after signal.Notify).
func waitRecord(t *testing.T, p *proc, rt string) {
	t.Helper()
	name := filepath.Join(rt, recordName(p.cmd.Process.Pid))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !p.exited() {
		if _, err := os.Stat(name); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no runtime record %s (exited: %v)\nstdout:\n%s\nstderr:\n%s", name, p.exited(), p.stdout, p.stderr)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

var savepointAnswer = regexp.MustCompile(`savepoint (\d+) of job fraud \(pid (\d+)\) written to file://(\S+) `)

// TestE2ESignalsWhileStarting asks a job for savepoints while it is still starting (blocked
// reading its configuration): once by `streamstate savepoint <pid>`, once by `streamstate
// savepoint` without a pid (how a `go run` user finds the job), once by a bare SIGUSR1
// (pending signals coalesce, so one savepoint may answer several). They are taken as soon as
// the job runs, and each savepoint command prints where its savepoint went. SIGTERM then cancels the job: exit status 0 and a message saying so.
func TestE2ESignalsWhileStarting(t *testing.T) {
	e2eBinary(t)
	t.Parallel()
	dir, rt := t.TempDir(), filepath.Join(t.TempDir(), "rt")
	cfg, release := blockedConfig(t, dir)
	job := startSignalProc(t, dir, rt, signalTestArgs(dir, "--config", cfg)...)
	waitRecord(t, job, rt)
	job.signal(syscall.SIGUSR1)
	byPID := startSignalProc(t, dir, rt, "savepoint", strconv.Itoa(job.cmd.Process.Pid))
	byDefault := startSignalProc(t, dir, rt, "savepoint", "--timeout", "1m")
	// The savepoint commands wait: the job cannot answer before it runs.
	time.Sleep(500 * time.Millisecond)
	if byPID.exited() || byDefault.exited() {
		t.Fatalf("a savepoint command returned while the job was starting:\n%s%s\n%s%s", byPID.stdout, byPID.stderr, byDefault.stdout, byDefault.stderr)
	}
	if strings.Contains(job.stdout.String(), "job fraud (pid") {
		t.Fatalf("the job ran before its configuration was written:\n%s", job.stdout)
	}
	release()

	for name, sp := range map[string]*proc{"savepoint <pid>": byPID, "savepoint": byDefault} {
		if err := sp.wait(60 * time.Second); err != nil {
			t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s\njob stderr:\n%s", name, err, sp.stdout, sp.stderr, job.stderr)
		}
		m := savepointAnswer.FindStringSubmatch(sp.stdout.String())
		if m == nil {
			t.Fatalf("%s printed no savepoint path:\n%s", name, sp.stdout)
		}
		if m[2] != strconv.Itoa(job.cmd.Process.Pid) {
			t.Errorf("%s answered for pid %s, want %d", name, m[2], job.cmd.Process.Pid)
		}
		if _, err := os.Stat(filepath.Join(m[3], "_metadata")); err != nil {
			t.Errorf("%s: the savepoint it printed is not there: %v", name, err)
		}
	}
	if want := fmt.Sprintf("job fraud (pid %d,", job.cmd.Process.Pid); !strings.Contains(job.stdout.String(), want) {
		t.Errorf("the job's header does not give its pid (%q):\n%s", want, job.stdout)
	}
	if !strings.Contains(job.stderr.String(), "is starting; the savepoint is taken as soon as it runs") {
		t.Errorf("the job did not say it queued the savepoint:\n%s", job.stderr)
	}

	job.signal(syscall.SIGTERM)
	if err := job.wait(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v, want exit status 0\nstdout:\n%s\nstderr:\n%s", err, job.stdout, job.stderr)
	}
	if !strings.Contains(job.stdout.String(), "job fraud canceled (SIGTERM) without a savepoint") {
		t.Errorf("no cancel message:\n%s", job.stdout)
	}
	if left, _ := filepath.Glob(filepath.Join(rt, "*")); len(left) > 0 {
		t.Errorf("runtime files left after the job and the savepoint commands exited: %v", left)
	}
}

// TestE2EStopWhileStarting: a stop-with-savepoint asked while the job starts stops it as soon
// as it runs; the command prints the savepoint and the job exits 0.
func TestE2EStopWhileStarting(t *testing.T) {
	e2eBinary(t)
	t.Parallel()
	dir, rt := t.TempDir(), filepath.Join(t.TempDir(), "rt")
	cfg, release := blockedConfig(t, dir)
	job := startSignalProc(t, dir, rt, signalTestArgs(dir, "--config", cfg)...)
	waitRecord(t, job, rt)
	sp := startSignalProc(t, dir, rt, "savepoint", "--job", "fraud", "--stop")
	time.Sleep(200 * time.Millisecond)
	release()
	if err := sp.wait(60 * time.Second); err != nil {
		t.Fatalf("savepoint --stop: %v\nstdout:\n%s\nstderr:\n%s\njob stderr:\n%s", err, sp.stdout, sp.stderr, job.stderr)
	}
	if m := savepointAnswer.FindStringSubmatch(sp.stdout.String()); m == nil || !strings.Contains(sp.stdout.String(), "the job stops") {
		t.Errorf("savepoint --stop printed:\n%s", sp.stdout)
	}
	if err := job.wait(30 * time.Second); err != nil {
		t.Fatalf("job: %v\nstdout:\n%s\nstderr:\n%s", err, job.stdout, job.stderr)
	}
	if !strings.Contains(job.stdout.String(), "job fraud stopped with a savepoint") {
		t.Errorf("the job did not stop with a savepoint:\n%s", job.stdout)
	}
}

// TestE2ECancel: SIGINT or SIGTERM cancels a running job cleanly (exit status 0, a message
// that says so, its committed output intact); during the start a first SIGINT cancels and a
// second exits at once with status 130.
func TestE2ECancel(t *testing.T) {
	e2eBinary(t)
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		name := signalName(sig)
		t.Run(name, func(t *testing.T) {
			dir, rt := t.TempDir(), filepath.Join(t.TempDir(), "rt")
			job := startSignalProc(t, dir, rt, signalTestArgs(dir, "--interval", "100ms")...)
			deadline := time.Now().Add(30 * time.Second)
			for latestCheckpoint(filepath.Join(dir, "checkpoints"), "fraud") < 1 && time.Now().Before(deadline) && !job.exited() {
				time.Sleep(5 * time.Millisecond)
			}
			job.signal(sig)
			if err := job.wait(30 * time.Second); err != nil {
				t.Fatalf("%s: %v, want exit status 0\nstdout:\n%s\nstderr:\n%s", name, err, job.stdout, job.stderr)
			}
			if want := "job fraud canceled (" + name + ") without a savepoint"; !strings.Contains(job.stdout.String(), want) {
				t.Errorf("stdout lacks %q:\n%s", want, job.stdout)
			}
			if s := job.stderr.String() + job.stdout.String(); strings.Contains(s, "job fraud failed") || strings.Contains(s, "context canceled") {
				t.Errorf("a cancel reported a failure:\nstdout:\n%s\nstderr:\n%s", job.stdout, job.stderr)
			}
			if _, err := readOutput(filepath.Join(dir, "out")); err != nil {
				t.Errorf("committed output after the cancel: %v", err)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		dir, rt := t.TempDir(), filepath.Join(t.TempDir(), "rt")
		cfg, _ := blockedConfig(t, dir) // never released: the start cannot end by itself
		job := startSignalProc(t, dir, rt, signalTestArgs(dir, "--config", cfg)...)
		waitRecord(t, job, rt)
		job.signal(syscall.SIGINT)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(job.stderr.String(), "canceling job fraud while it starts") && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		job.signal(syscall.SIGINT)
		err := job.wait(10 * time.Second)
		if exitCode(err) != 130 {
			t.Fatalf("second SIGINT: %v, want exit status 130\nstdout:\n%s\nstderr:\n%s", err, job.stdout, job.stderr)
		}
		if !strings.Contains(job.stderr.String(), "exiting at once") {
			t.Errorf("stderr does not say it exits at once:\n%s", job.stderr)
		}
		if left, _ := filepath.Glob(filepath.Join(rt, "*")); len(left) > 0 {
			t.Errorf("runtime files left after a forced exit: %v", left)
		}
	})
}

// TestE2ESavepointRefusesNonJob: `streamstate savepoint` against a process that is not a
// streamstate job (a sleep, also one whose pid a stale record names) refuses, names why, and
// does not signal it: the sleep lives on (SIGUSR1 would have killed it).
func TestE2ESavepointRefusesNonJob(t *testing.T) {
	e2eBinary(t)
	t.Parallel()
	dir, rt := t.TempDir(), filepath.Join(t.TempDir(), "rt")
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	sleepDone := make(chan error, 1)
	go func() { sleepDone <- sleep.Wait() }()
	defer func() { sleep.Process.Kill(); <-sleepDone }()
	pid := sleep.Process.Pid
	alive := func(when string) {
		t.Helper()
		select {
		case err := <-sleepDone:
			t.Fatalf("%s: the sleep process died: %v", when, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	refuses := func(when string, want ...string) {
		t.Helper()
		p := startSignalProc(t, dir, rt, "savepoint", strconv.Itoa(pid))
		err := p.wait(30 * time.Second)
		if exitCode(err) != 1 {
			t.Fatalf("%s: %v, want exit status 1\nstdout:\n%s\nstderr:\n%s", when, err, p.stdout, p.stderr)
		}
		for _, w := range append(want, "is not a running streamstate job", "nothing was signalled") {
			if !strings.Contains(p.stderr.String(), w) {
				t.Errorf("%s: stderr lacks %q:\n%s", when, w, p.stderr)
			}
		}
		alive(when)
	}
	refuses("no record")

	// A record left by a job that died, whose pid the sleep now has.
	if err := os.MkdirAll(rt, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := jobRecord{PID: pid, StartTime: "1", JobID: "fraud", State: "running"}
	r := &runtimeDir{dir: rt}
	if err := r.writeFile(recordName(pid), stale); err != nil {
		t.Fatal(err)
	}
	refuses("stale record", "has exited")
	if _, err := os.Stat(filepath.Join(rt, recordName(pid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale record was not removed: %v", err)
	}

	// A runtime directory others can write to is refused: its records cannot be trusted.
	if err := os.Chmod(rt, 0o777); err != nil {
		t.Fatal(err)
	}
	p := startSignalProc(t, dir, rt, "savepoint", strconv.Itoa(pid))
	if err := p.wait(30 * time.Second); exitCode(err) != 1 || !strings.Contains(p.stderr.String(), "others may write to it") {
		t.Errorf("open runtime directory: %v\nstderr:\n%s", err, p.stderr)
	}
	alive("open runtime directory")
}

// TestRunHashmapIncremental: --incremental with the hashmap backend takes incremental
// checkpoints: the completed checkpoints' keyed handles are chains whose files live under
// shared/, and later ones are deltas on a base.
func TestRunHashmapIncremental(t *testing.T) {
	dir := t.TempDir()
	chk := filepath.Join(dir, "chk")
	var out strings.Builder
	err := run(context.Background(), []string{"run", "fraud", "--events", "20000", "--rate", "20000", "--progress", "0",
		"--interval", "100ms", "--backend", "hashmap", "--incremental", "-D", "state.checkpoints.num-retained=3",
		"--checkpoints", e2eURL(dir, "chk"), "--output", filepath.Join(dir, "out")}, &out, io.Discard)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	mds, _ := filepath.Glob(filepath.Join(chk, "*", "chk-*", snapshot.MetadataName))
	chains, deltas := 0, 0
	for _, p := range mds {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := snapshot.DecodeMetadata(p, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range m.Operators {
			for _, h := range o.Keyed {
				if h.Incremental == nil || h.Incremental.Backend != snapshot.HashmapChainBackend {
					t.Errorf("%s: keyed handle of operator %s is not a hashmap chain", p, o.ID)
					continue
				}
				chains++
				deltas += len(h.Incremental.Chain) - 1
			}
		}
	}
	if len(mds) == 0 || chains == 0 || deltas == 0 {
		t.Fatalf("%d checkpoints, %d chains, %d deltas: want chains with deltas\nstdout:\n%s", len(mds), chains, deltas, out.String())
	}
	// inspect shows the chains; validate reads every file of them, deltas included.
	job := filepath.Base(filepath.Dir(filepath.Dir(mds[0])))
	insp, _, err := runCLI(t, "checkpoints", "inspect", e2eURL(dir, "chk"), "--job", job)
	if err != nil || !strings.Contains(insp, snapshot.HashmapChainBackend) || !strings.Contains(insp, "delta 1") {
		t.Errorf("inspect: %v\n%s", err, insp)
	}
	val, _, err := runCLI(t, "checkpoints", "validate", e2eURL(dir, "chk"), "--all")
	if err != nil || !strings.Contains(val, ": ok") || strings.Contains(val, "corrupt") {
		t.Errorf("validate: %v\n%s", err, val)
	}
}

// TestRunRedactsStorageCredentials: a checkpoint storage URL with credentials that fails to
// open gives an error without them.
func TestRunRedactsStorageCredentials(t *testing.T) {
	dir := t.TempDir()
	url := "s3://AKIAEXAMPLEKEY:wJalrXUtnFEMIsecret@bucket/chk?region=us-east-1&secret_access_key=Z9secretZ9&no_such_param=1"
	var out, log strings.Builder
	err := run(context.Background(), []string{"run", "fraud", "--events", "10", "--progress", "0", "--checkpoints", url,
		"--output", filepath.Join(dir, "out")}, &out, &log)
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "s3://bucket") {
		t.Errorf("the error does not name the storage: %v", err)
	}
	for _, s := range []string{"AKIAEXAMPLEKEY", "wJalrXUtnFEMIsecret", "Z9secretZ9"} {
		if strings.Contains(err.Error()+out.String()+log.String(), s) {
			t.Errorf("the output quotes %q: %v\n%s%s", s, err, out.String(), log.String())
		}
	}
}

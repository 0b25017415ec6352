package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamstate/streamstate/stream"
)

// End-to-end tests: the real binary, run as a user would, killed with SIGKILL, stopped with
// SIGUSR2, restarted with --resume or --from at other parallelisms and backends. Every run's
// output (the committed part-* files) must equal an uninterrupted run's, line for line.

// e2eEvents and e2eRate make a rate-limited run last about 5 s, long enough to be killed
// several times.
const (
	e2eEvents = 60000
	e2eRate   = 12000
)

var e2e struct {
	once    sync.Once
	dir     string // removed by TestMain
	bin     string
	err     error
	refOnce sync.Once
	ref     map[string]int
	refErr  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e2e.dir != "" {
		os.RemoveAll(e2e.dir)
	}
	os.Exit(code)
}

// e2eBinary builds the streamstate binary once (without -race, for speed) and returns its path.
func e2eBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	e2e.once.Do(func() {
		if e2e.dir, e2e.err = os.MkdirTemp("", "streamstate-e2e-"); e2e.err != nil {
			return
		}
		e2e.bin = filepath.Join(e2e.dir, "streamstate")
		cmd := exec.Command("go", "build", "-o", e2e.bin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			e2e.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if e2e.err != nil {
		t.Fatal(e2e.err)
	}
	return e2e.bin
}

// e2eReference returns the output of an uninterrupted, unthrottled run without checkpoints.
func e2eReference(t *testing.T) map[string]int {
	t.Helper()
	bin := e2eBinary(t)
	e2e.refOnce.Do(func() {
		dir := filepath.Join(e2e.dir, "reference")
		p, err := startProc(bin, dir, "run", "fraud", "--events", fmt.Sprint(e2eEvents), "-p", "2", "--backend", "hashmap",
			"--interval", "0", "--checkpoints", e2eURL(dir, "checkpoints"), "--output", filepath.Join(dir, "out"), "--progress", "0")
		if err != nil {
			e2e.refErr = err
			return
		}
		if err := p.wait(60 * time.Second); err != nil {
			e2e.refErr = fmt.Errorf("reference run: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
			return
		}
		e2e.ref, e2e.refErr = readOutput(filepath.Join(dir, "out"))
		if e2e.refErr == nil && len(e2e.ref) == 0 {
			e2e.refErr = errors.New("the reference run wrote no output")
		}
	})
	if e2e.refErr != nil {
		t.Fatal(e2e.refErr)
	}
	return e2e.ref
}

func e2eURL(elem ...string) string { return "file://" + filepath.ToSlash(filepath.Join(elem...)) }

// lockedBuffer is a bytes.Buffer safe for the writing goroutines of os/exec and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// proc is a running streamstate process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	err            error // of Wait, once done is closed
}

// startProc starts bin with args in dir (created), with TMPDIR inside dir so that the lsm
// working directories a killed process leaves behind are removed with it.
func startProc(bin, dir string, args ...string) (*proc, error) {
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	p := &proc{cmd: exec.Command(bin, args...), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// wait waits for the process to exit; after timeout it kills it and reports so.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("no exit within %v: killed", timeout)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(s os.Signal) { p.cmd.Process.Signal(s) }

// run runs bin to completion and returns its stdout, stderr and exit error.
func runBinary(t *testing.T, dir string, args ...string) (string, string, error) {
	t.Helper()
	p, err := startProc(e2eBinary(t), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	err = p.wait(60 * time.Second)
	return p.stdout.String(), p.stderr.String(), err
}

// readOutput returns the multiset of lines the job's file sink published in dir.
func readOutput(dir string) (map[string]int, error) {
	got, err := stream.CommittedLines(dir)
	if err != nil {
		return nil, err
	}
	lines := map[string]int{}
	for _, l := range got {
		lines[l]++
	}
	return lines, nil
}

// checkOutput compares the committed output in dir with the reference run's.
func checkOutput(t *testing.T, dir string) {
	t.Helper()
	want := e2eReference(t)
	got, err := readOutput(dir)
	if err != nil {
		t.Fatal(err)
	}
	var diffs []string
	for l, n := range got {
		if n != want[l] {
			diffs = append(diffs, fmt.Sprintf("%q: %d times, want %d", l, n, want[l]))
		}
	}
	for l, n := range want {
		if _, ok := got[l]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: missing, want %d", l, n))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		t.Errorf("output in %s differs from the uninterrupted run (%d distinct lines):\n%s", dir, len(want), strings.Join(diffs, "\n"))
	}
}

// latestCheckpoint returns the highest complete checkpoint id of job in root (0 if none).
func latestCheckpoint(root, job string) int64 {
	dirs, _ := filepath.Glob(filepath.Join(root, job, "chk-*"))
	var latest int64
	for _, d := range dirs {
		id, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(d), "chk-"), 10, 64)
		if err != nil || id <= latest {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "_metadata")); err == nil {
			latest = id
		}
	}
	return latest
}

// e2eSeed returns a seeded generator and logs the seed (STREAMSTATE_E2E_SEED replays one).
func e2eSeed(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STREAMSTATE_E2E_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("STREAMSTATE_E2E_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with STREAMSTATE_E2E_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

func randDuration(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// TestE2EKillAndResume kills a rate-limited job at random moments, resumes it each time at
// another parallelism, and checks that the final output equals an uninterrupted run's.
func TestE2EKillAndResume(t *testing.T) {
	e2eReference(t)
	for _, c := range []struct {
		backend     string
		incremental bool
	}{{"hashmap", false}, {"hashmap", true}, {"lsm", false}, {"lsm", true}} {
		name := c.backend
		if c.incremental {
			name += "-incremental"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := e2eSeed(t)
			dir := t.TempDir()
			chk, out := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "out")
			base := []string{"run", "fraud", "--events", fmt.Sprint(e2eEvents), "--rate", fmt.Sprint(e2eRate),
				"--interval", "200ms", "--backend", c.backend, "--checkpoints", e2eURL(chk), "--output", out,
				"--progress", "0", "--savepoint-dir", e2eURL(dir, "savepoints")}
			if c.incremental {
				base = append(base, "--incremental")
			}
			pars := []int{2, 3, 1, 2}
			kills := 3 + rng.IntN(2)
			var history []string
			for run := 0; ; run++ {
				if run > 12 {
					t.Fatalf("the job did not finish in %d runs: %s", run, strings.Join(history, "; "))
				}
				par := pars[run%len(pars)]
				args := append(slices.Clone(base), "-p", fmt.Sprint(par))
				if run > 0 {
					args = append(args, "--resume")
				}
				p, err := startProc(e2eBinary(t), dir, args...)
				if err != nil {
					t.Fatal(err)
				}
				if run < kills {
					how := killRandomly(p, rng, chk)
					if p.exited() && !strings.HasPrefix(how, "killed") {
						if p.err != nil {
							t.Fatalf("run %d (-p %d) failed: %v\nstdout:\n%s\nstderr:\n%s", run, par, p.err, p.stdout, p.stderr)
						}
						history = append(history, fmt.Sprintf("-p %d finished before the kill", par))
						break
					}
					history = append(history, fmt.Sprintf("-p %d %s", par, how))
					// A kill must not leave a process the next run would race with.
					<-p.done
					if strings.Contains(p.stderr.String(), "panic") {
						t.Fatalf("run %d panicked:\n%s", run, p.stderr)
					}
					continue
				}
				if err := p.wait(60 * time.Second); err != nil {
					t.Fatalf("run %d (-p %d, after %s) failed: %v\nstdout:\n%s\nstderr:\n%s", run, par, strings.Join(history, "; "), err, p.stdout, p.stderr)
				}
				if run > 0 && !strings.Contains(p.stdout.String(), "from checkpoint ") {
					t.Errorf("run %d did not resume from a checkpoint:\n%s", run, p.stdout)
				}
				history = append(history, fmt.Sprintf("-p %d finished", par))
				break
			}
			t.Logf("runs: %s", strings.Join(history, "; "))
			checkOutput(t, out)
		})
	}
}

// killRandomly SIGKILLs p after a random 0.5–1.5 s, or right after a checkpoint completes
// (its _metadata appears), or soon after a savepoint (SIGUSR1), whose published files the
// resumed job, restored from an earlier checkpoint, must retract; it says which.
func killRandomly(p *proc, rng *rand.Rand, chk string) string {
	switch rng.IntN(4) {
	case 0:
		time.Sleep(randDuration(rng, 300*time.Millisecond, 900*time.Millisecond))
		p.signal(syscall.SIGUSR1)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && !p.exited() {
			if m := savepointLine.FindStringSubmatch(p.stdout.String()); m != nil {
				time.Sleep(randDuration(rng, 0, 300*time.Millisecond))
				p.signal(syscall.SIGKILL)
				return "killed after a savepoint"
			}
			time.Sleep(time.Millisecond)
		}
		if p.exited() {
			return "exited"
		}
	case 1:
		deadline := time.Now().Add(3 * time.Second)
		time.Sleep(randDuration(rng, 300*time.Millisecond, 900*time.Millisecond))
		seen := latestCheckpoint(chk, "fraud")
		for time.Now().Before(deadline) && !p.exited() {
			if id := latestCheckpoint(chk, "fraud"); id > seen {
				p.signal(syscall.SIGKILL)
				return fmt.Sprintf("killed right after checkpoint %d", id)
			}
			time.Sleep(time.Millisecond)
		}
		if p.exited() {
			return "exited"
		}
	default:
		d := randDuration(rng, 500*time.Millisecond, 1500*time.Millisecond)
		select {
		case <-p.done:
			return "exited"
		case <-time.After(d):
		}
	}
	p.signal(syscall.SIGKILL)
	return "killed"
}

var savepointLine = regexp.MustCompile(`savepoint \d+ written to (\S+) `)

// stopWithSavepoint sends SIGUSR2 to p after d, waits for its exit 0 and returns the
// savepoint directory it printed.
func stopWithSavepoint(t *testing.T, p *proc, d time.Duration) string {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("the job ended before the stop-with-savepoint: %v\nstdout:\n%s\nstderr:\n%s", p.err, p.stdout, p.stderr)
	case <-time.After(d):
	}
	p.signal(syscall.SIGUSR2)
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("stop with savepoint: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
	}
	out := p.stdout.String()
	if !strings.Contains(out, "stopped with a savepoint") {
		t.Fatalf("the job did not stop with a savepoint:\n%s\nstderr:\n%s", out, p.stderr)
	}
	m := savepointLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no savepoint line in stdout:\n%s", out)
	}
	return m[1]
}

// TestE2ESavepointRescale stops a job with a savepoint twice, restoring it each time at
// another parallelism and on another backend, into the same output directory.
func TestE2ESavepointRescale(t *testing.T) {
	e2eReference(t)
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	args := func(par int, backend string) []string {
		return []string{"run", "fraud", "--events", fmt.Sprint(e2eEvents), "--rate", fmt.Sprint(e2eRate),
			"--interval", "200ms", "--backend", backend, "-p", fmt.Sprint(par), "--output", out, "--progress", "0",
			"--checkpoints", e2eURL(dir, "checkpoints"), "--savepoint-dir", e2eURL(dir, "savepoints")}
	}
	bin := e2eBinary(t)

	p, err := startProc(bin, dir, args(2, "hashmap")...)
	if err != nil {
		t.Fatal(err)
	}
	sp1 := stopWithSavepoint(t, p, time.Second)

	p, err = startProc(bin, dir, append(args(3, "lsm"), "--from", sp1)...)
	if err != nil {
		t.Fatal(err)
	}
	sp2 := stopWithSavepoint(t, p, time.Second)
	if !strings.Contains(p.stdout.String(), "from savepoint ") {
		t.Errorf("the second run was not restored from the savepoint:\n%s", p.stdout)
	}

	p, err = startProc(bin, dir, append(args(1, "hashmap"), "--from", sp2)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.wait(60 * time.Second); err != nil {
		t.Fatalf("final run from %s: %v\nstdout:\n%s\nstderr:\n%s", sp2, err, p.stdout, p.stderr)
	}
	if !strings.Contains(p.stdout.String(), "job fraud finished") {
		t.Errorf("the final run did not finish:\n%s", p.stdout)
	}
	checkOutput(t, out)
}

// TestE2EBadInput runs the binary with bad settings: each fails with an error that says what
// is wrong.
func TestE2EBadInput(t *testing.T) {
	e2eBinary(t)
	t.Parallel()
	dir := t.TempDir()
	base := []string{"run", "fraud", "--events", "100", "--checkpoints", e2eURL(dir, "checkpoints"), "--output", filepath.Join(dir, "out"), "--progress", "0"}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown key", []string{"-D", "state.backend.no-such-key=1"}, []string{"state.backend.no-such-key"}},
		{"missing from", []string{"--from", filepath.Join(dir, "no-such-savepoint")}, []string{"--from", "no-such-savepoint"}},
		{"missing from checkpoint", []string{"--from", filepath.Join(dir, "checkpoints", "fraud", "chk-7")}, []string{"--from", "chk-7"}},
		{"parallelism 0", []string{"-p", "0"}, []string{"parallelism", "0"}},
		{"parallelism.default 0", []string{"-D", "parallelism.default=0"}, []string{"parallelism.default", "0"}},
		{"parallelism too large", []string{"-p", "40000"}, []string{"parallelism", "40000"}},
		{"fresh-if-unreadable without resume", []string{"--fresh-if-unreadable"}, []string{"--fresh-if-unreadable", "--resume"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, err := runBinary(t, dir, append(slices.Clone(base), c.args...)...)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("want exit status 1, got %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr shows a panic:\n%s", stderr)
			}
		})
	}
}

// TestE2ECorruptCheckpoint kills a job, flips bytes in a data file of its latest checkpoint
// and resumes it: the job falls back to the previous retained checkpoint, says which file is
// bad, and its final output still equals an uninterrupted run's.
func TestE2ECorruptCheckpoint(t *testing.T) {
	e2eReference(t)
	t.Parallel()
	rng := e2eSeed(t)
	for _, backend := range []string{"hashmap", "lsm"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			chk, out := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "out")
			args := []string{"run", "fraud", "--events", fmt.Sprint(e2eEvents), "--rate", fmt.Sprint(e2eRate),
				"--interval", "200ms", "--backend", backend, "-p", "2", "--checkpoints", e2eURL(chk), "--output", out,
				"--progress", "0", "-D", "state.checkpoints.num-retained=2"}
			p, err := startProc(e2eBinary(t), dir, args...)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(randDuration(rng, 800*time.Millisecond, 1500*time.Millisecond))
			p.signal(syscall.SIGKILL)
			<-p.done
			if p.err == nil {
				t.Fatalf("the job finished before the kill:\n%s", p.stdout)
			}

			latest := latestCheckpoint(chk, "fraud")
			if latest < 2 {
				t.Fatalf("only checkpoint %d is complete", latest)
			}
			data, _ := filepath.Glob(filepath.Join(chk, "fraud", fmt.Sprintf("chk-%d", latest), "fraud-detector-keyed-*"))
			if len(data) == 0 {
				t.Fatalf("no keyed state file in checkpoint %d", latest)
			}
			bad := data[rng.IntN(len(data))]
			b, err := os.ReadFile(bad)
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				b[rng.IntN(len(b))] ^= 0xff
			}
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}

			p, err = startProc(e2eBinary(t), dir, append(args, "--resume")...)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.wait(60 * time.Second); err != nil {
				t.Fatalf("resume: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
			}
			if want := fmt.Sprintf("from checkpoint %d", latest-1); !strings.Contains(p.stdout.String(), want) {
				t.Errorf("stdout lacks %q:\n%s", want, p.stdout)
			}
			if !strings.Contains(p.stderr.String(), filepath.Base(bad)) {
				t.Errorf("stderr does not name the corrupt file %s:\n%s", filepath.Base(bad), p.stderr)
			}
			checkOutput(t, out)
		})
	}
}

// TestE2EUnreadableCheckpoints kills a job, damages the _metadata of every checkpoint it
// retained, and resumes it: the resume fails naming each checkpoint, instead of silently
// starting fresh and publishing the killed run's lines a second time. With
// --fresh-if-unreadable it still refuses the output directory that holds those lines, and
// starts fresh into a new one.
func TestE2EUnreadableCheckpoints(t *testing.T) {
	e2eReference(t)
	t.Parallel()
	dir := t.TempDir()
	chk, out := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "out")
	args := []string{"run", "fraud", "--events", fmt.Sprint(e2eEvents), "--interval", "200ms", "--backend", "hashmap", "-p", "2",
		"--checkpoints", e2eURL(chk), "--progress", "0", "-D", "state.checkpoints.num-retained=2"}
	p, err := startProc(e2eBinary(t), dir, append(slices.Clone(args), "--rate", fmt.Sprint(e2eRate), "--output", out)...)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		published, err := readOutput(out)
		if err == nil && len(published) > 0 && latestCheckpoint(chk, "fraud") >= 2 {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			p.signal(syscall.SIGKILL)
			<-p.done
			t.Fatalf("no two checkpoints and published output before the job ended or 30 s passed: %v\nstdout:\n%s\nstderr:\n%s", p.err, p.stdout, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.signal(syscall.SIGKILL)
	<-p.done

	metas, _ := filepath.Glob(filepath.Join(chk, "fraud", "chk-*", "_metadata"))
	if len(metas) < 2 {
		t.Fatalf("%d checkpoints retained, want at least 2: %v", len(metas), metas)
	}
	var damaged []string
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x01
		if err := os.WriteFile(m, b, 0o644); err != nil {
			t.Fatal(err)
		}
		damaged = append(damaged, filepath.Base(filepath.Dir(m))+"/_metadata")
	}
	before, err := readOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	expectFailure := func(extra []string, want ...string) {
		t.Helper()
		stdout, stderr, err := runBinary(t, dir, append(slices.Clone(args), extra...)...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("%v: want a non-zero exit status, got %v\nstdout:\n%s\nstderr:\n%s", extra, err, stdout, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", extra, w, stderr)
			}
		}
		if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
			t.Errorf("stderr shows a panic:\n%s", stderr)
		}
		after, err := readOutput(out)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(after, before) {
			t.Errorf("%v: the output changed: %d distinct lines, then %d", extra, len(before), len(after))
		}
	}
	expectFailure([]string{"--resume", "--output", out}, append(damaged, "--fresh-if-unreadable", "no readable checkpoint")...)
	expectFailure([]string{"--resume", "--fresh-if-unreadable", "--output", out}, out, "--output", "part files")

	out2 := filepath.Join(dir, "out2")
	stdout, stderr, err := runBinary(t, dir, append(slices.Clone(args), "--resume", "--fresh-if-unreadable", "--output", out2)...)
	if err != nil {
		t.Fatalf("fresh start into a new output directory: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "from a fresh start") {
		t.Errorf("stdout does not say the run started fresh:\n%s", stdout)
	}
	for _, d := range damaged {
		if !strings.Contains(stderr, d) {
			t.Errorf("the warning does not name %s:\n%s", d, stderr)
		}
	}
	checkOutput(t, out2)
}

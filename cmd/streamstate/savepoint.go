package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/streamstate/streamstate/backend"
)

// savepointCmd is `streamstate savepoint [<pid>] [--job ID] [--stop] [--type canonical|native]`:
// asks a running job for a savepoint and prints where it went. It signals only a process that is a running
// streamstate job: one with a runtime record (see runtimefiles.go) whose process is the one
// that wrote it.
type savepointCmd struct {
	PID     int           `arg:"" optional:"" help:"Process id of a running 'streamstate run' (its header line prints it). Default: the only running job, or the one --job names."`
	Job     string        `name:"job" placeholder:"ID" help:"The running job with this job id."`
	Stop    bool          `help:"Stop the job once the savepoint is complete (stop-with-savepoint, SIGUSR2)."`
	Type    string        `name:"type" default:"canonical" enum:"canonical,native" help:"Savepoint format, as Flink's --type: canonical (any backend restores it; the only one that changes backends) or native (the backend's own format: for lsm its SST files, much faster for large state; only the same backend restores it)."`
	Timeout time.Duration `default:"10m" help:"How long to wait for the savepoint."`
}

// format is the savepoint format --type asks for (canonical when unset).
func (c *savepointCmd) format() (backend.SavepointFormatType, error) {
	if c.Type == "" {
		return backend.SavepointFormatCanonical, nil
	}
	return backend.ParseSavepointFormatType(c.Type)
}

// savepointPoll is how often savepoint checks for the job's answer.
const savepointPoll = 20 * time.Millisecond

// Validate implements kong's validation hook.
func (c *savepointCmd) Validate() error {
	if c.PID < 0 {
		return fmt.Errorf("process id %d is negative", c.PID)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %v", c.Timeout)
	}
	if _, err := c.format(); err != nil {
		return fmt.Errorf("--type: %w", err)
	}
	return nil
}

// Run implements the command. It fails, naming the reason, if the target is not a running
// streamstate job (which is then not signalled), if the job answers that the savepoint
// failed, if the job exits without answering, or after --timeout.
func (c *savepointCmd) Run(e *env) error {
	if err := c.Validate(); err != nil {
		return err
	}
	getenv := e.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	rt, err := openRuntimeDir(runtimeDirFor(getenv))
	if err != nil {
		return err
	}
	rec, err := c.target(rt)
	if err != nil {
		return err
	}
	kind, sig := requestSavepoint, syscall.SIGUSR1
	if c.Stop {
		kind, sig = requestStop, syscall.SIGUSR2
	}
	// The request is written before the signal, so the job that handles the signal finds it.
	format, _ := c.format() // checked by Validate
	nonce, err := rt.addRequest(rec.PID, kind, format)
	if err != nil {
		return err
	}
	defer rt.cancelRequest(rec.PID, kind, nonce)
	if err := syscall.Kill(rec.PID, sig); err != nil {
		return fmt.Errorf("signal job %s (pid %d): %w", rec.JobID, rec.PID, err)
	}
	what := "a " + format.String() + " savepoint"
	if c.Stop {
		what += " and to stop"
	}
	fmt.Fprintf(e.Log, "asked job %s (pid %d) for %s; waiting up to %v\n", rec.JobID, rec.PID, what, c.Timeout)

	deadline := time.NewTimer(c.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(savepointPoll)
	defer tick.Stop()
	for {
		res, ok, err := rt.takeAnswer(rec.PID, nonce)
		if err != nil {
			return err
		}
		if ok {
			return reportAnswer(e.Out, rec, res)
		}
		if !sameProcess(rec) {
			// It may have answered just before it exited (a stop-with-savepoint does).
			if res, ok, _ := rt.takeAnswer(rec.PID, nonce); ok {
				return reportAnswer(e.Out, rec, res)
			}
			return fmt.Errorf("job %s (pid %d) exited before it answered; no savepoint was reported", rec.JobID, rec.PID)
		}
		select {
		case <-deadline.C:
			pending := ""
			if rt.requestPending(rec.PID, kind, nonce) {
				pending = " (it has not even taken up the request: is it stuck?)"
			}
			return fmt.Errorf("job %s (pid %d) did not report a savepoint within %v%s; its log may say why", rec.JobID, rec.PID, c.Timeout, pending)
		case <-e.ctxDone():
			return fmt.Errorf("waiting for the savepoint of job %s (pid %d): %w; the job may still take it", rec.JobID, rec.PID, e.Ctx.Err())
		case <-tick.C:
		}
	}
}

// reportAnswer prints where the savepoint of the job's answer res went, or returns the error
// the job answered.
func reportAnswer(out io.Writer, rec jobRecord, res savepointResult) error {
	if res.Error != "" {
		return fmt.Errorf("job %s (pid %d): no savepoint: %s", rec.JobID, rec.PID, res.Error)
	}
	done := ""
	if res.Stop {
		done = "; the job stops"
	}
	typ := res.Type
	if typ == "" {
		typ = backend.SavepointFormatCanonical.String()
	}
	fmt.Fprintf(out, "savepoint %d of job %s (pid %d) written to %s (%s, %s)%s\n", res.ID, rec.JobID, rec.PID, res.Path, formatBytes(res.Bytes), typ, done)
	return nil
}

// target returns the running job the command addresses.
func (c *savepointCmd) target(rt *runtimeDir) (jobRecord, error) {
	if c.PID > 0 {
		rec, err := rt.lookup(c.PID)
		if err == nil {
			if c.Job != "" && rec.JobID != c.Job {
				return rec, fmt.Errorf("process %d runs job %s, not %s; nothing was signalled", c.PID, rec.JobID, c.Job)
			}
			return rec, nil
		}
		if !errors.Is(err, errNoRecord) {
			return rec, err
		}
		return rec, fmt.Errorf("process %d is not a running streamstate job (%v); nothing was signalled.%s", c.PID, err, runningHint(rt.running()))
	}
	recs := rt.running()
	if c.Job != "" {
		var match []jobRecord
		for _, r := range recs {
			if r.JobID == c.Job {
				match = append(match, r)
			}
		}
		if len(match) == 1 {
			return match[0], nil
		}
		if len(match) > 1 {
			return jobRecord{}, fmt.Errorf("%d running jobs have id %s; give the process id: %s", len(match), c.Job, describeJobs(match))
		}
		return jobRecord{}, fmt.Errorf("no running job has id %s (runtime directory %s).%s", c.Job, rt.dir, runningHint(recs))
	}
	switch len(recs) {
	case 1:
		return recs[0], nil
	case 0:
		return jobRecord{}, fmt.Errorf("no streamstate job is running (runtime directory %s; a job run with another %s, XDG_RUNTIME_DIR or TMPDIR keeps its record elsewhere)", rt.dir, runtimeDirEnv)
	}
	return jobRecord{}, fmt.Errorf("%d jobs are running; give a process id or --job: %s", len(recs), describeJobs(recs))
}

// runningHint lists the running jobs for an error message, and says where a job's pid is.
func runningHint(recs []jobRecord) string {
	hint := " A job prints its pid in its first line (with `go run`, the pid of the go command is not the job's)."
	if len(recs) > 0 {
		hint += " Running jobs: " + describeJobs(recs) + "."
	}
	return hint
}

func describeJobs(recs []jobRecord) string {
	var s []string
	for _, r := range recs {
		s = append(s, fmt.Sprintf("pid %d (job %s, %s)", r.PID, r.JobID, r.State))
	}
	return strings.Join(s, ", ")
}

// ctxDone returns the context's Done channel, or nil (never ready) without a context.
func (e *env) ctxDone() <-chan struct{} {
	if e.Ctx == nil {
		return nil
	}
	return e.Ctx.Done()
}

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/streamstate/streamstate/backend"
)

// Runtime files let `streamstate savepoint` find a running job, make sure a process id is one,
// and learn where the savepoint it asked for went. A running `streamstate run` keeps, in the
// runtime directory (see runtimeDirFor):
//
//	<pid>.json                 the job's record (jobRecord), rewritten atomically
//	<pid>.req.<kind>.<nonce>   a request of `streamstate savepoint` (kind: savepoint or stop),
//	                           written atomically before it signals the job; the job claims
//	                           (deletes) it when it handles the signal. It holds a
//	                           savepointRequestFile (empty: a canonical savepoint)
//	<pid>.res.<nonce>          the job's answer (savepointResult), written atomically
//
// The job removes its record and unclaimed requests when it exits; the requester removes the
// answer it read. Files of processes that are gone are swept by the next job that starts and
// by `streamstate savepoint`.

// runtimeDirEnv overrides the runtime directory.
const runtimeDirEnv = "STREAMSTATE_RUNTIME_DIR"

// staleAfter is how old the request and answer files of a process without a record must be
// before a sweep deletes them (a requester reads its answer within milliseconds).
const staleAfter = time.Minute

// runtimeDirFor returns the runtime directory: $STREAMSTATE_RUNTIME_DIR, else
// $XDG_RUNTIME_DIR/streamstate, else <os.TempDir()>/streamstate-<uid>.
func runtimeDirFor(getenv func(string) string) string {
	if d := getenv(runtimeDirEnv); d != "" {
		return d
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "streamstate")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("streamstate-%d", os.Getuid()))
}

// jobRecord is what a running job tells about itself in <pid>.json.
type jobRecord struct {
	PID int `json:"pid"`
	// StartTime is the process's start time as /proc/<pid>/stat gives it (clock ticks since
	// boot): with the pid, it names one process, so a reused pid is not taken for the job.
	// Empty where /proc is not available; then only liveness is checked.
	StartTime  string `json:"start_time,omitempty"`
	Executable string `json:"executable,omitempty"`
	JobID      string `json:"job_id"`
	// State is "starting" until the job runs, then "running".
	State string `json:"state"`
	// SavepointsDir is the savepoint target, credentials redacted.
	SavepointsDir string    `json:"savepoints_dir,omitempty"`
	Started       time.Time `json:"started"`
}

// savepointResult is a job's answer to a savepoint request.
type savepointResult struct {
	JobID string `json:"job_id"`
	// Path is where the savepoint went (credentials redacted); ID its checkpoint id.
	Path  string `json:"path,omitempty"`
	ID    int64  `json:"id,omitempty"`
	Bytes int64  `json:"bytes,omitempty"`
	Stop  bool   `json:"stop,omitempty"`
	// Type is the savepoint's format, "canonical" or "native" (empty: canonical).
	Type string `json:"type,omitempty"`
	// Error says why there is no savepoint; empty on success.
	Error string `json:"error,omitempty"`
}

// runtimeDir is an opened runtime directory.
type runtimeDir struct{ dir string }

// openRuntimeDir creates dir (mode 0700) if needed and checks that it is a directory, not a
// symbolic link, owned by this user and closed to others: another user must not be able to
// plant a record that makes `streamstate savepoint` signal some process.
func openRuntimeDir(dir string) (*runtimeDir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("runtime directory %s: %w (set %s to another directory)", dir, err, runtimeDirEnv)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("runtime directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("runtime directory %s is not a directory; remove it or set %s", dir, runtimeDirEnv)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("runtime directory %s belongs to user %d, not to you (%d); remove it or set %s", dir, st.Uid, os.Getuid(), runtimeDirEnv)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("runtime directory %s has mode %v: others may write to it; chmod 700 it or set %s", dir, fi.Mode().Perm(), runtimeDirEnv)
	}
	return &runtimeDir{dir: dir}, nil
}

func (r *runtimeDir) path(name string) string { return filepath.Join(r.dir, name) }

// writeFile writes name atomically (a temporary file renamed into place), mode 0600.
func (r *runtimeDir) writeFile(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(r.dir, ".tmp-"+name+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), r.path(name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("runtime file %s: %w", r.path(name), err)
	}
	return nil
}

// register writes rec as the record of rec.PID, after sweeping the files of processes that
// are gone.
func (r *runtimeDir) register(rec jobRecord) error {
	r.sweep()
	return r.writeFile(recordName(rec.PID), rec)
}

// unregister removes the record of pid and the requests nobody claimed. Answers stay for
// their requesters, who delete them (or a later sweep does).
func (r *runtimeDir) unregister(pid int) {
	os.Remove(r.path(recordName(pid)))
	reqs, _ := filepath.Glob(r.path(fmt.Sprintf("%d.req.*", pid)))
	for _, f := range reqs {
		os.Remove(f)
	}
}

func recordName(pid int) string { return fmt.Sprintf("%d.json", pid) }

// errNoRecord means a process has no runtime record: it is not a running streamstate job.
var errNoRecord = errors.New("no runtime record")

// lookup returns the record of pid if pid is the running job that wrote it. A record whose
// process is gone, or whose pid now names another process, is stale: it is removed and
// lookup fails with errNoRecord.
func (r *runtimeDir) lookup(pid int) (jobRecord, error) {
	var rec jobRecord
	b, err := os.ReadFile(r.path(recordName(pid)))
	if errors.Is(err, os.ErrNotExist) {
		return rec, fmt.Errorf("%w: %s does not exist", errNoRecord, r.path(recordName(pid)))
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.PID != pid {
		os.Remove(r.path(recordName(pid)))
		return rec, fmt.Errorf("%w: %s is not a valid record (removed)", errNoRecord, r.path(recordName(pid)))
	}
	if !sameProcess(rec) {
		r.unregister(pid)
		return rec, fmt.Errorf("%w: the job that wrote %s has exited (stale record removed)", errNoRecord, r.path(recordName(pid)))
	}
	return rec, nil
}

// running returns the records of the running jobs, sweeping stale ones.
func (r *runtimeDir) running() []jobRecord {
	names, _ := filepath.Glob(r.path("*.json"))
	var recs []jobRecord
	for _, n := range names {
		pid, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(n), ".json"))
		if err != nil || pid <= 0 {
			continue
		}
		if rec, err := r.lookup(pid); err == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

// sweep removes the records of processes that are gone, and old request, answer and
// temporary files of processes without a record.
func (r *runtimeDir) sweep() {
	live := map[int]bool{}
	for _, rec := range r.running() {
		live[rec.PID] = true
	}
	entries, _ := os.ReadDir(r.dir)
	for _, e := range entries {
		pidStr, rest, ok := strings.Cut(e.Name(), ".")
		pid, err := strconv.Atoi(pidStr)
		temp := strings.HasPrefix(e.Name(), ".tmp-") // of a writer that died before its rename
		if !temp && (!ok || err != nil || live[pid] || !(strings.HasPrefix(rest, "req.") || strings.HasPrefix(rest, "res."))) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
			os.Remove(r.path(e.Name()))
		}
	}
}

// request kinds: a savepoint (SIGUSR1) or a stop-with-savepoint (SIGUSR2).
const (
	requestSavepoint = "savepoint"
	requestStop      = "stop"
)

// savepointRequestFile is what a request file holds.
type savepointRequestFile struct {
	// Type is the savepoint format asked for (backend.SavepointFormatType's name); empty:
	// canonical.
	Type string `json:"type,omitempty"`
}

// claimedRequest is a request the job claimed: its nonce and the savepoint format it asks for.
type claimedRequest struct {
	nonce  string
	format backend.SavepointFormatType
	// err says why the request file could not be read; the request is answered with it.
	err error
}

// addRequest writes a request of kind for a savepoint in format to the job pid and returns
// its nonce.
func (r *runtimeDir) addRequest(pid int, kind string, format backend.SavepointFormatType) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	nonce := hex.EncodeToString(b[:])
	name := fmt.Sprintf("%d.req.%s.%s", pid, kind, nonce)
	if err := r.writeFile(name, savepointRequestFile{Type: format.String()}); err != nil {
		return "", fmt.Errorf("runtime file %s: %w", r.path(name), err)
	}
	return nonce, nil
}

// requestPending reports whether the request is still unclaimed.
func (r *runtimeDir) requestPending(pid int, kind, nonce string) bool {
	_, err := os.Stat(r.path(fmt.Sprintf("%d.req.%s.%s", pid, kind, nonce)))
	return err == nil
}

// cancelRequest removes an unclaimed request.
func (r *runtimeDir) cancelRequest(pid int, kind, nonce string) {
	os.Remove(r.path(fmt.Sprintf("%d.req.%s.%s", pid, kind, nonce)))
}

// claimRequests deletes the pending requests of kind to the job pid and returns them: the
// savepoints the job is about to take answer them. A request file that cannot be read or
// parsed is claimed with its err set.
func (r *runtimeDir) claimRequests(pid int, kind string) []claimedRequest {
	prefix := fmt.Sprintf("%d.req.%s.", pid, kind)
	names, _ := filepath.Glob(r.path(prefix + "*"))
	var out []claimedRequest
	for _, n := range names {
		b, rerr := os.ReadFile(n)
		if os.Remove(n) != nil { // a requester that gave up removed it first
			continue
		}
		c := claimedRequest{nonce: strings.TrimPrefix(filepath.Base(n), prefix), err: rerr}
		var f savepointRequestFile
		if c.err == nil && len(bytes.TrimSpace(b)) > 0 {
			c.err = json.Unmarshal(b, &f)
		}
		if c.err == nil && f.Type != "" {
			c.format, c.err = backend.ParseSavepointFormatType(f.Type)
		}
		if c.err != nil {
			c.err = fmt.Errorf("request file %s: %w", n, c.err)
		}
		out = append(out, c)
	}
	return out
}

// answer writes the answer to the request nonce of the job pid.
func (r *runtimeDir) answer(pid int, nonce string, res savepointResult) error {
	return r.writeFile(fmt.Sprintf("%d.res.%s", pid, nonce), res)
}

// takeAnswer returns and removes the answer to the request nonce, if there is one.
func (r *runtimeDir) takeAnswer(pid int, nonce string) (savepointResult, bool, error) {
	var res savepointResult
	name := r.path(fmt.Sprintf("%d.res.%s", pid, nonce))
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return res, false, nil
	}
	if err != nil {
		return res, false, err
	}
	os.Remove(name)
	if err := json.Unmarshal(b, &res); err != nil {
		return res, false, fmt.Errorf("answer %s: %w", name, err)
	}
	return res, true, nil
}

// processStartTime returns the start time of process pid from /proc/<pid>/stat (field 22,
// clock ticks since boot), or "" where /proc is not available.
func processStartTime(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return fields[19], nil // fields[0] is field 3
}

// sameProcess reports whether the process that wrote rec is still running.
func sameProcess(rec jobRecord) bool {
	if rec.StartTime == "" {
		err := syscall.Kill(rec.PID, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	st, err := processStartTime(rec.PID)
	return err == nil && st == rec.StartTime
}

// selfRecord returns the record of this process for jobID, in state "starting".
func selfRecord(jobID string) jobRecord {
	rec := jobRecord{PID: os.Getpid(), JobID: jobID, State: "starting", Started: time.Now().UTC()}
	rec.StartTime, _ = processStartTime(rec.PID)
	rec.Executable, _ = os.Executable()
	return rec
}

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
)

// TestRuntimeDirSweep: a job's registration removes the records of dead processes and the
// old request and answer files nobody will read, and keeps what a live requester may still
// read.
func TestRuntimeDirSweep(t *testing.T) {
	if _, err := processStartTime(os.Getpid()); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	rt, err := openRuntimeDir(filepath.Join(t.TempDir(), "rt"))
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("no true command: %v", err)
	}
	pid := dead.Process.Pid
	if err := rt.writeFile(recordName(pid), jobRecord{PID: pid, StartTime: "1", JobID: "gone", State: "running"}); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(rt.dir, strconv.Itoa(pid)+".res.0123")
	fresh := filepath.Join(rt.dir, strconv.Itoa(pid)+".res.4567")
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * staleAfter)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}

	self := selfRecord("me")
	if self.StartTime == "" {
		t.Fatal("no start time for this process")
	}
	if err := rt.register(self); err != nil {
		t.Fatal(err)
	}
	defer rt.unregister(self.PID)
	if _, err := os.Stat(filepath.Join(rt.dir, recordName(pid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead process's record survived: %v", err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an old answer survived: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh answer was removed: %v", err)
	}
	recs := rt.running()
	if len(recs) != 1 || recs[0].PID != self.PID || recs[0].JobID != "me" {
		t.Errorf("running: %+v", recs)
	}
	if _, err := rt.lookup(pid); !errors.Is(err, errNoRecord) {
		t.Errorf("lookup of a dead pid: %v", err)
	}

	// Requests are claimed once, by kind, with the savepoint format they ask for; a request
	// file of an older CLI (empty) asks for canonical, one that cannot be parsed is claimed
	// with an error.
	n1, _ := rt.addRequest(self.PID, requestSavepoint, backend.SavepointFormatNative)
	n2, _ := rt.addRequest(self.PID, requestStop, backend.SavepointFormatCanonical)
	if got := rt.claimRequests(self.PID, requestSavepoint); len(got) != 1 || got[0].nonce != n1 || got[0].format != backend.SavepointFormatNative || got[0].err != nil {
		t.Errorf("claimed %+v, want [%s native]", got, n1)
	}
	if err := os.WriteFile(rt.path(strconv.Itoa(self.PID)+".req.savepoint.old"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := rt.claimRequests(self.PID, requestSavepoint); len(got) != 1 || got[0].nonce != "old" || got[0].format != backend.SavepointFormatCanonical || got[0].err != nil {
		t.Errorf("claimed %+v, want [old canonical]", got)
	}
	if err := os.WriteFile(rt.path(strconv.Itoa(self.PID)+".req.savepoint.bad"), []byte(`{"type":"fast"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := rt.claimRequests(self.PID, requestSavepoint); len(got) != 1 || got[0].err == nil || !strings.Contains(got[0].err.Error(), "canonical or native") {
		t.Errorf("claimed %+v, want an error naming the formats", got)
	}
	if got := rt.claimRequests(self.PID, requestSavepoint); len(got) != 0 {
		t.Errorf("claimed twice: %v", got)
	}
	if !rt.requestPending(self.PID, requestStop, n2) {
		t.Error("the stop request was claimed by a savepoint")
	}
}

// TestReportAnswer: an answer is reported the same however savepoint finds it (while the job
// runs, or after it exited, as a stop-with-savepoint does): a stop is said, and an error the
// job answered is the command's error.
func TestReportAnswer(t *testing.T) {
	rec := jobRecord{PID: 42, JobID: "j"}
	var out strings.Builder
	if err := reportAnswer(&out, rec, savepointResult{JobID: "j", Path: "file:///sp/x", ID: 7, Bytes: 10, Stop: true}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "savepoint 7 of job j (pid 42) written to file:///sp/x") || !strings.Contains(got, "; the job stops") ||
		!strings.Contains(got, "canonical") {
		t.Errorf("printed %q", got)
	}
	out.Reset()
	if err := reportAnswer(&out, rec, savepointResult{JobID: "j", Path: "file:///sp/y", ID: 8, Bytes: 10, Type: "native"}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "written to file:///sp/y (10 B, native)") {
		t.Errorf("printed %q", got)
	}
	out.Reset()
	err := reportAnswer(&out, rec, savepointResult{JobID: "j", Error: "the job is being canceled"})
	if err == nil || !strings.Contains(err.Error(), "the job is being canceled") || out.Len() != 0 {
		t.Errorf("reportAnswer of an error = %v, printed %q", err, out.String())
	}
}

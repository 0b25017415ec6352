package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
)

// TestE2ENativeStopWithSavepoint: `streamstate savepoint --stop --type native` reaches a
// running lsm job, which stops with a native savepoint (its keyed state the lsm backend's
// files, in the savepoint's directory) and says so, as does the command; a run on the hashmap
// backend from it fails, naming the savepoint's type and the fix.
func TestE2ENativeStopWithSavepoint(t *testing.T) {
	e2eBinary(t)
	t.Parallel()
	dir, rt := t.TempDir(), filepath.Join(t.TempDir(), "rt")
	job := startSignalProc(t, dir, rt, signalTestArgs(dir, "--backend", "lsm")...)
	waitRecord(t, job, rt)
	sp := startSignalProc(t, dir, rt, "savepoint", "--job", "fraud", "--stop", "--type", "native")
	if err := sp.wait(60 * time.Second); err != nil {
		t.Fatalf("savepoint --type native: %v\nstdout:\n%s\nstderr:\n%s\njob stderr:\n%s", err, sp.stdout, sp.stderr, job.stderr)
	}
	m := savepointAnswer.FindStringSubmatch(sp.stdout.String())
	if m == nil || !strings.Contains(sp.stdout.String(), ", native); the job stops") {
		t.Fatalf("savepoint --type native printed:\n%s", sp.stdout)
	}
	if !strings.Contains(sp.stderr.String(), "for a native savepoint and to stop") {
		t.Errorf("savepoint --type native did not say what it asked for:\n%s", sp.stderr)
	}
	if err := job.wait(30 * time.Second); err != nil {
		t.Fatalf("job: %v\nstdout:\n%s\nstderr:\n%s", err, job.stdout, job.stderr)
	}
	if !strings.Contains(job.stdout.String(), ", native) in ") {
		t.Errorf("the job's savepoint line does not say native:\n%s", job.stdout)
	}
	st, err := blobstore.OpenURL(context.Background(), "file://"+m[3])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	md, _, err := checkpoint.LoadSavepoint(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	native := 0
	for _, op := range md.Operators {
		for _, h := range op.Keyed {
			if h.Incremental == nil || !h.Incremental.Savepoint {
				t.Fatalf("operator %s: keyed handle is not native: %+v", op.ID, h)
			}
			native++
		}
	}
	if native == 0 {
		t.Fatal("the native savepoint holds no keyed state")
	}

	dir2 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir2, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	heapRun := startSignalProc(t, dir2, rt, signalTestArgs(dir2, "--backend", "hashmap", "--from", "file://"+m[3])...)
	err = heapRun.wait(60 * time.Second)
	if err == nil || !strings.Contains(heapRun.stderr.String(), "native savepoint") || !strings.Contains(heapRun.stderr.String(), "--type canonical") {
		t.Fatalf("hashmap run from a native savepoint: %v, want a failure naming the fix\nstdout:\n%s\nstderr:\n%s", err, heapRun.stdout, heapRun.stderr)
	}
}

// TestCheckpointsNativeSavepoint: inspect says a native savepoint of the lsm backend is one,
// and what restores it, whatever the backend's checkpoint mode; validate checks its files,
// all in the savepoint's directory.
func TestCheckpointsNativeSavepoint(t *testing.T) {
	dir := t.TempDir()
	st, err := blobstore.OpenURL(context.Background(), fileURL(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tasks := ckJob(t, lsm.Name, 2)
	ckProcess(t, tasks, 0, 300)
	m := ckSnapshot(t, tasks, nil, st, 3, backend.SavepointFormatNative)
	ih := m.Operators[0].Keyed[0].Incremental
	if ih == nil || !ih.Savepoint {
		t.Fatalf("not a native savepoint's handle: %+v", m.Operators[0].Keyed[0])
	}
	out, _, err := runCLI(t, "checkpoints", "inspect", dir)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	wantContains(t, "inspect", out, "savepoint of job job (checkpoint id 3)",
		"keyed state format: native savepoint (incremental handles of "+ih.Backend+"; only that backend restores it: take a canonical savepoint to change backends)",
		"(0 full, 2 incremental)")
	out, _, err = runCLI(t, "checkpoints", "validate", dir)
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	wantContains(t, "validate", out, "OK: 1 savepoint valid")
}

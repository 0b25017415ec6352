package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// ckTime is the clock of the test checkpoints.
var ckTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

const ckTimeText = "2024-05-06 07:08:09.000Z"

// ckOpts are the checkpoint options of the test jobs: two retained, a fixed clock.
var ckOpts = checkpoint.Options{NumRetained: 2, Now: func() time.Time { return ckTime }}

// ckSubtask is one subtask of the test operator "counter": keyed state in backend, a buffer
// in operator state.
type ckSubtask struct {
	backend backend.Keyed
	kb      *state.KeyedBackend[string]
	count   state.ValueState[int64]
	ops     *operator.Backend
	buffer  state.OperatorListState[string]
}

// ckJob creates the subtasks of "counter" at parallelism p with the named backend (lsm
// backends make incremental checkpoints).
func ckJob(t *testing.T, backendName string, p int) []*ckSubtask {
	t.Helper()
	ctx := context.Background()
	var tasks []*ckSubtask
	for i := range p {
		opts := backend.Options{OperatorID: fmt.Sprintf("counter-%d", i), MaxParallelism: 128,
			KeyGroupRange: keygroup.RangeFor(128, p, i), KeySerializerID: serde.String{}.ID()}
		var be backend.Keyed
		var err error
		if backendName == lsm.Name {
			be, err = lsm.New(ctx, lsm.Options{Options: opts, Dir: t.TempDir(), Incremental: true})
		} else {
			be, err = heap.New(ctx, opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = be.Close() })
		kb, err := state.NewKeyedBackend[string](be, serde.String{})
		if err != nil {
			t.Fatal(err)
		}
		count, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "count"})
		if err != nil {
			t.Fatal(err)
		}
		ops, err := operator.New(ctx, operator.Options{OperatorID: "counter", SubtaskIndex: i, Parallelism: p})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ops.Close() })
		buffer, err := state.GetOperatorListState(ops, state.ListDescriptor[string]{Name: "buffer"})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, &ckSubtask{backend: be, kb: kb, count: count, ops: ops, buffer: buffer})
	}
	return tasks
}

// ckProcess counts n keys, starting at key from, on the subtasks that own them.
func ckProcess(t *testing.T, tasks []*ckSubtask, from, n int) {
	t.Helper()
	for k := from; k < from+n; k++ {
		key := fmt.Sprintf("key-%d", k)
		kg, err := tasks[0].kb.KeyGroupOf(key)
		if err != nil {
			t.Fatal(err)
		}
		task := tasks[keygroup.OperatorIndex(128, len(tasks), kg)]
		if err := task.kb.SetCurrentKey(key); err != nil {
			t.Fatal(err)
		}
		v, _, err := task.count.Value()
		if err != nil {
			t.Fatal(err)
		}
		if err := task.count.Update(v + 1); err != nil {
			t.Fatal(err)
		}
		if err := task.buffer.Add(key); err != nil {
			t.Fatal(err)
		}
	}
}

// ckCheckpoint takes checkpoint id of the subtasks into cps (or a savepoint into sp if cps is
// nil) and returns its metadata.
func ckCheckpoint(t *testing.T, tasks []*ckSubtask, cps *checkpoint.Checkpoints, sp checkpoint.Storage, id int64) *snapshot.Metadata {
	t.Helper()
	return ckSnapshot(t, tasks, cps, sp, id, backend.SavepointFormatCanonical)
}

// ckSnapshot is ckCheckpoint with the format of a savepoint (sp set).
func ckSnapshot(t *testing.T, tasks []*ckSubtask, cps *checkpoint.Checkpoints, sp checkpoint.Storage, id int64, format backend.SavepointFormatType) *snapshot.Metadata {
	t.Helper()
	ctx := context.Background()
	var p *checkpoint.Pending
	if cps != nil {
		var err error
		if p, err = cps.Begin(id); err != nil {
			t.Fatal(err)
		}
	} else {
		p = checkpoint.BeginSavepoint(sp)
	}
	op := &snapshot.OperatorState{ID: "counter", Parallelism: len(tasks), MaxParallelism: 128}
	for _, task := range tasks {
		snap, err := task.backend.Snapshot(id, backend.SnapshotOptions{Compression: snapshot.CompressionSnappy, Savepoint: cps == nil,
			SavepointFormat: format})
		if err != nil {
			t.Fatal(err)
		}
		h, err := snap.Run(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		op.Keyed = append(op.Keyed, h)
		osnap, err := task.ops.Snapshot(id)
		if err != nil {
			t.Fatal(err)
		}
		oh, err := osnap.Run(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		op.Operator = append(op.Operator, oh)
	}
	m := &snapshot.Metadata{JobID: "job", CheckpointID: id, TimestampMs: ckTime.UnixMilli(), Operators: []*snapshot.OperatorState{op}}
	if err := p.Complete(ctx, m); err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if l, ok := task.backend.(interface{ NotifyCheckpointComplete(int64) error }); ok && cps != nil {
			if err := l.NotifyCheckpointComplete(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}

func ckOpen(t *testing.T, url, job string) (checkpoint.Storage, *checkpoint.Checkpoints) {
	t.Helper()
	st, err := blobstore.OpenURL(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cps, err := checkpoint.Open(context.Background(), st, job, ckOpts)
	if err != nil {
		t.Fatal(err)
	}
	return st, cps
}

func fileURL(dir string) string { return "file://" + filepath.ToSlash(dir) }

// ckTree returns every file under dir with its size, to check that a command changed nothing.
func ckTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d %v", p, fi.Size(), fi.IsDir()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantContains(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

func wantError(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("no error, want one mentioning %q", wants)
		return
	}
	wantContains(t, "error", err.Error(), wants...)
}

// TestCheckpointsFull exercises list, inspect and validate on full checkpoints of the heap
// backend: two jobs, one with an incomplete checkpoint directory, then damaged files.
func TestCheckpointsFull(t *testing.T) {
	root := t.TempDir()
	url := fileURL(root)
	_, demo := ckOpen(t, url, "demo")
	tasks := ckJob(t, heap.Name, 2)
	ckProcess(t, tasks, 0, 300)
	ckCheckpoint(t, tasks, demo, nil, 1)
	ckProcess(t, tasks, 200, 300)
	m2 := ckCheckpoint(t, tasks, demo, nil, 2)
	if _, err := demo.Begin(3); err != nil { // a checkpoint in progress: a file, no metadata
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "demo", "chk-3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "demo", "chk-3", "counter-0-keyed"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, other := ckOpen(t, url, "other")
	otasks := ckJob(t, heap.Name, 1)
	ckProcess(t, otasks, 0, 50)
	ckCheckpoint(t, otasks, other, nil, 1)
	before := ckTree(t, root)

	t.Run("list", func(t *testing.T) {
		out, _, err := runCLI(t, "checkpoints", "list", url)
		if err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		wantContains(t, "list", out,
			"job demo: 2 complete checkpoints, 1 incomplete",
			"job other: 1 complete checkpoint\n",
			ckTimeText+"  checkpoint  1",
			"chk-3 has no _metadata",
			"INCOMPLETE")
		// A plain directory, --job, and the job's directory itself.
		out, _, err = runCLI(t, "checkpoints", "list", root, "--job", "other")
		if err != nil || strings.Contains(out, "demo") || !strings.Contains(out, "job other") {
			t.Errorf("list --job other: %v\n%s", err, out)
		}
		out, _, err = runCLI(t, "checkpoints", "list", url+"/demo")
		if err != nil {
			t.Fatalf("list job dir: %v", err)
		}
		wantContains(t, "list of the job directory", out, "is the directory of job demo", "job demo: 2 complete checkpoints, 1 incomplete")
		_, _, err = runCLI(t, "checkpoints", "list", url, "--job", "nope")
		wantError(t, err, "no checkpoints of job nope under "+url, "is the job id right? jobs found: demo, other")
		_, _, err = runCLI(t, "checkpoints", "list", url+"/demo", "--job", "other")
		wantError(t, err, "directory of job demo, not of job other")
	})

	t.Run("inspect", func(t *testing.T) {
		_, _, err := runCLI(t, "checkpoints", "inspect", url)
		wantError(t, err, "several jobs (demo, other)", "--job")
		out, _, err := runCLI(t, "checkpoints", "inspect", url, "--job", "demo")
		if err != nil {
			t.Fatalf("inspect: %v", err)
		}
		h0, o1 := m2.Operators[0].Keyed[0], m2.Operators[0].Operator[1]
		wantContains(t, "inspect", out,
			"checkpoint 2 of job demo, taken "+ckTimeText,
			"operator counter: parallelism 2, max parallelism 128, 2 keyed state handles, 2 operator state handles",
			"keyed state handle 0: key groups [0, 63] (64), key serializer string",
			"count: value, serializer int64",
			"full snapshot: "+h0.File.Path+", "+formatBytes(h0.File.Size)+", 64 key-group blocks, compression snappy",
			fmt.Sprintf("operator state of subtask 1 of 2: %s, %s", o1.File.Path, formatBytes(o1.File.Size)),
			fmt.Sprintf("buffer: split, %d elements, serializer string", o1.States[0].Count),
			"total: 1 operator, 2 keyed state handles (2 full, 0 incremental), 2 operator state handles, 4 files")
		out, _, err = runCLI(t, "checkpoints", "inspect", url, "--job", "demo", "--id", "1", "--json")
		if err != nil {
			t.Fatalf("inspect --json: %v", err)
		}
		var m snapshot.Metadata
		if err := json.Unmarshal([]byte(out), &m); err != nil || m.CheckpointID != 1 || m.JobID != "demo" || len(m.Operators[0].Keyed) != 2 {
			t.Errorf("inspect --json: %v, %+v\n%s", err, m, out)
		}
		_, _, err = runCLI(t, "checkpoints", "inspect", url, "--job", "demo", "--id", "3")
		wantError(t, err, "checkpoint 3 of job demo under "+url+" is incomplete", "complete checkpoints: 1, 2")
		_, _, err = runCLI(t, "checkpoints", "inspect", url, "--job", "demo", "--id", "7")
		wantError(t, err, "no checkpoint 7 of job demo", "complete checkpoints: 1, 2")
		_, _, err = runCLI(t, "checkpoints", "inspect", url+"/demo/chk-2")
		wantError(t, err, "directory of checkpoint 2 of job demo", url+"/demo --id 2")
	})

	t.Run("validate", func(t *testing.T) {
		out, _, err := runCLI(t, "checkpoints", "validate", url, "--all")
		if err != nil {
			t.Fatalf("validate --all: %v\n%s", err, out)
		}
		wantContains(t, "validate", out, "checkpoint 1 of job demo: ok", "checkpoint 2 of job demo: ok", "checkpoint 1 of job other: ok",
			"OK: 3 checkpoints valid under "+url)
		out, _, err = runCLI(t, "checkpoints", "validate", url)
		if err != nil || strings.Contains(out, "checkpoint 1 of job demo") || !strings.Contains(out, "OK: 2 checkpoints") {
			t.Errorf("validate (latest of each job): %v\n%s", err, out)
		}
		_, _, err = runCLI(t, "checkpoints", "validate", url, "--id", "1", "--all")
		wantError(t, err, "--id", "--all")
		_, _, err = runCLI(t, "checkpoints", "validate", url, "--id", "1")
		wantError(t, err, "several jobs", "--job")
	})

	if after := ckTree(t, root); !slices.Equal(after, before) {
		t.Fatalf("the commands changed the storage:\n%q\nwas\n%q", after, before)
	}

	t.Run("damaged", func(t *testing.T) {
		keyed := m2.Operators[0].Keyed[1]
		ops := m2.Operators[0].Operator[0]
		keyedPath := filepath.Join(root, "demo", filepath.FromSlash(keyed.File.Path))
		opsPath := filepath.Join(root, "demo", filepath.FromSlash(ops.File.Path))
		b, err := os.ReadFile(keyedPath)
		if err != nil {
			t.Fatal(err)
		}
		blk := keyed.Blocks[10]
		b[blk.Offset+blk.Length/2] ^= 0x01
		if err := os.WriteFile(keyedPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(opsPath, ops.File.Size-3); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCLI(t, "checkpoints", "validate", url, "--job", "demo", "--all")
		wantError(t, err, "2 problems in 1 of 2 checkpoints under "+url)
		wantContains(t, "validate of damaged files", out,
			"checkpoint 1 of job demo: ok",
			"checkpoint 2 of job demo: 2 problems",
			"demo/"+keyed.File.Path+": corrupt: checksum mismatch in the block of key group 74",
			fmt.Sprintf("demo/%s: missing bytes: truncated: has %d bytes, the metadata says %d", ops.File.Path, ops.File.Size-3, ops.File.Size))
		if out, _, err := runCLI(t, "checkpoints", "validate", url, "--job", "other"); err != nil {
			t.Errorf("the other job is intact: %v\n%s", err, out)
		}

		// A deleted file, seen from the job's directory.
		if err := os.Remove(keyedPath); err != nil {
			t.Fatal(err)
		}
		out, _, err = runCLI(t, "checkpoints", "validate", url+"/demo", "--id", "2")
		wantError(t, err, "2 problems in 1 of 1 checkpoint under "+url+"/demo")
		wantContains(t, "validate of a deleted file", out, keyed.File.Path+": does not exist")

		// Damaged metadata.
		md := filepath.Join(root, "demo", "chk-1", "_metadata")
		if err := os.WriteFile(md, []byte("STRMSTMD garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, err = runCLI(t, "checkpoints", "validate", url, "--job", "demo", "--id", "1")
		wantError(t, err, "1 problem in 1 of 1 checkpoint")
		wantContains(t, "validate of damaged metadata", out, "demo/chk-1/_metadata: corrupt")
		out, _, err = runCLI(t, "checkpoints", "list", url, "--job", "demo")
		if err != nil {
			t.Fatalf("list with damaged metadata: %v", err)
		}
		wantContains(t, "list with damaged metadata", out, "UNREADABLE", "demo/chk-1/_metadata: corrupt")
		_, _, err = runCLI(t, "checkpoints", "inspect", url, "--job", "demo", "--id", "1")
		wantError(t, err, "checkpoint 1 of job demo under "+url, "demo/chk-1/_metadata", "checkpoints validate")
	})
}

// TestCheckpointsSavepoint points the commands at a savepoint's directory, and at a storage
// root that holds savepoints only.
func TestCheckpointsSavepoint(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sp-1")
	st, err := blobstore.OpenURL(context.Background(), fileURL(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tasks := ckJob(t, heap.Name, 2)
	ckProcess(t, tasks, 0, 100)
	m := ckCheckpoint(t, tasks, nil, st, 5)

	out, _, err := runCLI(t, "checkpoints", "list", dir)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	wantContains(t, "list", out, dir+" is a savepoint", "5   "+ckTimeText+"  savepoint  job  1          4")
	out, _, err = runCLI(t, "checkpoints", "inspect", dir)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	wantContains(t, "inspect", out, "savepoint of job job (checkpoint id 5)", "file paths are relative to "+dir+"/\n",
		"full snapshot: "+m.Operators[0].Keyed[0].File.Path, "keyed state format: canonical savepoint")
	out, _, err = runCLI(t, "checkpoints", "validate", fileURL(dir))
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	wantContains(t, "validate", out, "OK: 1 savepoint valid under "+fileURL(dir)+": 5 files")
	wantContains(t, "validate", out, "savepoint "+fileURL(dir)+": ok, _metadata and 4 files")
	_, _, err = runCLI(t, "checkpoints", "inspect", dir, "--id", "5")
	wantError(t, err, "savepoint's directory", "--id")

	// The parent: no checkpoints, one savepoint.
	out, _, err = runCLI(t, "checkpoints", "list", root)
	if err != nil {
		t.Fatalf("list of the parent: %v", err)
	}
	wantContains(t, "list of the parent", out, "savepoints:", "sp-1/")
	_, _, err = runCLI(t, "checkpoints", "inspect", root)
	wantError(t, err, "no checkpoints under "+root+", only savepoints", root+"/sp-1")

	// A damaged savepoint file.
	h := m.Operators[0].Keyed[0]
	if err := os.Truncate(filepath.Join(dir, filepath.FromSlash(h.File.Path)), 5); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "checkpoints", "validate", dir)
	wantError(t, err, "1 problem in 1 of 1 savepoint under "+dir)
	wantContains(t, "validate", out, h.File.Path+": missing bytes: truncated: has 5 bytes")
}

// TestCheckpointsIncremental inspects and validates incremental checkpoints of the lsm
// backend, whose files are shared between checkpoints.
func TestCheckpointsIncremental(t *testing.T) {
	root := t.TempDir()
	url := fileURL(root)
	_, cps := ckOpen(t, url, "inc")
	tasks := ckJob(t, lsm.Name, 2)
	ckProcess(t, tasks, 0, 500)
	ckCheckpoint(t, tasks, cps, nil, 1)
	ckProcess(t, tasks, 400, 300)
	m := ckCheckpoint(t, tasks, cps, nil, 2)
	ih := m.Operators[0].Keyed[0].Incremental
	if ih == nil || len(ih.Shared) == 0 || len(ih.Private) == 0 {
		t.Fatalf("not an incremental handle with shared and private files: %+v", m.Operators[0].Keyed[0])
	}

	out, _, err := runCLI(t, "checkpoints", "inspect", url)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	wantContains(t, "inspect", out, "checkpoint 2 of job inc",
		fmt.Sprintf("incremental (%s): %d shared file", ih.Backend, len(ih.Shared)),
		fmt.Sprintf("%d private file", len(ih.Private)),
		"shared   "+ih.Shared[0].Name, ih.Shared[0].Path,
		"private  "+ih.Private[0].Name,
		"(0 full, 2 incremental)", "keyed state format: native (incremental handles of "+ih.Backend+")")
	out, _, err = runCLI(t, "checkpoints", "validate", url, "--all")
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	wantContains(t, "validate", out, "checkpoint 1 of job inc: ok", "checkpoint 2 of job inc: ok", "OK: 2 checkpoints")

	// A lost shared file, a truncated private one.
	shared, private := ih.Shared[0], ih.Private[0]
	for _, f := range ih.Private {
		if f.Size > private.Size {
			private = f
		}
	}
	if err := os.Remove(filepath.Join(root, "inc", filepath.FromSlash(shared.Path))); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(root, "inc", filepath.FromSlash(private.Path)), private.Size-1); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "checkpoints", "validate", url)
	wantError(t, err, "2 problems in 1 of 1 checkpoint")
	wantContains(t, "validate", out,
		"inc/"+shared.Path+": does not exist",
		fmt.Sprintf("inc/%s: missing bytes: truncated: has %d bytes, the metadata says %d", private.Path, private.Size-1, private.Size))
}

// TestCheckpointsValidateChecksums: a flipped last byte in the MANIFEST, OPTIONS or an SST of
// an incremental lsm checkpoint, or in an operator state file, is found by validate, which
// names each file. Before files had checksums, validate said OK to the MANIFEST, OPTIONS and
// SST (only their sizes were checked) and a restore of the MANIFEST opened an older database.
func TestCheckpointsValidateChecksums(t *testing.T) {
	root := t.TempDir()
	url := fileURL(root)
	_, cps := ckOpen(t, url, "inc")
	tasks := ckJob(t, lsm.Name, 2)
	ckProcess(t, tasks, 0, 300)
	ckCheckpoint(t, tasks, cps, nil, 1)
	ckProcess(t, tasks, 200, 300)
	m := ckCheckpoint(t, tasks, cps, nil, 2)
	named := func(fs []snapshot.IncrementalFile, prefix string) string {
		for _, f := range fs {
			if strings.HasPrefix(f.Name, prefix) {
				return f.Path
			}
		}
		t.Fatalf("no %s* file in %+v", prefix, fs)
		return ""
	}
	h0, h1 := m.Operators[0].Keyed[0].Incremental, m.Operators[0].Keyed[1].Incremental
	damaged := []string{named(h0.Private, "MANIFEST-"), named(h1.Private, "OPTIONS-"), named(h1.Shared, ""), m.Operators[0].Operator[0].File.Path}
	for _, p := range damaged {
		name := filepath.Join(root, "inc", filepath.FromSlash(p))
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-1] ^= 1
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := runCLI(t, "checkpoints", "validate", url)
	wantError(t, err, "4 problems in 1 of 1 checkpoint")
	for _, p := range damaged[:3] {
		wantContains(t, "validate", out, "inc/"+p+": corrupt: checksum mismatch (SHA-256")
	}
	// The section CRC of the operator state file says where it is damaged.
	wantContains(t, "validate", out, "inc/"+damaged[3]+`: corrupt: operator state "buffer": checksum mismatch`)
}

// TestCheckpointsValidateFormat1 validates the golden checkpoint of metadata format 1, written
// before files had checksums: it is valid, and validate says what it could not verify.
func TestCheckpointsValidateFormat1(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "checkpoint", "testdata", "golden-v1"))); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "checkpoints", "validate", fileURL(dir))
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	wantContains(t, "validate", out, "checkpoint 1 of job golden: ok, _metadata and 5 files",
		"(5 files without a checksum, metadata format 1: checked by size and block checksums only)")
}

func TestCheckpointsBadURLs(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	_, _, err := runCLI(t, "checkpoints", "list", missing)
	wantError(t, err, missing, "no such file or directory")
	if _, serr := os.Stat(missing); serr == nil {
		t.Errorf("list created %s", missing)
	}
	_, _, err = runCLI(t, "checkpoints", "validate", fileURL(missing))
	wantError(t, err, "no such file or directory")

	_, _, err = runCLI(t, "checkpoints", "list", dir)
	wantError(t, err, "no checkpoints under "+dir, "state.checkpoints.dir")
	for _, u := range []string{"mem://", "jobmanager"} {
		_, _, err = runCLI(t, "checkpoints", "inspect", u)
		wantError(t, err, "no checkpoints under "+u, "memory of the process")
	}
	_, _, err = runCLI(t, "checkpoints", "list", "ftp://host/x")
	wantError(t, err, `unsupported scheme "ftp"`)
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "checkpoints", "list", file)
	wantError(t, err, "is a file, not a directory")
	_, _, err = runCLI(t, "checkpoints", "list")
	wantError(t, err, "url")
}

package stream

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// crashAfterCheckpoints runs sumGraph into out with checkpoints in cps until at least three
// checkpoints have completed and some output is published, then cancels it (a crash). The
// source reads a twentieth of its events per checkpoint, so the job is still running then on
// any machine; the test waits on completed checkpoints, not on time.
func crashAfterCheckpoints(t *testing.T, evs []event, out string, cps *checkpoint.Checkpoints) {
	t.Helper()
	step := int64(max(len(evs)/20, 1))
	gate := newReadGate(step)
	completed := make(chan struct{}, 1<<10)
	src := &sliceSource{events: evs, splits: 4, gate: gate}
	j, err := Execute(context.Background(), sumGraph(src, out), Options{StateBackend: heapBackend, Parallelism: 2, Checkpoints: cps,
		Checkpointing: CheckpointConfig{Interval: 15 * time.Millisecond},
		OnCheckpoint: func(s CheckpointStats) {
			if s.Failed == nil {
				select {
				case completed <- struct{}{}:
				default: // the test has what it waits for
				}
			}
			gate.allow(step)
		}})
	if err != nil {
		t.Fatal(err)
	}
	// The sink publishes a checkpoint's output when it is told of the completion, after
	// OnCheckpoint: look for it at the completions that follow.
	for n := 0; n < 3 || len(readOutput(t, out)) == 0; n++ {
		select {
		case <-completed:
		case <-j.Done():
			t.Fatalf("the job ended (%v) before it was crashed", j.Wait())
		}
	}
	j.Cancel()
	if err := j.Wait(); err != context.Canceled {
		t.Fatalf("Wait after Cancel = %v", err)
	}
}

// flipMetadataByte damages the _metadata of every complete checkpoint of job "job" in dir
// and returns their names.
func flipMetadataByte(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "job", "chk-*", snapshot.MetadataName))
	if err != nil || len(files) == 0 {
		t.Fatalf("no checkpoint metadata in %s: %v", dir, err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x01
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, "job/"+filepath.Base(filepath.Dir(f))+"/"+snapshot.MetadataName)
	}
	return names
}

// TestResumeWithUnreadableCheckpointsFails: when every retained checkpoint is damaged, a
// resume fails naming each of them, instead of silently starting fresh and publishing the
// crashed run's lines a second time. Asked explicitly, it starts fresh, but not into the
// directory that holds the crashed run's output.
func TestResumeWithUnreadableCheckpointsFails(t *testing.T) {
	evs := testEvents(6000, 40)
	out, cpDir := t.TempDir(), t.TempDir()
	crashAfterCheckpoints(t, evs, out, openCheckpoints(t, cpDir))
	before := readOutput(t, out)
	damaged := flipMetadataByte(t, cpDir)
	if len(damaged) != 2 {
		t.Fatalf("%d checkpoints retained, want 2: %v", len(damaged), damaged)
	}

	resume := func(out string, fresh bool) (*Job, error) {
		j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, out), Options{StateBackend: heapBackend, Parallelism: 2,
			Checkpoints: openCheckpoints(t, cpDir), Checkpointing: CheckpointConfig{Interval: 15 * time.Millisecond},
			Restore: Restore{Latest: true, FreshIfUnreadable: fresh}})
		if err == nil {
			t.Cleanup(func() { j.Cancel(); j.Wait() })
		}
		return j, err
	}
	_, err := resume(out, false)
	if !errors.Is(err, checkpoint.ErrNoReadableCheckpoint) || !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("resume = %v; want an error wrapping ErrNoReadableCheckpoint and ErrCorrupt", err)
	}
	for _, name := range damaged {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
	if !strings.Contains(err.Error(), "FreshIfUnreadable") {
		t.Errorf("the error does not say how to start fresh:\n%v", err)
	}
	compareLines(t, readOutput(t, out), before)

	// Fresh, as asked, but the output directory holds the crashed run's published files.
	_, err = resume(out, true)
	if !errors.Is(err, ErrOutputExists) || !strings.Contains(err.Error(), out) {
		t.Fatalf("fresh start into %s = %v; want ErrOutputExists naming the directory", out, err)
	}
	compareLines(t, readOutput(t, out), before)

	// Fresh into a new directory: the whole input, once.
	out2 := t.TempDir()
	j, err := resume(out2, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	if j.Restored() != nil {
		t.Errorf("restored %d; want a fresh start", j.Restored().CheckpointID)
	}
	compareLines(t, readOutput(t, out2), wantSums(evs))
}

// TestFreshStartRefusesPublishedOutput: a run that restores nothing into a directory where
// an earlier run published part files fails before it touches anything (it would publish
// every line again); the files of other sinks do not count.
func TestFreshStartRefusesPublishedOutput(t *testing.T) {
	evs := testEvents(500, 8)
	out := t.TempDir()
	run := func() error {
		j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 2}, out), Options{StateBackend: heapBackend, Parallelism: 2})
		if err != nil {
			return err
		}
		return j.Wait()
	}
	if err := os.WriteFile(filepath.Join(out, "part-other-1-0-0000abcd"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(out)
	err := run()
	if !errors.Is(err, ErrOutputExists) {
		t.Fatalf("second fresh run = %v; want ErrOutputExists", err)
	}
	for _, want := range []string{out, "part-out-end-", "--output"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
	after, _ := os.ReadDir(out)
	if len(after) != len(before) {
		t.Errorf("the refused run changed the directory: %d entries, then %d", len(before), len(after))
	}
	compareLines(t, readOutput(t, out), wantSums(evs))
}

// craftCheckpoint completes checkpoint id of cps holding only operator state for the file
// sink "out" of sumGraph, with the given pending files and lineage, as a crafted or damaged
// checkpoint could. It returns the operator state file's path.
func craftCheckpoint(t *testing.T, cps *checkpoint.Checkpoints, id int64, pending []pendingFile, lineage []lineageRun) string {
	t.Helper()
	return craftOperatorState(t, cps, id, "out", func(b state.OperatorStateStore) error {
		ps, err := state.GetOperatorListState(b, pendingDescriptor)
		if err != nil {
			return err
		}
		ls, err := state.GetUnionListState(b, lineageDescriptor)
		if err != nil {
			return err
		}
		return errors.Join(ps.Update(pending), ls.Update(lineage))
	})
}

// craftOperatorState completes checkpoint id of cps holding only the operator state of
// operator uid (parallelism 1) that fill writes, and returns its file's path.
func craftOperatorState(t *testing.T, cps *checkpoint.Checkpoints, id int64, uid string, fill func(state.OperatorStateStore) error) string {
	t.Helper()
	ctx := context.Background()
	b, err := operator.New(ctx, operator.Options{OperatorID: uid, SubtaskIndex: 0, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := fill(b); err != nil {
		t.Fatal(err)
	}
	snap, err := b.Snapshot(id)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cps.Begin(id)
	if err != nil {
		t.Fatal(err)
	}
	h, err := snap.Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
		ID: uid, Parallelism: 1, MaxParallelism: 128, Operator: []*snapshot.OperatorStateHandle{h}}}}); err != nil {
		t.Fatal(err)
	}
	return h.File.Path
}

// TestFileSinkRejectsCraftedState: the names in the file sink's state are untrusted. Anything
// but the exact names the sink writes is ErrCorrupt naming the operator state file, before
// any file is renamed, and the restore falls back to the previous checkpoint.
func TestFileSinkRejectsCraftedState(t *testing.T) {
	const run = "0badc0de"
	good := pendingFile{Checkpoint: 2, Pending: ".part-out-2-0-" + run + ".pending", Final: "part-out-2-0-" + run}
	with := func(f func(p *pendingFile)) []pendingFile {
		p := good
		f(&p)
		return []pendingFile{p}
	}
	for _, tc := range []struct {
		name    string
		pending []pendingFile
		lineage []lineageRun
	}{
		{"pending outside", with(func(p *pendingFile) { p.Pending = "../victim" }), nil},
		{"final outside", with(func(p *pendingFile) { p.Final = "../victim" }), nil},
		{"both outside", with(func(p *pendingFile) { p.Pending, p.Final = "../victim", "../moved" }), nil},
		{"absolute", with(func(p *pendingFile) { p.Pending = "/etc/passwd" }), nil},
		{"final in subdir", with(func(p *pendingFile) { p.Final = "sub/part-out-2-0-" + run }), nil},
		{"pending of another file", with(func(p *pendingFile) { p.Pending = ".part-out-2-1-" + run + ".pending" }), nil},
		{"other sink", with(func(p *pendingFile) {
			p.Pending, p.Final = ".part-late-2-0-"+run+".pending", "part-late-2-0-"+run
		}), nil},
		{"checkpoint mismatch", with(func(p *pendingFile) { p.Checkpoint = 1 }), nil},
		{"after the snapshot", with(func(p *pendingFile) {
			p.Checkpoint, p.Pending, p.Final = 3, ".part-out-3-0-"+run+".pending", "part-out-3-0-"+run
		}), nil},
		{"leading zero", with(func(p *pendingFile) {
			p.Pending, p.Final = ".part-out-02-0-"+run+".pending", "part-out-02-0-"+run
		}), nil},
		{"bad run", with(func(p *pendingFile) { p.Pending, p.Final = ".part-out-2-0-x.pending", "part-out-2-0-x" }), nil},
		{"relative dir", with(func(p *pendingFile) { p.Dir = "../elsewhere" }), nil},
		{"lineage run", nil, []lineageRun{{Run: "../x", Upto: 1}}},
		{"lineage dir", nil, []lineageRun{{Run: run, Upto: 1, Dir: "out/../.."}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			out, cpDir := filepath.Join(base, "out"), filepath.Join(base, "checkpoints")
			victim := filepath.Join(base, "victim")
			if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, good.Pending), []byte("k0 0 0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cps := openCheckpoints(t, cpDir)
			craftCheckpoint(t, cps, 1, nil, nil)
			bad := craftCheckpoint(t, cps, 2, tc.pending, tc.lineage)

			// Only the crafted checkpoint: the restore fails, naming its operator state file.
			cpsLatest, err := checkpoint.Open(context.Background(), cps.Storage(), "job", checkpoint.Options{NumRetained: 2})
			if err != nil {
				t.Fatal(err)
			}
			m, err := cpsLatest.Load(context.Background(), 2)
			if err != nil {
				t.Fatal(err)
			}
			evs := testEvents(200, 8)
			restoreFailsCorrupt(t, sumGraph(&sliceSource{events: evs, splits: 2}, out), m, cps.Reader(), bad)
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious\n" {
				t.Fatalf("the victim file was touched: %q, %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(out, good.Pending)); err != nil {
				t.Fatalf("a file in the output directory was moved: %v", err)
			}

			// With an earlier, sound checkpoint the restore falls back to it.
			j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 2}, out), Options{StateBackend: heapBackend, Parallelism: 1,
				Checkpoints: cps, Restore: Restore{Latest: true}})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := j.Restored(); got == nil || got.CheckpointID != 1 {
				t.Fatalf("restored %v; want checkpoint 1", got)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious\n" {
				t.Fatalf("the victim file was touched: %q, %v", b, err)
			}
			entries, _ := os.ReadDir(base)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, []string{"checkpoints", "out", "victim"}) {
				t.Errorf("files beside the output directory: %v", names)
			}
		})
	}
}

// TestRestoreIntoAnotherOutput: restoring a checkpoint whose part files are in another
// directory fails saying where they are and what to do; after the directory is moved as a
// whole, the restore works.
func TestRestoreIntoAnotherOutput(t *testing.T) {
	evs := testEvents(6000, 40)
	base := t.TempDir()
	outA, outB, cpDir := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "checkpoints")
	crashAfterCheckpoints(t, evs, outA, openCheckpoints(t, cpDir))
	resume := func(out string) (*Job, error) {
		j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, out), Options{StateBackend: heapBackend, Parallelism: 2,
			Checkpoints: openCheckpoints(t, cpDir), Restore: Restore{Latest: true}})
		if err == nil {
			t.Cleanup(func() { j.Cancel(); j.Wait() })
		}
		return j, err
	}
	_, err := resume(outB)
	if err == nil {
		t.Fatal("restored into another output directory")
	}
	for _, want := range []string{"published in " + outA, "--output " + outA, "not in " + outB} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
	if errors.Is(err, snapshot.ErrCorrupt) || errors.Is(err, checkpoint.ErrNoReadableCheckpoint) {
		t.Errorf("a wrong output directory is blamed on the checkpoint: %v", err)
	}

	if err := os.RemoveAll(outB); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(outA, outB); err != nil {
		t.Fatal(err)
	}
	j, err := resume(outB)
	if err != nil {
		t.Fatalf("restore after moving the output directory: %v", err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	compareLines(t, readOutput(t, outB), wantSums(evs))
}

// TestSourceRejectsCraftedSplits: a source's restored split positions are untrusted too: a
// split listed twice (read twice: duplicate output) or a negative position is ErrCorrupt
// naming the operator state file, and the restore falls back.
func TestSourceRejectsCraftedSplits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		splits []splitState
	}{
		{"split twice", []splitState{{Split: 0, Pos: 3, MaxTS: MinWatermark}, {Split: 0, Pos: 3, MaxTS: MinWatermark}, {Split: 1, MaxTS: MinWatermark}}},
		{"negative position", []splitState{{Split: 0, Pos: -5, MaxTS: MinWatermark}, {Split: 1, MaxTS: MinWatermark}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			cps := openCheckpoints(t, t.TempDir())
			craftOperatorState(t, cps, 1, "source", func(b state.OperatorStateStore) error {
				st, err := state.GetOperatorListState(b, splitsDescriptor)
				if err != nil {
					return err
				}
				return st.Update([]splitState{{Split: 0, MaxTS: MinWatermark}, {Split: 1, MaxTS: MinWatermark}})
			})
			bad := craftOperatorState(t, cps, 2, "source", func(b state.OperatorStateStore) error {
				st, err := state.GetOperatorListState(b, splitsDescriptor)
				if err != nil {
					return err
				}
				return st.Update(tc.splits)
			})
			m, err := cps.Load(context.Background(), 2)
			if err != nil {
				t.Fatal(err)
			}
			evs := testEvents(200, 8)
			restoreFailsCorrupt(t, sumGraph(&sliceSource{events: evs, splits: 2}, out), m, cps.Reader(), bad)
			j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 2}, out), Options{StateBackend: heapBackend, Parallelism: 1,
				Checkpoints: cps, Restore: Restore{Latest: true}})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if err := j.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := j.Restored(); got == nil || got.CheckpointID != 1 {
				t.Fatalf("restored %v; want checkpoint 1", got)
			}
			compareLines(t, readOutput(t, out), wantSums(evs))
		})
	}
}

// TestRestorePendingFilesInAnotherOutput: a snapshot whose pending part file is not in the
// output directory says where it is, instead of calling it lost, and is not blamed on the
// checkpoint (no fallback to an older one, which would fail the same way).
func TestRestorePendingFilesInAnotherOutput(t *testing.T) {
	base := t.TempDir()
	outA, outB := filepath.Join(base, "a"), filepath.Join(base, "b")
	const run = "00c0ffee"
	p := pendingFile{Checkpoint: 1, Pending: ".part-out-1-0-" + run + ".pending", Final: "part-out-1-0-" + run, Dir: outA}
	if err := os.MkdirAll(outA, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outA, p.Pending), []byte("k0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cps := openCheckpoints(t, filepath.Join(base, "checkpoints"))
	craftCheckpoint(t, cps, 1, []pendingFile{p}, nil)
	restore := func(out string) error {
		j, err := Execute(context.Background(), sumGraph(&sliceSource{events: testEvents(100, 4), splits: 2}, out), Options{StateBackend: heapBackend, Parallelism: 1,
			Checkpoints: cps, Restore: Restore{Latest: true}})
		if err != nil {
			return err
		}
		return j.Wait()
	}
	err := restore(outB)
	for _, want := range []string{p.Pending + " of checkpoint 1 is in " + outA, "not in " + outB, "--output " + outA} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("restore into %s = %v; want an error saying %q", outB, err, want)
		}
	}
	if errors.Is(err, snapshot.ErrCorrupt) || errors.Is(err, checkpoint.ErrNoReadableCheckpoint) {
		t.Errorf("a wrong output directory is blamed on the checkpoint: %v", err)
	}
	if err := os.Remove(filepath.Join(outA, p.Pending)); err != nil {
		t.Fatal(err)
	}
	err = restore(outB)
	for _, want := range []string{p.Final + " of checkpoint 1 is neither in " + outB + " nor in " + outA, "deleted or moved"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("restore with the file gone = %v; want an error saying %q", err, want)
		}
	}
}

// TestMiniBatchRejectsUndecodableValue: a mini-batch value in a checkpoint that does not
// decode is ErrCorrupt naming the operator state file, so a restore falls back.
func TestMiniBatchRejectsUndecodableValue(t *testing.T) {
	cps := openCheckpoints(t, t.TempDir())
	key, err := serde.Of[string]().Append(nil, "k0")
	if err != nil {
		t.Fatal(err)
	}
	bad := craftOperatorState(t, cps, 1, "window", func(b state.OperatorStateStore) error {
		st, err := state.GetUnionListState(b, state.ListDescriptor[*miniPair]{Name: miniPairsState,
			Serializer: miniPairSerializer{value: serde.Of[event]().ID()}})
		if err != nil {
			return err
		}
		return st.Update([]*miniPair{{key: key, w: TimeWindow{Start: 0, End: 100}, ts: 5, value: []byte("{not json")}})
	})
	m, err := cps.Load(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph()
	s := FromSource(g, "source", &sliceSource{events: testEvents(100, 4), splits: 2}, WatermarkStrategy{})
	SinkToFiles(miniBatchWindow(s, miniBatchKinds[0].assigner, 10, false), "out", t.TempDir(),
		func(dst []byte, v string) []byte { return append(dst, v...) })
	_, err = Execute(context.Background(), g, Options{StateBackend: heapBackend, Parallelism: 1, Restore: Restore{Metadata: m, Reader: cps.Reader()}})
	var fe *snapshot.FileError
	if !errors.Is(err, snapshot.ErrCorrupt) || !errors.As(err, &fe) || !strings.Contains(fe.Path, bad) {
		t.Fatalf("restore = %v; want ErrCorrupt naming %s", err, bad)
	}
}

// TestRestoreRemovesPendingFilesOfAbandonedRuns: a pending file of a run that is not in the
// restored snapshot's history (a branch abandoned by restoring an older savepoint, say) is
// never committed by the restored job, so the restore removes it, even if its checkpoint id
// is not after the restored one; left there, one accumulates per abandoned branch.
func TestRestoreRemovesPendingFilesOfAbandonedRuns(t *testing.T) {
	base := t.TempDir()
	out, cpDir := filepath.Join(base, "out"), filepath.Join(base, "checkpoints")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	abandoned := ".part-out-3-0-0000bbbb.pending" // run 0000bbbb is not in the lineage
	if err := os.WriteFile(filepath.Join(out, abandoned), []byte("k0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cps := openCheckpoints(t, cpDir)
	craftCheckpoint(t, cps, 5, nil, []lineageRun{{Run: "0000aaaa", Upto: 5}})
	m, err := cps.Load(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: testEvents(200, 8), splits: 2}, out), Options{StateBackend: heapBackend, Parallelism: 1,
		Restore: Restore{Metadata: m, Reader: cps.Reader()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, abandoned)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pending file of an abandoned run is still there: %v", err)
	}
}

// TestRestoreIntoSameOutputByAnotherPath: the output directory named by another path (a
// symbolic link to it, a working directory reached through one) is the same directory: the
// restore works, and is not refused as a restore into another directory.
func TestRestoreIntoSameOutputByAnotherPath(t *testing.T) {
	evs := testEvents(6000, 40)
	base := t.TempDir()
	real, link, cpDir := filepath.Join(base, "real"), filepath.Join(base, "link"), filepath.Join(base, "checkpoints")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	crashAfterCheckpoints(t, evs, link, openCheckpoints(t, cpDir))
	j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, real), Options{StateBackend: heapBackend, Parallelism: 2,
		Checkpoints: openCheckpoints(t, cpDir), Restore: Restore{Latest: true}})
	if err != nil {
		t.Fatalf("resume into %s, which %s links to: %v", real, link, err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	compareLines(t, readOutput(t, real), wantSums(evs))
}

// restoreFailsCorrupt restores g at parallelism 1 from m and checks that the restore fails
// with ErrCorrupt naming a file whose path contains bad.
func restoreFailsCorrupt(t *testing.T, g *Graph, m *snapshot.Metadata, r snapshot.Reader, bad string) {
	t.Helper()
	_, err := Execute(context.Background(), g, Options{StateBackend: heapBackend, Parallelism: 1, Restore: Restore{Metadata: m, Reader: r}})
	var fe *snapshot.FileError
	if !errors.Is(err, snapshot.ErrCorrupt) || !errors.As(err, &fe) || !strings.Contains(fe.Path, bad) {
		t.Fatalf("restore of the crafted checkpoint = %v; want ErrCorrupt naming %s", err, bad)
	}
}

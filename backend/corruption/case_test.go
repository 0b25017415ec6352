package corruption_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// runCase checks the copy of the fixture's storage in dir, whose files named in damaged
// (storage names) were damaged, against the fixture's model. metadataGone says the damage
// deleted a checkpoint's _metadata: that checkpoint no longer exists.
func runCase(t *testing.T, f *fixture, dir string, damaged []string, metadataGone bool) outcome {
	ctx := context.Background()
	st := openStorage(t, dir)
	bad := map[string]bool{}
	for _, d := range damaged {
		bad[d] = true
	}
	// The complete checkpoints after the damage, and which of them reference a damaged file.
	var complete []int64
	badRefs := map[int64][]string{}
	for _, id := range f.ids {
		if metadataGone && bad[f.metadataName(id)] {
			continue
		}
		complete = append(complete, id)
		for _, n := range f.refs[id] {
			if bad[n] {
				badRefs[id] = append(badRefs[id], n)
			}
		}
	}
	if metadataGone {
		// The checkpoint's files are not referenced any more; nothing is "damaged".
		bad = map[string]bool{}
		badRefs = map[int64][]string{}
	}
	if len(damaged) > 0 {
		t.Logf("damaged: %s", strings.Join(damaged, ", "))
	}

	// `checkpoints validate`: every checkpoint that references a damaged file names it (only
	// its _metadata when that is the damaged file: nothing else of it can be read); every
	// other validates.
	if !f.kind.savepoint {
		l, err := checkpoint.Scan(ctx, st)
		must(t, err)
		j := l.Job(jobID)
		if j == nil {
			t.Fatalf("Scan finds no job %s", jobID)
		}
		if got := j.Completed(); !slices.Equal(got, complete) {
			t.Errorf("Scan finds complete checkpoints %v, want %v", got, complete)
		}
	}
	for _, id := range complete {
		problems := validate(t, st, f, id)
		want := badRefs[id]
		if md := f.metadataName(id); bad[md] {
			want = []string{md}
		}
		what := fmt.Sprintf("validate of checkpoint %d", id)
		if f.kind.savepoint {
			what = "validate of the savepoint"
		}
		switch {
		case len(want) == 0 && len(problems) > 0:
			t.Errorf("%s reports problems though none of its files is damaged: %s", what, joinErrs(problems))
		case len(want) > 0 && len(problems) == 0:
			t.Errorf("%s says OK, but %s is damaged", what, strings.Join(want, ", "))
		}
		for _, n := range want {
			if !named(problems, n) {
				t.Errorf("%s does not name damaged file %s; it reports: %s", what, n, joinErrs(problems))
			}
		}
	}

	// Restore.
	if f.kind.savepoint {
		return restoreSavepoint(t, f, st, damaged)
	}
	expect := int64(-1)
	for _, id := range slices.Backward(complete) {
		if len(badRefs[id]) == 0 {
			expect = id
			break
		}
	}
	cps, err := checkpoint.Open(ctx, st, jobID, checkpoint.Options{NumRetained: rounds})
	must(t, err)
	var subs []*subtask
	var panicked string
	m, err := cps.Restore(ctx, func(m *snapshot.Metadata) error {
		s, p, err := restore(t, f, m, cps.Reader())
		if p != "" {
			panicked = p
		}
		subs = s
		return err
	})
	if panicked != "" {
		t.Fatalf("restore panicked: %s", panicked)
	}
	var got dump
	if err == nil {
		got = readState(t, m.CheckpointID, subs)
	}
	if expect < 0 {
		if err == nil {
			t.Fatalf("restore accepted checkpoint %d, though every checkpoint references a damaged file (%v)", m.CheckpointID, badRefs)
		}
		if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrMissing) {
			t.Errorf("restore error wraps neither ErrCorrupt nor ErrMissing: %v", err)
		}
		// Callers start fresh on ErrNoCheckpoint ("the job never completed a checkpoint"):
		// checkpoints that exist but cannot be read must not look like that.
		if errors.Is(err, checkpoint.ErrNoCheckpoint) {
			t.Errorf("restore error wraps ErrNoCheckpoint, which callers take as a fresh start, though checkpoints %v exist: %v", complete, err)
		}
		msg := err.Error()
		for _, id := range complete {
			if !strings.Contains(msg, fmt.Sprintf("checkpoint %d", id)) {
				t.Errorf("restore error does not name checkpoint %d: %v", id, err)
			}
			if !slices.ContainsFunc(badRefs[id], func(n string) bool { return strings.Contains(msg, strings.TrimPrefix(n, f.base())) }) {
				t.Errorf("restore error names none of the damaged files %v of checkpoint %d: %v", badRefs[id], id, err)
			}
		}
		return outNone
	}
	if err != nil {
		t.Fatalf("restore failed, want checkpoint %d restored: %v", expect, err)
	}
	if m.CheckpointID != expect {
		state := "exactly its state"
		if d := diff(f.model[m.CheckpointID], got); d != "" {
			state = "WRONG state: " + d
		}
		t.Fatalf("restore gave checkpoint %d with %s, want checkpoint %d (damaged files per checkpoint: %v)", m.CheckpointID, state, expect, badRefs)
	}
	if d := diff(f.model[expect], got); d != "" {
		t.Fatalf("checkpoint %d restored wrong state: %s", expect, d)
	}
	switch {
	case metadataGone:
		return outGone
	case expect == f.latest():
		return outHarmless
	}
	return outFallback
}

// restoreSavepoint restores the savepoint: exactly the model's state when no file is damaged,
// else an error naming a damaged file.
func restoreSavepoint(t *testing.T, f *fixture, st checkpoint.Storage, damaged []string) outcome {
	m, r, err := checkpoint.LoadSavepoint(context.Background(), st)
	var subs []*subtask
	var panicked string
	if err == nil {
		subs, panicked, err = restore(t, f, m, r)
	}
	if panicked != "" {
		t.Fatalf("restore panicked: %s", panicked)
	}
	var got dump
	if err == nil {
		got = readState(t, 0, subs)
	}
	if len(damaged) == 0 {
		if err != nil {
			t.Fatalf("restore of the undamaged savepoint failed: %v", err)
		}
		if d := diff(f.model[0], got); d != "" {
			t.Fatalf("savepoint restored wrong state: %s", d)
		}
		return outHarmless
	}
	if err == nil {
		state := "exactly its state"
		if d := diff(f.model[0], got); d != "" {
			state = "WRONG state: " + d
		}
		t.Fatalf("restore of the savepoint succeeded with %s, though %v is damaged", state, damaged)
	}
	if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrMissing) {
		t.Errorf("restore error wraps neither ErrCorrupt nor ErrMissing: %v", err)
	}
	if !slices.ContainsFunc(damaged, func(n string) bool { return strings.Contains(err.Error(), n) }) {
		t.Errorf("restore error names none of the damaged files %v: %v", damaged, err)
	}
	return outSPFailed
}

// restore restores the job's subtasks from m, as the runtime does before the job runs (the
// function it gives Checkpoints.Restore): an error here makes Restore try the previous
// checkpoint. A panic is returned as its message and stack, and an error.
func restore(t *testing.T, f *fixture, m *snapshot.Metadata, r snapshot.Reader) (subs []*subtask, panicked string, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = fmt.Sprintf("%v\n%s", p, debug.Stack())
			err = fmt.Errorf("panic: %v", p)
			for _, s := range subs {
				s.close()
			}
			subs = nil
		}
	}()
	o := m.Operator(opID)
	if o == nil {
		return nil, "", fmt.Errorf("the metadata has no operator %s", opID)
	}
	subs, err = open(context.Background(), f.kind.restorer, func() string { return t.TempDir() }, o, r)
	return subs, "", err
}

// readState reads the whole state of restored subtasks, as the job would while it runs, and
// closes them. A failure here is damage that the restore let through: the job would meet it
// after it had started from the checkpoint, with no fallback left.
func readState(t *testing.T, id int64, subs []*subtask) dump {
	t.Helper()
	defer func() {
		for _, s := range subs {
			s.close()
		}
		if p := recover(); p != nil {
			t.Fatalf("reading the state restored from checkpoint %d panicked: %v\n%s", id, p, debug.Stack())
		}
	}()
	d, err := read(subs)
	if err != nil {
		t.Fatalf("restore accepted checkpoint %d, but reading its state fails: %v", id, err)
	}
	return d
}

// validate does what `streamstate checkpoints validate` does for one checkpoint (or the
// savepoint): read and decode its _metadata, check that it is the checkpoint its directory
// says, and checkpoint.Check its files. It returns the problems found.
func validate(t *testing.T, st checkpoint.Storage, f *fixture, id int64) (problems []error) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("validate panicked: %v\n%s", p, debug.Stack())
		}
	}()
	ctx := context.Background()
	md := f.metadataName(id)
	b, err := st.ReadRange(ctx, md, 0, -1)
	if err != nil {
		return []error{err}
	}
	m, err := snapshot.DecodeMetadata(md, b)
	if err != nil {
		return []error{err}
	}
	if !f.kind.savepoint && (m.CheckpointID != id || m.JobID != jobID) {
		return []error{&snapshot.FileError{Path: md, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf("holds checkpoint %d of job %s", m.CheckpointID, m.JobID)}}
	}
	rep, err := checkpoint.Check(ctx, st, f.base(), m)
	must(t, err)
	return rep.Problems
}

// named reports whether one of the problems names the storage file n.
func named(problems []error, n string) bool {
	for _, p := range problems {
		var fe *snapshot.FileError
		if errors.As(p, &fe) && fe.Path == n || strings.Contains(p.Error(), n) {
			return true
		}
	}
	return false
}

func joinErrs(errs []error) string {
	if len(errs) == 0 {
		return "nothing"
	}
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

package lsm_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// integrityJob is a job with two completed incremental checkpoints of one lsm backend with
// heap timers (so that each has an Extra file): checkpoint 1 holds keys 0..99 = k and a timer
// at 1000; checkpoint 2 also holds keys 0..49 = -k, keys 100..149 = k and a timer at 2000. The
// second reuses checkpoint 1's SST and uploads one of its own.
type integrityJob struct {
	*job
	m1, m2 *snapshot.Metadata
}

func newIntegrityJob(t *testing.T) *integrityJob {
	t.Helper()
	j := newJob(t, 2)
	b, err := lsm.New(j.ctx, lsm.Options{Options: integrityOptions(nil, nil), Dir: t.TempDir(),
		Incremental: true, TimerService: lsm.TimerServiceHeap})
	must(t, err)
	t.Cleanup(func() { b.Close() })
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	q, err := b.CreateTimerQueue("timers")
	must(t, err)
	timer := func(ts int64) {
		must(t, kb.SetCurrentKey(7))
		key, kg, _ := kb.CurrentKeyBytes()
		_, err := q.Add(kg, backend.Timer{Timestamp: ts, Key: slices.Clone(key), Namespace: []byte("w")})
		must(t, err)
	}
	put := func(from, to, sign int64) {
		for k := from; k < to; k++ {
			must(t, kb.SetCurrentKey(k))
			must(t, v.Update(sign*k))
		}
	}
	put(0, 100, 1)
	timer(1000)
	j.checkpoint(t, b, 1, true)
	put(0, 50, -1)
	put(100, 150, 1)
	timer(2000)
	j.checkpoint(t, b, 2, true)
	ij := &integrityJob{job: j}
	ij.m1, err = j.cps.Load(j.ctx, 1)
	must(t, err)
	ij.m2, err = j.cps.Load(j.ctx, 2)
	must(t, err)
	return ij
}

func integrityOptions(restore []*snapshot.KeyedStateHandle, r snapshot.Reader) backend.Options {
	return backend.Options{OperatorID: "op", MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1},
		KeySerializerID: serde.Int64{}.ID(), Restore: restore, Reader: r}
}

// restore restores the job's latest readable checkpoint with Checkpoints.Restore, as a job
// does, into a new backend, and returns the checkpoint it restored and the backend.
func (j *integrityJob) restore(t *testing.T) (*snapshot.Metadata, *lsm.Backend, error) {
	t.Helper()
	var b *lsm.Backend
	m, err := j.cps.Restore(j.ctx, func(m *snapshot.Metadata) error {
		r, err := lsm.New(j.ctx, lsm.Options{Options: integrityOptions(m.Operators[0].Keyed, j.cps.Reader()),
			Dir: t.TempDir(), Incremental: true, TimerService: lsm.TimerServiceHeap})
		if err != nil {
			return err
		}
		t.Cleanup(func() { r.Close() })
		b = r
		return nil
	})
	return m, b, err
}

// checkState checks that b holds exactly the state of checkpoint id (1 or 2).
func checkState(t *testing.T, b *lsm.Backend, id int64) {
	t.Helper()
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	for k := int64(0); k < 150; k++ {
		want, present := k, k < 100 || id == 2
		if id == 2 && k < 50 {
			want = -k
		}
		must(t, kb.SetCurrentKey(k))
		got, ok, err := v.Value()
		must(t, err)
		if ok != present || (ok && got != want) {
			t.Fatalf("restored checkpoint %d: key %d = %d, %v; want %d, %v", id, k, got, ok, want, present)
		}
	}
	q, err := b.CreateTimerQueue("timers")
	must(t, err)
	if want := int(id); q.Len() != want {
		t.Fatalf("restored checkpoint %d: %d timers, want %d", id, q.Len(), want)
	}
}

// flipLastByte flips the last byte of the stored file p of the job.
func (j *integrityJob) flipLastByte(t *testing.T, p string) {
	t.Helper()
	b, err := j.st.ReadRange(j.ctx, "job/"+p, 0, -1)
	must(t, err)
	if len(b) == 0 {
		t.Fatalf("%s is empty", p)
	}
	b[len(b)-1] ^= 0x01
	w, err := j.st.Create(j.ctx, "job/"+p, false)
	must(t, err)
	_, err = w.Write(b)
	must(t, err)
	_, err = w.Commit()
	must(t, err)
}

func incFile(t *testing.T, fs []snapshot.IncrementalFile, prefix string) snapshot.IncrementalFile {
	t.Helper()
	for _, f := range fs {
		if strings.HasPrefix(f.Name, prefix) {
			return f
		}
	}
	t.Fatalf("no file %s* in %+v", prefix, fs)
	return snapshot.IncrementalFile{}
}

// sharedSplit returns the shared files of checkpoint 2 that checkpoint 1 references too, and
// those it uploaded itself.
func (j *integrityJob) sharedSplit() (reused, own []snapshot.IncrementalFile) {
	old := map[string]bool{}
	for _, f := range j.m1.Operators[0].Keyed[0].Incremental.Shared {
		old[f.Path] = true
	}
	for _, f := range j.m2.Operators[0].Keyed[0].Incremental.Shared {
		if old[f.Path] {
			reused = append(reused, f)
		} else {
			own = append(own, f)
		}
	}
	return reused, own
}

// TestIncrementalIntegrity flips the last byte of one file of the latest incremental
// checkpoint: its MANIFEST (which Pebble would read as the end of the log, opening an older
// version of the database), its OPTIONS, an SST it uploaded, its heap timers (Extra). Restore
// falls back to the previous checkpoint and restores exactly its state, and Check (`checkpoints
// validate`) names the file. A damaged SST that both checkpoints share leaves nothing to fall
// back to: Restore fails naming it for each.
func TestIncrementalIntegrity(t *testing.T) {
	for _, tc := range []struct {
		name string
		file func(t *testing.T, j *integrityJob) string
	}{
		{"MANIFEST", func(t *testing.T, j *integrityJob) string {
			return incFile(t, j.m2.Operators[0].Keyed[0].Incremental.Private, "MANIFEST-").Path
		}},
		{"OPTIONS", func(t *testing.T, j *integrityJob) string {
			return incFile(t, j.m2.Operators[0].Keyed[0].Incremental.Private, "OPTIONS-").Path
		}},
		{"SST in shared", func(t *testing.T, j *integrityJob) string {
			_, own := j.sharedSplit()
			if len(own) == 0 {
				t.Fatal("checkpoint 2 uploaded no SST")
			}
			return own[0].Path
		}},
		{"Extra timers", func(t *testing.T, j *integrityJob) string {
			return j.m2.Operators[0].Keyed[0].Incremental.Extra.File.Path
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newIntegrityJob(t)
			p := tc.file(t, j)
			j.flipLastByte(t, p)

			m, b, err := j.restore(t)
			if err != nil {
				t.Fatalf("restore did not fall back to checkpoint 1: %v", err)
			}
			if m.CheckpointID != 1 {
				t.Fatalf("restored checkpoint %d with a flipped byte in %s; want a fall back to checkpoint 1", m.CheckpointID, p)
			}
			checkState(t, b, 1)

			rep, err := checkpoint.Check(j.ctx, j.st, "job/", j.m2)
			must(t, err)
			var fe *snapshot.FileError
			if len(rep.Problems) != 1 || !errors.As(rep.Problems[0], &fe) || fe.Path != "job/"+p || !errors.Is(fe, snapshot.ErrCorrupt) ||
				!strings.Contains(fe.Error(), "checksum mismatch") {
				t.Fatalf("Check of checkpoint 2: %v; want one ErrCorrupt checksum mismatch naming job/%s", rep.Problems, p)
			}
			if rep, err := checkpoint.Check(j.ctx, j.st, "job/", j.m1); err != nil || !rep.OK() || rep.Unverified != 0 {
				t.Fatalf("Check of checkpoint 1: %+v, %v", rep, err)
			}
		})
	}

	t.Run("SST of both checkpoints", func(t *testing.T) {
		j := newIntegrityJob(t)
		reused, _ := j.sharedSplit()
		if len(reused) == 0 {
			t.Fatal("checkpoint 2 reuses no SST of checkpoint 1")
		}
		p := reused[0].Path
		j.flipLastByte(t, p)
		_, _, err := j.restore(t)
		// Restore fails (whatever its sentinel for "none readable"), naming the file for both.
		if !errors.Is(err, snapshot.ErrCorrupt) || strings.Count(err.Error(), p) < 2 {
			t.Fatalf("restore with a damaged SST in every checkpoint: %v; want ErrCorrupt naming %s for both checkpoints", err, p)
		}
	})

	t.Run("intact", func(t *testing.T) {
		j := newIntegrityJob(t)
		m, b, err := j.restore(t)
		must(t, err)
		if m.CheckpointID != 2 {
			t.Fatalf("restored checkpoint %d, want 2", m.CheckpointID)
		}
		checkState(t, b, 2)
	})
}

// TestIncrementalChecksumsCarriedForward: every file of an incremental checkpoint has the
// checksum of its bytes, and a shared file reused by a later checkpoint keeps the checksum
// recorded by the checkpoint that uploaded it.
func TestIncrementalChecksumsCarriedForward(t *testing.T) {
	j := newIntegrityJob(t)
	reused, _ := j.sharedSplit()
	if len(reused) == 0 {
		t.Fatal("checkpoint 2 reuses no SST of checkpoint 1")
	}
	first := map[string]string{}
	for _, f := range j.m1.Files() {
		first[f.Path] = f.SHA256
	}
	for _, f := range reused {
		if f.SHA256 != first[f.Path] {
			t.Errorf("reused %s has checksum %s, checkpoint 1 recorded %s", f.Path, f.SHA256, first[f.Path])
		}
	}
	for _, m := range []*snapshot.Metadata{j.m1, j.m2} {
		for _, f := range m.Files() {
			b, err := j.st.ReadRange(j.ctx, "job/"+f.Path, 0, -1)
			must(t, err)
			if got := snapshot.Checksum(b); got != f.SHA256 {
				t.Errorf("checkpoint %d: %s has checksum %s recorded, %s computed", m.CheckpointID, f.Path, f.SHA256, got)
			}
		}
	}
}

// TestIncrementalRestoreVerifiesBeforeOpen: a restore from a handle whose file does not match
// its checksum fails with ErrCorrupt naming the file, before Pebble opens the directory (a
// MANIFEST whose last byte is flipped would otherwise open as an older database).
func TestIncrementalRestoreVerifiesBeforeOpen(t *testing.T) {
	j := newIntegrityJob(t)
	h := j.m2.Operators[0].Keyed[0]
	manifest := incFile(t, h.Incremental.Private, "MANIFEST-")
	j.flipLastByte(t, manifest.Path)
	_, err := lsm.New(context.Background(), lsm.Options{Options: integrityOptions([]*snapshot.KeyedStateHandle{h}, j.cps.Reader()),
		Dir: t.TempDir(), Incremental: true, TimerService: lsm.TimerServiceHeap})
	var fe *snapshot.FileError
	if !errors.As(err, &fe) || fe.Path != manifest.Path || !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("restore from a damaged MANIFEST: %v; want ErrCorrupt: checksum mismatch naming %s", err, manifest.Path)
	}
}

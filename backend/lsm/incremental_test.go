package lsm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

const maxP = 128

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rawKey returns a key in serde.AppendKey form for the raw backend API.
func rawKey(i int) []byte { b, _ := serde.AppendKey(serde.Int64{}, nil, int64(i)); return b }

// writeGroup writes n values into key group kg through the raw backend API (any key bytes
// may be placed in any key group there) and flushes them into an SST file of their own.
func writeGroup(t *testing.T, b *lsm.Backend, v backend.Value, kg, n int, val string) {
	t.Helper()
	for i := 0; i < n; i++ {
		must(t, b.SetCurrentKey(rawKey(kg*1000+i), kg))
		must(t, v.Update(val))
	}
	must(t, committed(t, b).Flush())
}

func span(kgStart, kgEnd int) (lo, hi []byte) {
	return []byte{byte(kgStart >> 8), byte(kgStart)}, []byte{byte((kgEnd + 1) >> 8), byte(kgEnd + 1)}
}

type job struct {
	ctx context.Context
	st  checkpoint.Storage
	cps *checkpoint.Checkpoints
}

func newJob(t testing.TB, retained int) *job {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://")
	must(t, err)
	t.Cleanup(func() { st.Close() })
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{NumRetained: retained})
	must(t, err)
	return &job{ctx: ctx, st: st, cps: cps}
}

// checkpoint runs a checkpoint of b; it is completed (and b notified) if complete is true,
// else aborted (and b notified).
func (j *job) checkpoint(t testing.TB, b *lsm.Backend, id int64, complete bool) *snapshot.KeyedStateHandle {
	t.Helper()
	p, err := j.cps.Begin(id)
	must(t, err)
	snap, err := b.Snapshot(id, backend.SnapshotOptions{})
	must(t, err)
	h, err := snap.Run(j.ctx, p)
	must(t, err)
	if !complete {
		must(t, p.Abort(j.ctx))
		must(t, b.NotifyCheckpointAborted(id))
		return h
	}
	must(t, p.Complete(j.ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1,
		MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h}}}}))
	must(t, b.NotifyCheckpointComplete(id))
	return h
}

func sharedPaths(h *snapshot.KeyedStateHandle) map[string]string {
	out := map[string]string{}
	for _, f := range h.Incremental.Shared {
		out[f.Name] = f.Path
	}
	return out
}

func newIncBackend(t *testing.T, hook func(*pebble.Options), restore []*snapshot.KeyedStateHandle, r snapshot.Reader, rng keygroup.Range) *lsm.Backend {
	t.Helper()
	b, err := lsm.New(context.Background(), lsm.Options{Options: backend.Options{OperatorID: "op",
		MaxParallelism: maxP, KeyGroupRange: rng, KeySerializerID: serde.Int64{}.ID(), Restore: restore, Reader: r},
		Dir: t.TempDir(), Incremental: true, OptionsHook: hook})
	must(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

// TestIncrementalFlinkSequence follows the example of Flink's incremental checkpoint
// documentation: checkpoint 1 holds {1,2,3}.sst; checkpoint 2 holds {1,2,4}.sst and fails;
// checkpoint 3 holds {4,5}.sst, and both 4 and 5 are uploaded (4 was never confirmed). Then
// retention deletes every shared file only checkpoint 1 referenced, and checkpoint 3 restores.
// Every checkpoint also holds m, the file of the backend's metadata, which stays unchanged
// and is uploaded once.
func TestIncrementalFlinkSequence(t *testing.T) {
	j := newJob(t, 1)
	all := keygroup.Range{Start: 0, End: maxP - 1}
	b := newIncBackend(t, func(o *pebble.Options) { o.DisableAutomaticCompactions = true }, nil, nil, all)
	in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	v := in.(backend.Value)
	// The backend's metadata (state registrations) goes into a file of its own, m, at the
	// end of the key space, so that it overlaps none of the files below.
	must(t, committed(t, b).Flush())
	must(t, committed(t, b).Compact(j.ctx, []byte{0xff}, []byte{0xff, 0xff, 0xff}, false))

	// {1,2,3}.sst: one file per key group 0, 1, 2, each moved out of L0 on its own so that
	// later compactions touch only the files of their key groups.
	for kg := range 3 {
		writeGroup(t, b, v, kg, 50, "one")
		lo, hi := span(kg, kg)
		must(t, committed(t, b).Compact(j.ctx, lo, hi, false))
	}
	h1 := j.checkpoint(t, b, 1, true)
	s1 := sharedPaths(h1)
	if len(s1) != 4 {
		t.Fatalf("checkpoint 1 has shared files %v, want {m,1,2,3}", s1)
	}

	// {1,2,4}.sst: rewrite key group 2, and compact its old and new file into one (4).
	writeGroup(t, b, v, 2, 50, "two")
	lo, hi := span(2, 2)
	must(t, committed(t, b).Compact(j.ctx, lo, hi, false))
	h2 := j.checkpoint(t, b, 2, false)
	s2 := sharedPaths(h2)
	var four string
	for name, p := range s2 {
		switch old, ok := s1[name]; {
		case ok && old != p:
			t.Fatalf("checkpoint 2 uploaded %s again though checkpoint 1 completed with it", name)
		case !ok:
			if four != "" {
				t.Fatalf("checkpoint 2 has two new files: %v (checkpoint 1: %v)", s2, s1)
			}
			four = name
			if _, err := j.st.Size(j.ctx, "job/"+p); err == nil {
				t.Fatalf("upload %s of the aborted checkpoint 2 was not deleted", p)
			}
		}
	}
	if four == "" || len(s2) != 4 {
		t.Fatalf("checkpoint 2 has shared files %v, want {m,1,2,4}", s2)
	}

	// {4,5}.sst: rewrite key groups 0 and 1 and compact them with files 1 and 2 into 5.
	for kg := range 2 {
		for i := 0; i < 50; i++ {
			must(t, b.SetCurrentKey(rawKey(kg*1000+i), kg))
			must(t, v.Update("three"))
		}
	}
	must(t, committed(t, b).Flush())
	lo, hi = span(0, 1)
	must(t, committed(t, b).Compact(j.ctx, lo, hi, false))
	h3 := j.checkpoint(t, b, 3, true)
	s3 := sharedPaths(h3)
	if _, ok := s3[four]; !ok || len(s3) != 3 {
		t.Fatalf("checkpoint 3 has shared files %v, want {m,4,5} with 4 = %s", s3, four)
	}
	reused := 0
	for name, p := range s3 {
		if old, ok := s1[name]; ok {
			if old != p {
				t.Fatalf("checkpoint 3 uploaded %s (m) again", name)
			}
			reused++
			continue
		}
		if p == s2[name] {
			t.Fatalf("checkpoint 3 reuses %s, uploaded by the failed checkpoint 2", p)
		}
	}

	if reused != 1 {
		t.Fatalf("checkpoint 3 reuses %d files of checkpoint 1, want only m", reused)
	}

	// Retention (1 retained) dropped checkpoint 1 and the shared files only it referenced.
	names, err := j.st.List(j.ctx, "job/shared/")
	must(t, err)
	var want []string
	for _, p := range s3 {
		want = append(want, "job/"+p)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("shared/ holds %v, want exactly checkpoint 3's %v", names, want)
	}

	// Checkpoint 3 restores, from its metadata as written.
	md, err := j.cps.Load(j.ctx, 3)
	must(t, err)
	r := newIncBackend(t, nil, md.Operators[0].Keyed, j.cps.Reader(), all)
	rin, err := r.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	rv := rin.(backend.Value)
	for kg := range 3 {
		want := map[bool]string{true: "two", false: "three"}[kg == 2]
		for i := 0; i < 50; i++ {
			must(t, r.SetCurrentKey(rawKey(kg*1000+i), kg))
			got, ok, err := rv.Value()
			must(t, err)
			if !ok || got != want {
				t.Fatalf("restored key group %d key %d = %v, %v; want %q", kg, i, got, ok, want)
			}
		}
	}
}

// TestIncrementalReuseAndConfirmation: an unchanged database uploads no shared file again
// once a checkpoint completed, and files of a checkpoint still unconfirmed are uploaded again.
func TestIncrementalReuseAndConfirmation(t *testing.T) {
	j := newJob(t, 3)
	b := newIncBackend(t, nil, nil, nil, keygroup.Range{Start: 0, End: maxP - 1})
	in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	writeGroup(t, b, in.(backend.Value), 5, 100, "x")

	// Checkpoint 1 completes, but its notification is not delivered yet.
	p1, err := j.cps.Begin(1)
	must(t, err)
	snap, err := b.Snapshot(1, backend.SnapshotOptions{})
	must(t, err)
	h1, err := snap.Run(j.ctx, p1)
	must(t, err)
	must(t, p1.Complete(j.ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h1}}}}))
	h2 := j.checkpoint(t, b, 2, true) // not confirmed: uploaded again
	for name, p := range sharedPaths(h2) {
		if sharedPaths(h1)[name] == p {
			t.Fatalf("%s reused before any checkpoint was confirmed", name)
		}
	}
	must(t, b.NotifyCheckpointComplete(1)) // late and out of order: ignored
	h3 := j.checkpoint(t, b, 3, true)
	if !maps2Equal(sharedPaths(h2), sharedPaths(h3)) {
		t.Fatalf("unchanged database uploaded again: %v then %v", sharedPaths(h2), sharedPaths(h3))
	}
	if len(h3.Incremental.Private) == 0 {
		t.Fatal("no private files (MANIFEST, OPTIONS)")
	}
	for _, f := range h3.Incremental.Private {
		if !strings.HasPrefix(f.Path, "chk-3/") {
			t.Fatalf("private file %s outside chk-3/", f.Path)
		}
	}
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestIncrementalRescale restores incremental checkpoints of 3 subtasks into 2 and 1 (base
// handle clipped, others imported), and 1 into 4, and checks every key.
func TestIncrementalRescale(t *testing.T) {
	j := newJob(t, 5)
	ctx := j.ctx
	open := func(p int, restore []*snapshot.KeyedStateHandle) []*lsm.Backend {
		out := make([]*lsm.Backend, p)
		for i := range out {
			out[i] = newIncBackend(t, nil, restore, j.cps.Reader(), keygroup.RangeFor(maxP, p, i))
		}
		return out
	}
	const n = 600
	route := func(bs []*lsm.Backend, k int) (*lsm.Backend, int) {
		kg := keygroup.Of(rawKey(k), maxP)
		return bs[keygroup.OperatorIndex(maxP, len(bs), kg)], kg
	}
	id := int64(0)
	snapshotAll := func(bs []*lsm.Backend) []*snapshot.KeyedStateHandle {
		id++
		p, err := j.cps.Begin(id)
		must(t, err)
		var hs []*snapshot.KeyedStateHandle
		for _, b := range bs {
			s, err := b.Snapshot(id, backend.SnapshotOptions{})
			must(t, err)
			h, err := s.Run(ctx, p)
			must(t, err)
			hs = append(hs, h)
		}
		must(t, p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: len(bs), MaxParallelism: maxP, Keyed: hs}}}))
		for _, b := range bs {
			must(t, b.NotifyCheckpointComplete(id))
		}
		return hs
	}
	spec := state.ListDescriptor[string]{Name: "l"}.Spec()
	subs := open(3, nil)
	for k := 0; k < n; k++ {
		b, kg := route(subs, k)
		in, err := b.CreateState(spec)
		must(t, err)
		must(t, b.SetCurrentKey(rawKey(k), kg))
		must(t, in.(backend.List).AddAll([]any{fmt.Sprint(k), "x"}))
	}
	hs := snapshotAll(subs)
	for _, p := range []int{2, 1, 4} {
		for _, b := range subs {
			must(t, b.Close())
		}
		subs = open(p, hs)
		for k := 0; k < n; k++ {
			b, kg := route(subs, k)
			in, err := b.CreateState(spec)
			must(t, err)
			must(t, b.SetCurrentKey(rawKey(k), kg))
			got, err := in.(backend.List).Get()
			must(t, err)
			if len(got) != 2 || got[0] != fmt.Sprint(k) {
				t.Fatalf("p=%d key %d = %v", p, k, got)
			}
		}
		for i, b := range subs {
			for key, err := range b.Keys("l", nil) {
				must(t, err)
				if owner, _ := route(subs, int(mustInt(t, key))); owner != b {
					t.Fatalf("p=%d subtask %d holds a key it does not own", p, i)
				}
			}
		}
		hs = snapshotAll(subs)
	}
}

func mustInt(t *testing.T, key []byte) int64 {
	v, _, err := serde.DecodeKey(serde.Int64{}, key)
	must(t, err)
	return v
}

// TestIncrementalConcurrentAsyncPhase uploads an incremental checkpoint while the task keeps
// writing (and compactions run), then checks the restored state is the state at the sync
// point. Run with -race.
func TestIncrementalConcurrentAsyncPhase(t *testing.T) {
	j := newJob(t, 2)
	all := keygroup.Range{Start: 0, End: maxP - 1}
	b := newIncBackend(t, nil, nil, nil, all)
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	l, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "l"})
	must(t, err)
	const n = 2000
	for k := int64(0); k < n; k++ {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
		must(t, l.Add(k))
	}
	j.checkpoint(t, b, 1, true) // so that the next one reuses files while they are compacted
	for k := int64(0); k < n; k += 2 {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(-k))
	}
	p, err := j.cps.Begin(2)
	must(t, err)
	snap, err := b.Snapshot(2, backend.SnapshotOptions{})
	must(t, err)
	done := make(chan error, 1)
	var h *snapshot.KeyedStateHandle
	go func() {
		var err error
		h, err = snap.Run(j.ctx, p)
		done <- err
	}()
	for round := int64(1); round <= 3; round++ {
		for k := int64(0); k < n; k++ {
			must(t, kb.SetCurrentKey(k))
			must(t, v.Update(k*1000+round))
			must(t, l.Add(-round))
		}
		must(t, committed(t, b).Flush())
	}
	must(t, <-done)
	must(t, p.Complete(j.ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h}}}}))
	must(t, b.NotifyCheckpointComplete(2))

	r := newIncBackend(t, nil, []*snapshot.KeyedStateHandle{h}, j.cps.Reader(), all)
	rkb, err := state.NewKeyedBackend[int64](r, serde.Int64{})
	must(t, err)
	rv, err := state.GetValueState(rkb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	rl, err := state.GetListState(rkb, state.ListDescriptor[int64]{Name: "l"})
	must(t, err)
	for k := int64(0); k < n; k++ {
		must(t, rkb.SetCurrentKey(k))
		want := k
		if k%2 == 0 {
			want = -k
		}
		if got, ok, err := rv.Value(); err != nil || !ok || got != want {
			t.Fatalf("key %d = %d %v %v, want %d", k, got, ok, err, want)
		}
		var got []int64
		for e, err := range rl.Get() {
			must(t, err)
			got = append(got, e)
		}
		if !slices.Equal(got, []int64{k}) {
			t.Fatalf("key %d list = %v", k, got)
		}
	}
}

// TestIncrementalRestoreBadFiles: a missing or damaged file of an incremental checkpoint is
// a recognisable error naming the file, never a panic, and leaves no working directory.
func TestIncrementalRestoreBadFiles(t *testing.T) {
	j := newJob(t, 1)
	all := keygroup.Range{Start: 0, End: maxP - 1}
	b := newIncBackend(t, nil, nil, nil, all)
	in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	writeGroup(t, b, in.(backend.Value), 1, 100, "x")
	h := j.checkpoint(t, b, 1, true)
	restore := func() error {
		dir := t.TempDir()
		r, err := lsm.New(j.ctx, lsm.Options{Options: backend.Options{OperatorID: "op", MaxParallelism: maxP,
			KeyGroupRange: all, KeySerializerID: serde.Int64{}.ID(), Restore: []*snapshot.KeyedStateHandle{h}, Reader: j.cps.Reader()},
			Dir: dir})
		if err == nil {
			r.Close()
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("failed restore left %v in %s", left, dir)
		}
		return err
	}
	must(t, restore())
	var manifest snapshot.IncrementalFile
	for _, f := range h.Incremental.Private {
		if strings.HasPrefix(f.Name, "MANIFEST-") {
			manifest = f
		}
	}
	replace := func(f snapshot.IncrementalFile, b []byte) {
		w, err := j.st.Create(j.ctx, "job/"+f.Path, false)
		must(t, err)
		_, err = w.Write(b)
		must(t, err)
		_, err = w.Commit()
		must(t, err)
	}
	orig, err := j.st.ReadRange(j.ctx, "job/"+manifest.Path, 0, -1)
	must(t, err)
	garbage := slices.Clone(orig)
	for i := range garbage {
		garbage[i] ^= 0x5a
	}
	replace(manifest, garbage)
	if err := restore(); !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), manifest.Path) {
		t.Fatalf("damaged MANIFEST: %v", err)
	}
	replace(manifest, orig[:len(orig)/2])
	if err := restore(); !errors.Is(err, snapshot.ErrMissing) || !strings.Contains(err.Error(), manifest.Path) {
		t.Fatalf("truncated MANIFEST: %v", err)
	}
	replace(manifest, orig)
	sst := h.Incremental.Shared[0]
	must(t, j.st.Delete(j.ctx, "job/"+sst.Path))
	if err := restore(); !errors.Is(err, snapshot.ErrMissing) || !strings.Contains(err.Error(), sst.Path) {
		t.Fatalf("missing SST: %v", err)
	}
}

// committed returns b's database with every write b has batched committed to it.
func committed(t testing.TB, b *lsm.Backend) *pebble.DB {
	t.Helper()
	must(t, b.CommitWrites())
	return b.DB()
}

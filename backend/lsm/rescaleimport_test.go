package lsm_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/state"
)

// recordingReader records the paths a restore reads.
type recordingReader struct {
	snapshot.Reader
	mu    sync.Mutex
	paths map[string]bool
}

func (r *recordingReader) ReadRange(ctx context.Context, path string, off, n int64) ([]byte, error) {
	r.mu.Lock()
	r.paths[path] = true
	r.mu.Unlock()
	return r.Reader.ReadRange(ctx, path, off, n)
}

// noL0Compactions keeps every flushed SST as it is, so each one holds the key groups it was
// flushed with.
func noL0Compactions(o *pebble.Options) {
	o.L0CompactionThreshold = 1000
	o.L0CompactionFileThreshold = 1000
	o.L0StopWritesThreshold = 1000
}

// TestRescaleImportReadsOnlyOverlappingSSTs restores subtask 1 of 3 (key groups 43-85) from
// the checkpoints of 2 subtasks whose SSTs each hold one key group: the base is subtask 1's
// database (key groups 64-85 of it), and of subtask 0's only the SSTs of key groups 43-63
// and the one of the metadata are downloaded. A damaged SST the restore does not need does
// not fail it; a damaged one it needs does, naming the file.
func TestRescaleImportReadsOnlyOverlappingSSTs(t *testing.T) {
	j := newJob(t, 5)
	groups := [][]int{{5, 20, 40, 60}, {70, 100}}
	p, err := j.cps.Begin(1)
	must(t, err)
	var hs []*snapshot.KeyedStateHandle
	sstGroup := map[string]int{} // stored path of each SST of subtask 0 -> its key group (-1: metadata)
	for i, kgs := range groups {
		b := newIncBackend(t, noL0Compactions, nil, nil, keygroup.RangeFor(maxP, 2, i))
		in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
		must(t, err)
		must(t, committed(t, b).Flush()) // the metadata in an SST of its own
		for _, kg := range kgs {
			writeGroup(t, b, in.(backend.Value), kg, 50, "x")
		}
		tables, err := b.DB().SSTables()
		must(t, err)
		s, err := b.Snapshot(1, backend.SnapshotOptions{})
		must(t, err)
		h, err := s.Run(j.ctx, p)
		must(t, err)
		hs = append(hs, h)
		if i == 0 {
			for _, level := range tables {
				for _, tb := range level {
					name := tb.BackingSSTNum.String() + ".sst"
					kg := -1
					if tb.Smallest.UserKey[0] < 0x80 {
						kg = int(tb.Smallest.UserKey[0])<<8 | int(tb.Smallest.UserKey[1])
					}
					for _, f := range h.Incremental.Shared {
						if f.Name == name {
							sstGroup[f.Path] = kg
						}
					}
				}
			}
		}
		must(t, b.Close())
	}
	must(t, p.Complete(j.ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 2, MaxParallelism: maxP, Keyed: hs}}}))
	if len(sstGroup) != 5 {
		t.Fatalf("subtask 0 has SSTs %v; want one per key group and one of the metadata", sstGroup)
	}

	rng := keygroup.RangeFor(maxP, 3, 1)
	restore := func() (*recordingReader, error) {
		r := &recordingReader{Reader: j.cps.Reader(), paths: map[string]bool{}}
		b, err := lsm.New(j.ctx, lsm.Options{Options: backend.Options{OperatorID: "op", MaxParallelism: maxP, KeyGroupRange: rng,
			KeySerializerID: "int64", Restore: hs, Reader: r}, Dir: t.TempDir(), Incremental: true})
		if err != nil {
			return r, err
		}
		defer b.Close()
		in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
		must(t, err)
		for _, kg := range []int{60, 70} {
			for i := range 50 {
				must(t, b.SetCurrentKey(rawKey(kg*1000+i), kg))
				v, ok, err := in.(backend.Value).Value()
				must(t, err)
				if !ok || v != "x" {
					t.Fatalf("key group %d key %d = %v after the restore, want x", kg, i, v)
				}
			}
		}
		var held []string
		for key, err := range b.Keys("v", nil) {
			must(t, err)
			held = append(held, string(key))
		}
		if len(held) != 100 {
			t.Fatalf("restored subtask holds %d keys, want the 100 of key groups 60 and 70", len(held))
		}
		return r, nil
	}
	r, err := restore()
	must(t, err)
	for path, kg := range sstGroup {
		want := kg == -1 || rng.Contains(kg)
		if r.paths[path] != want {
			t.Errorf("SST of key group %d (%s): read %v, want %v", kg, path, r.paths[path], want)
		}
	}

	damage := func(path string) {
		orig, err := j.st.ReadRange(j.ctx, "job/"+path, 0, -1)
		must(t, err)
		bad := slices.Clone(orig)
		bad[len(bad)/2] ^= 0xff
		w, err := j.st.Create(j.ctx, "job/"+path, false)
		must(t, err)
		_, err = w.Write(bad)
		must(t, err)
		_, err = w.Commit()
		must(t, err)
	}
	var unneeded, needed string
	for path, kg := range sstGroup {
		switch kg {
		case 5:
			unneeded = path
		case 60:
			needed = path
		}
	}
	damage(unneeded)
	if _, err := restore(); err != nil {
		t.Fatalf("a damaged SST of key group 5, which subtask 1 of 3 does not own, failed its restore: %v", err)
	}
	damage(needed)
	if _, err := restore(); !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), needed) {
		t.Fatalf("damaged SST of key group 60: err = %v, want ErrCorrupt naming %s", err, needed)
	}
}

// TestClipExcise: a database restored at its own key-group range keeps its SSTs as they are
// (nothing outside the range to clip, even where an SST's bounds straddle it); restored as
// subtask 0 of 2, the SST holding key groups of both halves is cut by Excise into a virtual
// SST of the owned half, and no key of the other half is left.
func TestClipExcise(t *testing.T) {
	j := newJob(t, 5)
	all := keygroup.Range{Start: 0, End: maxP - 1}
	b := newIncBackend(t, nil, nil, nil, all)
	in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	for _, kg := range []int{10, 100} { // one SST, both halves
		for i := range 20 {
			must(t, b.SetCurrentKey(rawKey(kg*1000+i), kg))
			must(t, in.(backend.Value).Update("x"))
		}
	}
	must(t, committed(t, b).Flush())
	h := j.checkpoint(t, b, 1, true)
	virtual := func(r *lsm.Backend) int {
		levels, err := r.DB().SSTables()
		must(t, err)
		n := 0
		for _, l := range levels {
			for _, tb := range l {
				if tb.Virtual {
					n++
				}
			}
		}
		return n
	}
	same := newIncBackend(t, nil, []*snapshot.KeyedStateHandle{h}, j.cps.Reader(), all)
	if n := virtual(same); n != 0 {
		t.Fatalf("restored at its own range: %d virtual SSTs, want none", n)
	}
	half := newIncBackend(t, nil, []*snapshot.KeyedStateHandle{h}, j.cps.Reader(), keygroup.RangeFor(maxP, 2, 0))
	if n := virtual(half); n == 0 {
		t.Fatal("restored as subtask 0 of 2: no virtual SST; the clip did not excise")
	}
	_, err = half.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	n := 0
	for key, err := range half.Keys("v", nil) {
		must(t, err)
		if k := mustInt(t, key); k/1000 != 10 {
			t.Fatalf("subtask 0 of 2 holds key %d of key group %d", k, k/1000)
		}
		n++
	}
	if n != 20 {
		t.Fatalf("subtask 0 of 2 holds %d keys, want the 20 of key group 10", n)
	}
}

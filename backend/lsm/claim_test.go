package lsm_test

import (
	"context"
	"fmt"
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

// newClaimBackend is an incremental backend over all key groups with automatic compactions
// off (so the files are those the test makes), restored from restore with Claim set to claim.
func newClaimBackend(t *testing.T, restore []*snapshot.KeyedStateHandle, r snapshot.Reader, claim bool) (*lsm.Backend, backend.Value) {
	t.Helper()
	b, err := lsm.New(context.Background(), lsm.Options{Options: backend.Options{OperatorID: "op",
		MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID(),
		Restore: restore, Reader: r, Claim: claim},
		Dir: t.TempDir(), Incremental: true, OptionsHook: func(o *pebble.Options) { o.DisableAutomaticCompactions = true }})
	must(t, err)
	t.Cleanup(func() { b.Close() })
	in, err := b.CreateState(state.ValueDescriptor[string]{Name: "v"}.Spec())
	must(t, err)
	return b, in.(backend.Value)
}

// checkGroups checks that key groups kgs hold n values each, val for every group but those
// in other, which hold other's value.
func checkGroups(t *testing.T, b *lsm.Backend, v backend.Value, kgs []int, n int, val string, other map[int]string) {
	t.Helper()
	for _, kg := range kgs {
		want := val
		if o, ok := other[kg]; ok {
			want = o
		}
		for i := 0; i < n; i++ {
			must(t, b.SetCurrentKey(rawKey(kg*1000+i), kg))
			got, ok, err := v.Value()
			must(t, err)
			if !ok || got != want {
				t.Fatalf("key group %d key %d = %v, %v; want %q", kg, i, got, ok, want)
			}
		}
	}
}

// newShared returns the shared files of h whose paths are not among prev's, and their bytes.
func newShared(h, prev *snapshot.KeyedStateHandle) ([]string, int64) {
	old := map[string]bool{}
	for _, f := range prev.Incremental.Shared {
		old[f.Path] = true
	}
	var names []string
	var bytes int64
	for _, f := range h.Incremental.Shared {
		if !old[f.Path] {
			names = append(names, f.Name)
			bytes += f.Size
		}
	}
	return names, bytes
}

// writeCompacted writes 100 values into key group kg and compacts them with the group's
// older file (if any) into one file of the group's own, out of L0, so that later compactions
// touch only the files of their key groups.
func writeCompacted(t *testing.T, b *lsm.Backend, v backend.Value, kg int, val string) {
	t.Helper()
	writeGroup(t, b, v, kg, 100, val)
	lo, hi := span(kg, kg)
	must(t, committed(t, b).Compact(context.Background(), lo, hi, false))
}

func keyed(m *snapshot.Metadata) []*snapshot.KeyedStateHandle { return m.Operators[0].Keyed }

// TestClaimResumeUploadsOnlyNewFiles: restored with Claim (a job resuming its own
// checkpoint), the first incremental checkpoint references every file of the restored
// checkpoint where it is and uploads only the file written since; without Claim (no-claim) it
// uploads every file again. The checkpoint restores, after retention dropped the restored one.
func TestClaimResumeUploadsOnlyNewFiles(t *testing.T) {
	groups := []int{0, 1, 2, 3, 4, 5}
	for _, claim := range []bool{true, false} {
		t.Run(fmt.Sprintf("claim=%v", claim), func(t *testing.T) {
			j := newJob(t, 1)
			b, v := newClaimBackend(t, nil, nil, false)
			for _, kg := range groups {
				writeGroup(t, b, v, kg, 100, "one")
			}
			h1 := j.checkpoint(t, b, 1, true)
			m1, err := j.cps.Load(j.ctx, 1)
			must(t, err)
			r, rv := newClaimBackend(t, keyed(m1), j.cps.Reader(), claim)
			writeGroup(t, r, rv, 9, 100, "two")
			h2 := j.checkpoint(t, r, 2, true)
			fresh, _ := newShared(h2, h1)
			if claim {
				if len(fresh) != 1 {
					t.Fatalf("the first checkpoint after a claim restore uploaded %v, want only the one new file", fresh)
				}
				if len(h2.Incremental.Shared) != len(h1.Incremental.Shared)+1 {
					t.Fatalf("checkpoint 2 has %d shared files, want the %d restored ones and one new", len(h2.Incremental.Shared), len(h1.Incremental.Shared))
				}
			} else if len(fresh) != len(h2.Incremental.Shared) {
				t.Fatalf("no-claim: checkpoint 2 reuses %d files of the restored checkpoint", len(h2.Incremental.Shared)-len(fresh))
			}
			if ids, err := j.cps.Completed(j.ctx); err != nil || !slices.Equal(ids, []int64{2}) {
				t.Fatalf("complete checkpoints %v, %v; want [2] (retention dropped 1)", ids, err)
			}
			m2, err := j.cps.Load(j.ctx, 2) // every file it references is there
			must(t, err)
			x, xv := newClaimBackend(t, keyed(m2), j.cps.Reader(), true)
			checkGroups(t, x, xv, append(slices.Clone(groups), 9), 100, "one", map[int]string{9: "two"})
			// Unchanged since its restore (but for the registration record), x's next
			// checkpoint references every file of the restored one where it is.
			h3 := j.checkpoint(t, x, 3, true)
			reused := map[string]bool{}
			for _, f := range h3.Incremental.Shared {
				reused[f.Path] = true
			}
			for _, f := range h2.Incremental.Shared {
				if !reused[f.Path] {
					t.Fatalf("the resumed backend uploaded %s again", f.Name)
				}
			}
		})
	}
}

// TestClaimForeignCheckpoint: job b claims checkpoint 1 of job a ("job") in the same storage. Its
// first checkpoint references a's files (adopted paths) except the one a compaction replaced,
// and uploads only new files; once it completes, a's checkpoint is gone (metadata and private
// files) with the shared file nobody references, while the referenced ones stay until b's
// retention drops the last checkpoint referencing them.
func TestClaimForeignCheckpoint(t *testing.T) {
	a := newJob(t, 1)
	ctx := a.ctx
	b0, v0 := newClaimBackend(t, nil, nil, false)
	groups := []int{0, 1, 2, 3}
	for _, kg := range groups {
		writeCompacted(t, b0, v0, kg, "one")
	}
	ha := a.checkpoint(t, b0, 1, true)
	cb, err := checkpoint.Open(ctx, a.st, "b", checkpoint.Options{NumRetained: 1})
	must(t, err)
	jb := &job{ctx: ctx, st: a.st, cps: cb}
	m, mr, err := cb.ClaimCheckpoint(ctx, "job", 1)
	must(t, err)
	for _, f := range keyed(m)[0].Incremental.Shared {
		if !strings.HasPrefix(f.Path, "../job/shared/") {
			t.Fatalf("claimed shared file %s: want the adopted path ../job/shared/...", f.Path)
		}
	}
	r, rv := newClaimBackend(t, keyed(m), mr, true)
	// Rewrite key group 0 and compact it: a's file of key group 0 leaves the database.
	writeCompacted(t, r, rv, 0, "two")
	hb := jb.checkpoint(t, r, 1, true)
	var adopted []string
	for _, f := range hb.Incremental.Shared {
		if rest, ok := snapshot.AdoptedRoot(f.Path); ok {
			adopted = append(adopted, rest)
		} else if !strings.HasPrefix(f.Path, "shared/") {
			t.Fatalf("b's checkpoint references %s, neither its own nor adopted", f.Path)
		}
	}
	if len(adopted) != len(ha.Incremental.Shared)-1 {
		t.Fatalf("b's first checkpoint adopted %v; want all %d of a's shared files but the compacted one", adopted, len(ha.Incremental.Shared))
	}
	if fresh, _ := newShared(hb, &snapshot.KeyedStateHandle{Incremental: &snapshot.IncrementalHandle{}}); len(fresh)-len(adopted) != 1 {
		t.Fatalf("b's first checkpoint uploaded %d files, want 1 (the compaction's output)", len(fresh)-len(adopted))
	}
	if cb.Claimed() != "" {
		t.Fatalf("the claimed checkpoint %s is still held after b's first checkpoint", cb.Claimed())
	}
	if names, err := a.st.List(ctx, "job/chk-"); err != nil || len(names) != 0 {
		t.Fatalf("a's claimed checkpoint directory still holds %v, %v", names, err)
	}
	names, err := a.st.List(ctx, "job/shared/")
	must(t, err)
	slices.Sort(names)
	slices.Sort(adopted)
	if !slices.Equal(names, adopted) {
		t.Fatalf("job/shared/ holds %v; want exactly the files b references, %v", names, adopted)
	}

	// b's checkpoint restores from what is left.
	mb, err := cb.Load(ctx, 1)
	must(t, err)
	x, xv := newClaimBackend(t, keyed(mb), cb.Reader(), true)
	checkGroups(t, x, xv, groups, 100, "one", map[int]string{0: "two"})

	// Once no retained checkpoint of b references a's files, retention deletes them.
	for _, kg := range groups[1:] {
		writeCompacted(t, x, xv, kg, "three")
	}
	h2 := jb.checkpoint(t, x, 2, true)
	for _, f := range h2.Incremental.Shared {
		if snapshot.IsAdopted(f.Path) {
			t.Fatalf("checkpoint 2 still references %s after its key group was rewritten", f.Path)
		}
	}
	if names, err := a.st.List(ctx, "job/"); err != nil || len(names) != 0 {
		t.Fatalf("a's directory still holds %v, %v after b's retention dropped the last reference", names, err)
	}
	m2, err := cb.Load(ctx, 2)
	must(t, err)
	y, yv := newClaimBackend(t, keyed(m2), cb.Reader(), true)
	checkGroups(t, y, yv, groups, 100, "three", map[int]string{0: "two"})
}

// TestClaimNativeSavepoint: a native savepoint inside the checkpoint storage, claimed, has its
// files reused by the first checkpoint (adopted from the savepoint's directory) and is deleted
// but for them once subsumed; the same savepoint restored without a claim but with Claim set
// (a misuse: its paths are relative to its own directory) has nothing reused.
func TestClaimNativeSavepoint(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	b0, v0 := newClaimBackend(t, nil, nil, false)
	for _, kg := range []int{0, 1, 2} {
		writeCompacted(t, b0, v0, kg, "one")
	}
	sp := nativeSavepoint(t, []*subtask{{b: b0}}, root+"/savepoints/sp", 1)
	if !sp[0].Incremental.Savepoint || len(sp[0].Incremental.Shared) == 0 {
		t.Fatalf("not a native savepoint with shared files: %+v", sp[0].Incremental)
	}

	// Restored without a claim but with Claim set: nothing is reused.
	hs, r := loadSavepoint(t, root+"/savepoints/sp")
	j := newJob(t, 1)
	x, xv := newClaimBackend(t, hs, r, true)
	writeGroup(t, x, xv, 9, 10, "two")
	for _, f := range j.checkpoint(t, x, 1, true).Incremental.Shared {
		for _, g := range sp[0].Incremental.Shared {
			if f.Path == g.Path {
				t.Fatalf("an unclaimed savepoint's file %s is referenced under its own path", f.Path)
			}
		}
	}

	st, err := blobstore.OpenURL(ctx, "file://"+root)
	must(t, err)
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{NumRetained: 1})
	must(t, err)
	m, mr, err := cps.ClaimSavepoint(ctx, "savepoints/sp")
	must(t, err)
	y, yv := newClaimBackend(t, keyed(m), mr, true)
	writeGroup(t, y, yv, 9, 10, "two")
	h := (&job{ctx: ctx, st: st, cps: cps}).checkpoint(t, y, 1, true)
	var adopted []string
	for _, f := range h.Incremental.Shared {
		if rest, ok := snapshot.AdoptedRoot(f.Path); ok {
			adopted = append(adopted, rest)
		}
	}
	if len(adopted) != len(sp[0].Incremental.Shared) || len(h.Incremental.Shared) != len(adopted)+1 {
		t.Fatalf("the first checkpoint after claiming the savepoint references %d adopted files of %d and %d files in all; want all of them and one new",
			len(adopted), len(sp[0].Incremental.Shared), len(h.Incremental.Shared))
	}
	left, err := st.List(ctx, "savepoints/")
	must(t, err)
	slices.Sort(left)
	slices.Sort(adopted)
	if !slices.Equal(left, adopted) {
		t.Fatalf("the claimed savepoint's directory holds %v after it was subsumed; want only the referenced %v", left, adopted)
	}
	mb, err := cps.Load(ctx, 1)
	must(t, err)
	z, zv := newClaimBackend(t, keyed(mb), cps.Reader(), true)
	checkGroups(t, z, zv, []int{0, 1, 2}, 100, "one", nil)
}

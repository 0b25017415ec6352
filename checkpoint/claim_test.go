package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// clFile writes one file of content through create and returns it as an incremental file.
func clFile(t *testing.T, create func(context.Context, string) (snapshot.OutputStream, error), name string) snapshot.IncrementalFile {
	t.Helper()
	w, err := create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("content of " + name)); err != nil {
		t.Fatal(err)
	}
	ref, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return snapshot.IncrementalFile{Name: name, Path: ref.Path, Size: ref.Size, SHA256: ref.SHA256}
}

// clTake completes checkpoint id of c: one incremental handle whose shared files are reuse
// (as given) and new uploads named fresh, and a private MANIFEST.
func clTake(t *testing.T, c *checkpoint.Checkpoints, id int64, reuse []snapshot.IncrementalFile, fresh ...string) *snapshot.KeyedStateHandle {
	t.Helper()
	p, err := c.Begin(id)
	if err != nil {
		t.Fatal(err)
	}
	ih := &snapshot.IncrementalHandle{Backend: "test", Shared: append([]snapshot.IncrementalFile(nil), reuse...)}
	for _, n := range fresh {
		ih.Shared = append(ih.Shared, clFile(t, p.CreateShared, n))
	}
	ih.Private = []snapshot.IncrementalFile{clFile(t, p.Create, fmt.Sprintf("MANIFEST-%d", id))}
	h := &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 0, End: cpMaxP - 1}, KeySerializer: "k", States: cpStates, Incremental: ih}
	if err := p.Complete(context.Background(), cpMetadata(cpMaxP, h)); err != nil {
		t.Fatalf("complete checkpoint %d: %v", id, err)
	}
	return h
}

// clShared returns the shared files of m's handle named names (all if none are named).
func clShared(t *testing.T, m *snapshot.Metadata, names ...string) []snapshot.IncrementalFile {
	t.Helper()
	var out []snapshot.IncrementalFile
	for _, f := range m.Operators[0].Keyed[0].Incremental.Shared {
		if len(names) == 0 || strings.HasPrefix(f.Name, names[0]) || (len(names) > 1 && strings.HasPrefix(f.Name, names[1])) {
			out = append(out, f)
		}
	}
	return out
}

// clSnapshotBytes returns every object under prefix with its bytes.
func clSnapshotBytes(t *testing.T, st checkpoint.Storage, prefix string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range cpList(t, st, prefix) {
		out[n] = readAll(t, st, n)
	}
	return out
}

// TestClaimCheckpointDeletedOnceSubsumed: job b claims checkpoint 1 of job a. The claimed
// checkpoint counts as b's oldest retained checkpoint: it goes (metadata, private files and
// the shared files no retained checkpoint of b references) once b has NumRetained checkpoints
// of its own, and never while it is retained; the shared files b's checkpoints reference
// stay until b's retention drops the last of them.
func TestClaimCheckpointDeletedOnceSubsumed(t *testing.T) {
	for _, retained := range []int{1, 2} {
		t.Run(fmt.Sprintf("retained=%d", retained), func(t *testing.T) {
			ctx := context.Background()
			st := cpMem(t)
			a, _ := cpOpen(t, st, "a", 1)
			clTake(t, a, 7, nil, "A", "B")
			aFiles := cpList(t, st, "a/")
			b, _ := cpOpen(t, st, "b", retained)
			orig, _, err := checkpoint.LoadCheckpoint(ctx, st, "a", 7)
			if err != nil {
				t.Fatal(err)
			}
			m, r, err := b.ClaimCheckpoint(ctx, "a", 7)
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range m.Files() {
				o := orig.Files()[i]
				if strings.HasPrefix(o.Path, "shared/") != (f.Path != o.Path) || (f.Path != o.Path && f.Path != "../a/"+o.Path) {
					t.Fatalf("claimed file %s as %s: want shared files, and only they, adopted from ../a/", o.Path, f.Path)
				}
				got, err := r.ReadRange(ctx, f.Path, 0, f.Size)
				if err != nil {
					t.Fatal(err)
				}
				if want := readAll(t, st, "a/"+o.Path); !bytes.Equal(got, want) {
					t.Fatalf("the claim's Reader reads %s as %q, want %q", f.Path, got, want)
				}
			}
			if _, _, err := b.ClaimCheckpoint(ctx, "a", 7); err == nil {
				t.Fatal("a second claim succeeded")
			}
			A := clShared(t, m, "A")
			var ids []int64
			take := func(id int64, reuse []snapshot.IncrementalFile, fresh ...string) {
				clTake(t, b, id, reuse, fresh...)
				ids = append(ids, id)
			}
			take(1, A, "C")
			if retained == 2 {
				// The claimed checkpoint is one of the two retained: untouched.
				cpExpectFiles(t, st, "a/", aFiles...)
				if b.Claimed() != "a/chk-7/" {
					t.Fatalf("Claimed() = %q, want a/chk-7/", b.Claimed())
				}
				take(2, A)
			}
			// Subsumed: a's metadata and private file are gone, and B, which nothing of b
			// references; A stays.
			cpExpectFiles(t, st, "a/", "a/shared/"+strings.TrimPrefix(A[0].Path, "../a/shared/"))
			if b.Claimed() != "" {
				t.Fatalf("Claimed() = %q after the claimed checkpoint was deleted", b.Claimed())
			}
			if _, err := b.Load(ctx, ids[len(ids)-1]); err != nil {
				t.Fatalf("b's latest checkpoint does not load: %v", err)
			}
			// Checkpoints without A: it goes with the last retained checkpoint referencing it.
			for k := 1; k <= retained; k++ {
				take(ids[len(ids)-1]+1, nil, fmt.Sprintf("D%d", k))
				if k < retained && len(cpList(t, st, "a/")) == 0 {
					t.Fatalf("A deleted while checkpoint %d of b, retained, still references it", ids[len(ids)-retained])
				}
			}
			cpExpectFiles(t, st, "a/")
		})
	}
}

// TestClaimSavepoint: a savepoint inside the checkpoint storage is claimed and deleted once
// subsumed, but for the shared file b's checkpoint references.
func TestClaimSavepoint(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	// A savepoint written as BeginSavepoint writes one, under savepoints/sp-1/.
	spFiles := map[string]snapshot.IncrementalFile{}
	for _, n := range []string{"shared/X", "shared/Y", "MANIFEST-1"} {
		data := []byte("content of " + n)
		putObject(t, st, "savepoints/sp-1/"+n, data)
		spFiles[n] = snapshot.IncrementalFile{Name: strings.TrimPrefix(n, "shared/"), Path: n, Size: int64(len(data)), SHA256: snapshot.Checksum(data)}
	}
	h := &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 0, End: cpMaxP - 1}, KeySerializer: "k", States: cpStates,
		Incremental: &snapshot.IncrementalHandle{Backend: "test", Savepoint: true, Shared: []snapshot.IncrementalFile{spFiles["shared/X"], spFiles["shared/Y"]},
			Private: []snapshot.IncrementalFile{spFiles["MANIFEST-1"]}}}
	sm := cpMetadata(cpMaxP, h)
	sm.Savepoint, sm.JobID, sm.CheckpointID = true, "old", 3
	enc, err := snapshot.EncodeMetadata(sm)
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, st, "savepoints/sp-1/_metadata", enc)

	b, _ := cpOpen(t, st, "b", 1)
	m, _, err := b.ClaimSavepoint(ctx, "savepoints/sp-1")
	if err != nil {
		t.Fatal(err)
	}
	X := clShared(t, m, "X")
	if len(X) != 1 || X[0].Path != "../savepoints/sp-1/shared/X" {
		t.Fatalf("claimed shared file X: %+v, want path ../savepoints/sp-1/shared/X", X)
	}
	clTake(t, b, 1, X, "Z")
	cpExpectFiles(t, st, "savepoints/", "savepoints/sp-1/shared/X")
	clTake(t, b, 2, nil, "W")
	cpExpectFiles(t, st, "savepoints/")
}

// TestNoClaimLeavesSnapshotByteIdentical: a job restored from another job's checkpoint
// without claiming it (LoadCheckpoint, Flink's NO_CLAIM) never modifies or deletes it, however
// many checkpoints it takes.
func TestNoClaimLeavesSnapshotByteIdentical(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	a, _ := cpOpen(t, st, "a", 1)
	clTake(t, a, 4, nil, "A", "B")
	before := clSnapshotBytes(t, st, "a/")
	m, r, err := checkpoint.LoadCheckpoint(ctx, st, "a", 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files() {
		if _, err := r.ReadRange(ctx, f.Path, 0, f.Size); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := cpOpen(t, st, "b", 1)
	for id := int64(1); id <= 3; id++ {
		clTake(t, b, id, nil, fmt.Sprintf("N%d", id))
	}
	after := clSnapshotBytes(t, st, "a/")
	if len(after) != len(before) {
		t.Fatalf("a's checkpoint holds %d files after b ran, %d before", len(after), len(before))
	}
	for n, data := range before {
		if !bytes.Equal(after[n], data) {
			t.Fatalf("%s changed or vanished", n)
		}
	}
}

// TestClaimRefusesBadLocations: what cannot be claimed fails at once, naming why.
func TestClaimRefusesBadLocations(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	b, _ := cpOpen(t, st, "b", 1)
	for _, dir := range []string{"", ".", "..", "../x", "x/../../y", "x//y", `x\y`, "b/sp"} {
		if _, _, err := b.ClaimSavepoint(ctx, dir); err == nil {
			t.Errorf("ClaimSavepoint(%q) succeeded", dir)
		}
	}
	for _, job := range []string{"", "..", "x/y"} {
		if _, _, err := b.ClaimCheckpoint(ctx, job, 1); err == nil {
			t.Errorf("ClaimCheckpoint(%q) succeeded", job)
		}
	}
	if _, _, err := b.ClaimCheckpoint(ctx, "missing", 1); !errors.Is(err, snapshot.ErrMissing) {
		t.Errorf("ClaimCheckpoint of a missing checkpoint: %v, want ErrMissing", err)
	}
	// A reader of savepoint paths (no job directory) refuses adopted paths: they would leave
	// the savepoint's directory.
	if _, err := checkpoint.NewReader(st, "").ReadRange(ctx, "../a/shared/x", 0, 1); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("a savepoint reader read an adopted path: %v, want ErrCorrupt", err)
	}
}

// TestClaimSurvivesRestart: a job that stops after its first checkpoint but before deleting
// the snapshot it claimed (the checkpoint records it) deletes it after a restart, once
// subsumed, also when the stop came halfway through the deletion (metadata gone, files left).
func TestClaimSurvivesRestart(t *testing.T) {
	for _, halfway := range []bool{false, true} {
		t.Run(fmt.Sprintf("halfway=%v", halfway), func(t *testing.T) {
			ctx := context.Background()
			st := cpMem(t)
			a, _ := cpOpen(t, st, "a", 1)
			clTake(t, a, 7, nil, "A", "B")
			b, _ := cpOpen(t, st, "b", 1)
			m, _, err := b.ClaimCheckpoint(ctx, "a", 7)
			if err != nil {
				t.Fatal(err)
			}
			// Checkpoint 1 of b commits its metadata, and the process stops before retention.
			p, err := b.Begin(1)
			if err != nil {
				t.Fatal(err)
			}
			ih := &snapshot.IncrementalHandle{Backend: "test", Shared: clShared(t, m, "A"),
				Private: []snapshot.IncrementalFile{clFile(t, p.Create, "MANIFEST-1")}}
			h := &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 0, End: cpMaxP - 1}, KeySerializer: "k", States: cpStates, Incremental: ih}
			if err := p.CommitMetadata(ctx, cpMetadata(cpMaxP, h)); err != nil {
				t.Fatal(err)
			}
			if halfway {
				if err := st.Delete(ctx, "a/chk-7/_metadata"); err != nil {
					t.Fatal(err)
				}
			}
			b2, _ := cpOpen(t, st, "b", 1)
			if b2.Claimed() != "a/chk-7/" {
				t.Fatalf("after the restart Claimed() = %q, want a/chk-7/", b2.Claimed())
			}
			clTake(t, b2, 2, clShared(t, m, "A"))
			want := []string{"a/shared/" + strings.TrimPrefix(clShared(t, m, "A")[0].Path, "../a/shared/")}
			if halfway { // B was named only by the lost metadata
				want = append(want, "a/shared/"+strings.TrimPrefix(clShared(t, m, "B")[0].Path, "../a/shared/"))
			}
			cpExpectFiles(t, st, "a/", want...)
			if b2.Claimed() != "" {
				t.Fatalf("Claimed() = %q after the deletion", b2.Claimed())
			}
			// The next checkpoint no longer records it.
			clTake(t, b2, 3, clShared(t, m, "A"))
			b3, _ := cpOpen(t, st, "b", 1)
			if b3.Claimed() != "" {
				t.Fatalf("a restart after the deletion claims %q again", b3.Claimed())
			}
		})
	}
}

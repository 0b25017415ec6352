package checkpoint_test

import (
	"context"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// TestClaimRecoverNeverDeletesAJobDirectory: Metadata.Claimed is read from storage
// (untrusted). A latest checkpoint of job b whose Claimed names the whole directory of job
// victim ("victim/", which decodes: a clean path outside b's directory), or the whole
// savepoints/ directory, must not make b's next retention delete the checkpoints or savepoints
// kept there: a claimed snapshot is a checkpoint directory <job>/chk-<n>/ or a savepoint
// directory holding its _metadata, never a directory of such snapshots.
func TestClaimRecoverNeverDeletesAJobDirectory(t *testing.T) {
	for _, claimed := range []string{"victim/", "savepoints/"} {
		t.Run(claimed, func(t *testing.T) {
			ctx := context.Background()
			st := cpMem(t)
			v, _ := cpOpen(t, st, "victim", 1)
			clTake(t, v, 3, nil, "V")
			putObject(t, st, "savepoints/sp-1/_metadata", []byte("a savepoint of some job"))
			before := cpList(t, st, claimed)

			b, _ := cpOpen(t, st, "b", 1)
			clTake(t, b, 1, nil, "B1")
			m, err := b.Load(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			m.Claimed = claimed
			enc, err := snapshot.EncodeMetadata(m)
			if err != nil {
				t.Skipf("metadata with Claimed %q is refused when encoded: %v", claimed, err)
			}
			if _, err := snapshot.DecodeMetadata("b/chk-1/_metadata", enc); err != nil {
				return // refused as corrupt: nothing is claimed
			}
			putObject(t, st, "b/chk-1/_metadata", enc)

			b2, _ := cpOpen(t, st, "b", 1)
			clTake(t, b2, 2, nil, "B2")
			clTake(t, b2, 3, nil, "B3")
			if after := cpList(t, st, claimed); len(after) != len(before) {
				t.Fatalf("Claimed %q in b's metadata: %s held %v, now %v", claimed, claimed, before, after)
			}
		})
	}
}

// TestClaimRecoverSavepointNamedLikeACheckpoint: a claimed savepoint whose directory happens
// to look like a checkpoint's (sps/chk-5/) is taken back after a restart as the savepoint it
// is: its paths are relative to its own directory, so retention deletes its files and never
// sps/shared/X, a file of the same relative path one level up.
func TestClaimRecoverSavepointNamedLikeACheckpoint(t *testing.T) {
	ctx := context.Background()
	st := cpMem(t)
	var files []snapshot.IncrementalFile
	for _, n := range []string{"shared/X", "MANIFEST-1"} {
		data := []byte("content of " + n)
		putObject(t, st, "sps/chk-5/"+n, data)
		files = append(files, snapshot.IncrementalFile{Name: strings.TrimPrefix(n, "shared/"), Path: n, Size: int64(len(data)), SHA256: snapshot.Checksum(data)})
	}
	putObject(t, st, "sps/shared/X", []byte("someone else's file"))
	h := &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 0, End: cpMaxP - 1}, KeySerializer: "k", States: cpStates,
		Incremental: &snapshot.IncrementalHandle{Backend: "test", Savepoint: true, Shared: files[:1], Private: files[1:]}}
	sm := cpMetadata(cpMaxP, h)
	sm.Savepoint, sm.JobID, sm.CheckpointID = true, "old", 5
	enc, err := snapshot.EncodeMetadata(sm)
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, st, "sps/chk-5/_metadata", enc)

	b, _ := cpOpen(t, st, "b", 1)
	if _, _, err := b.ClaimSavepoint(ctx, "sps/chk-5"); err != nil {
		t.Fatal(err)
	}
	// Checkpoint 1 of b commits its metadata, and the process stops before retention.
	p, err := b.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	ih := &snapshot.IncrementalHandle{Backend: "test", Private: []snapshot.IncrementalFile{clFile(t, p.Create, "MANIFEST-1")}}
	if err := p.CommitMetadata(ctx, cpMetadata(cpMaxP, &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 0, End: cpMaxP - 1},
		KeySerializer: "k", States: cpStates, Incremental: ih})); err != nil {
		t.Fatal(err)
	}
	b2, _ := cpOpen(t, st, "b", 1)
	if b2.Claimed() != "sps/chk-5/" {
		t.Fatalf("after the restart Claimed() = %q, want sps/chk-5/", b2.Claimed())
	}
	clTake(t, b2, 2, nil, "Z")
	cpExpectFiles(t, st, "sps/", "sps/shared/X")
}

package checkpoint_test

import (
	"context"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
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

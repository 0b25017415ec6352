package heap_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// TestLocalRecoveryRestore: a hashmap checkpoint restores from the verified local copy of its
// snapshot file without reading storage, and from storage when the local copy is damaged.
func TestLocalRecoveryRestore(t *testing.T) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fst := checkpointtest.NewFaultStorage(st)
	cps, err := checkpoint.Open(ctx, fst, "job", checkpoint.Options{LocalRecovery: true, LocalDirs: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("local recovery ", 1000)
	h := checkpointText(t, cps, 1, text)
	restore := func() checkpoint.RestoreStats {
		t.Helper()
		fst.ResetCounts()
		var stats checkpoint.RestoreStats
		_, err := cps.Restore(ctx, func(m *snapshot.Metadata) error {
			r := cps.RestoreReader(m)
			b, err := heap.New(ctx, heapOpts(m.Operators[0].Keyed, r))
			if err != nil {
				return err
			}
			defer b.Close()
			kb, _ := state.NewKeyedBackend[int64](b, serde.Int64{})
			v, err := state.GetValueState(kb, state.ValueDescriptor[string]{Name: "value", Serializer: sameIDText{}})
			if err != nil {
				return err
			}
			if err := kb.SetCurrentKey(1); err != nil {
				return err
			}
			if got, _, err := v.Value(); err != nil || got != text {
				t.Fatalf("restored %.20q..., %v", got, err)
			}
			stats = r.Stats()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return stats
	}
	if s := restore(); s.LocalFiles != 1 || s.LocalBytes != h.File.Size || s.RemoteFiles != 0 {
		t.Fatalf("stats %+v, want the snapshot file from the local copy", s)
	}
	if n := fst.Reads("job/" + h.File.Path).Calls; n != 0 {
		t.Fatalf("read the snapshot file from storage %d times although its local copy is intact", n)
	}
	_, roots := cps.LocalRecovery()
	local := filepath.Join(roots[0], filepath.FromSlash(h.File.Path))
	b, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(local, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if s := restore(); s.LocalFiles != 0 || s.RemoteFiles != 1 || s.Mismatched != 1 {
		t.Fatalf("stats %+v, want the damaged local copy passed over", s)
	}
	if fst.Reads("job/"+h.File.Path).Calls == 0 {
		t.Fatal("the snapshot file was not read from storage although its local copy is damaged")
	}
}

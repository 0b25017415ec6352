package lsm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// The golden incremental checkpoints under testdata/incremental-v<N> were written by the code
// of metadata format N: job "golden", two retained checkpoints of one lsm backend with heap
// timers, the second reusing an SST of the first. Checkpoint 2 holds keys 0..99 = k, keys
// 100..149 = 2k and one timer. incremental-v1 was written before files had checksums (commit
// 05f3bdc); STREAMSTATE_WRITE_GOLDEN=1 go test -run TestWriteGoldenIncremental ./backend/lsm/
// writes the one of the current format if it does not exist yet.

// TestWriteGoldenIncremental writes testdata/incremental-v<MetadataVersion> when
// STREAMSTATE_WRITE_GOLDEN is set and it does not exist.
func TestWriteGoldenIncremental(t *testing.T) {
	if os.Getenv("STREAMSTATE_WRITE_GOLDEN") == "" {
		t.Skip("set STREAMSTATE_WRITE_GOLDEN=1 to write the golden checkpoint of the current format")
	}
	dir, err := filepath.Abs(fmt.Sprintf("testdata/incremental-v%d", snapshot.MetadataVersion))
	must(t, err)
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists; a golden checkpoint is never rewritten", dir)
	}
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+filepath.ToSlash(dir))
	must(t, err)
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "golden", checkpoint.Options{NumRetained: 2})
	must(t, err)
	j := &job{ctx: ctx, st: st, cps: cps}
	b, err := lsm.New(ctx, lsm.Options{Options: integrityOptions(nil, nil), Dir: t.TempDir(), Incremental: true,
		TimerService: lsm.TimerServiceHeap})
	must(t, err)
	defer b.Close()
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	q, err := b.CreateTimerQueue("timers")
	must(t, err)
	for k := int64(0); k < 100; k++ {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
	}
	must(t, kb.SetCurrentKey(7))
	key, kg, _ := kb.CurrentKeyBytes()
	_, err = q.Add(kg, backend.Timer{Timestamp: 1000, Key: slices.Clone(key), Namespace: []byte("w")})
	must(t, err)
	j.checkpoint(t, b, 1, true)
	for k := int64(100); k < 150; k++ {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k*2))
	}
	j.checkpoint(t, b, 2, true)
}

// TestGoldenIncremental restores the latest golden incremental checkpoint of every metadata
// format and checks its state; Check finds every file intact (verified by checksum from
// format 2 on).
func TestGoldenIncremental(t *testing.T) {
	for _, ver := range []int{snapshot.MetadataVersionNoChecksums, snapshot.MetadataVersion} {
		t.Run(fmt.Sprintf("v%d", ver), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			must(t, os.CopyFS(dir, os.DirFS(filepath.Join("testdata", fmt.Sprintf("incremental-v%d", ver)))))
			st, err := blobstore.OpenURL(ctx, "file://"+filepath.ToSlash(dir))
			must(t, err)
			defer st.Close()
			cps, err := checkpoint.Open(ctx, st, "golden", checkpoint.Options{NumRetained: 2})
			must(t, err)
			var b *lsm.Backend
			m, err := cps.Restore(ctx, func(m *snapshot.Metadata) error {
				b, err = lsm.New(ctx, lsm.Options{Options: integrityOptions(m.Operators[0].Keyed, cps.Reader()),
					Dir: t.TempDir(), Incremental: true, TimerService: lsm.TimerServiceHeap})
				return err
			})
			must(t, err)
			defer b.Close()
			if m.CheckpointID != 2 || m.Version != ver {
				t.Fatalf("restored checkpoint %d of format %d, want checkpoint 2 of format %d", m.CheckpointID, m.Version, ver)
			}
			kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
			must(t, err)
			v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
			must(t, err)
			for k := int64(0); k < 160; k++ {
				want, present := k, k < 150
				if k >= 100 {
					want = 2 * k
				}
				must(t, kb.SetCurrentKey(k))
				got, ok, err := v.Value()
				must(t, err)
				if ok != present || (ok && got != want) {
					t.Fatalf("key %d = %d, %v; want %d, %v", k, got, ok, want, present)
				}
			}
			q, err := b.CreateTimerQueue("timers")
			must(t, err)
			if q.Len() != 1 {
				t.Fatalf("%d timers, want 1", q.Len())
			}
			rep, err := checkpoint.Check(ctx, st, "golden/", m)
			must(t, err)
			wantUnverified := 0
			if ver == snapshot.MetadataVersionNoChecksums {
				wantUnverified = rep.Files
			}
			if !rep.OK() || rep.Unverified != wantUnverified {
				t.Fatalf("Check: %+v; want OK with %d unverified files", rep, wantUnverified)
			}
		})
	}
}

package stream

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
)

// claimRecorder is a state backend that records the Claim of every keyed backend it creates.
type claimRecorder struct {
	backend.StateBackend
	mu     sync.Mutex
	claims []bool
}

func (r *claimRecorder) CreateKeyedBackend(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
	r.mu.Lock()
	r.claims = append(r.claims, opts.Claim)
	r.mu.Unlock()
	return r.StateBackend.CreateKeyedBackend(ctx, opts)
}

// TestRestoreClaimReachesBackends: a resume from the job's own checkpoints (Restore.Latest)
// always lets the backends reuse the restored files (Flink's failover); a restore from a
// given snapshot does so only with Restore.Claim; Claim without a snapshot or checkpoints
// is refused.
func TestRestoreClaimReachesBackends(t *testing.T) {
	evs := testEvents(3000, 20)
	out, cpDir := t.TempDir(), t.TempDir()
	crashAfterCheckpoints(t, evs, out, openCheckpoints(t, cpDir))
	run := func(r Restore) []bool {
		t.Helper()
		rec := &claimRecorder{StateBackend: heapBackend}
		cps := openCheckpoints(t, cpDir)
		if r.Metadata == nil && !r.Latest {
			ids, err := cps.Completed(context.Background())
			if err != nil || len(ids) == 0 {
				t.Fatalf("completed checkpoints %v, %v", ids, err)
			}
			m, err := cps.Load(context.Background(), ids[len(ids)-1])
			if err != nil {
				t.Fatal(err)
			}
			r.Metadata, r.Reader = m, cps.Reader()
		}
		j, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, out), Options{StateBackend: rec, Parallelism: 2,
			Checkpoints: cps, Checkpointing: CheckpointConfig{Interval: time.Hour}, Restore: r})
		if err != nil {
			t.Fatal(err)
		}
		j.Cancel()
		j.Wait()
		if j.Restored() == nil {
			t.Fatal("nothing was restored")
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.claims
	}
	all := func(claims []bool, want bool) bool {
		for _, c := range claims {
			if c != want {
				return false
			}
		}
		return len(claims) > 0
	}
	if c := run(Restore{Latest: true}); !all(c, true) {
		t.Errorf("resume: Claim %v, want true for every keyed backend", c)
	}
	if c := run(Restore{}); !all(c, false) {
		t.Errorf("no-claim restore: Claim %v, want false for every keyed backend", c)
	}
	if c := run(Restore{Claim: true}); !all(c, true) {
		t.Errorf("claim restore: Claim %v, want true for every keyed backend", c)
	}
	_, err := Execute(context.Background(), sumGraph(&sliceSource{events: evs, splits: 4}, t.TempDir()), Options{StateBackend: heapBackend,
		Restore: Restore{Claim: true}})
	if err == nil || !strings.Contains(err.Error(), "ClaimCheckpoint") {
		t.Errorf("Claim without a snapshot: %v, want an error naming ClaimCheckpoint", err)
	}
}

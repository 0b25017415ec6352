package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// afterRestore is --after-restore. From the last checkpoint (last) the same share of keys
// changes three times, the same keys each time, and one checkpoint is taken after each: the
// job going on (checkpoint last+1, no restore), a new job in the same storage restored from
// checkpoint last in no-claim mode, and one restored in claim mode (Flink's
// execution.state-recovery.claim-mode). The no-claim row is what every first checkpoint after
// a restore cost before claim mode (everything); the claim row should cost what the job
// going on pays (the files written since, and the compactions the restored database runs,
// which the job's own database runs too). The claim restore goes last: it takes the
// checkpoint over, and the claiming job's retention deletes it once subsumed. The job's
// checkpoints keep one more than --retained, so that checkpoint last outlives last+1.
func (c *benchCheckpointCmd) afterRestore(ctx context.Context, be backend.Keyed, cps *checkpoint.Checkpoints, st *countingStorage, last int64, changed int) ([]benchCheckpointResult, error) {
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(c.Seed, 0xaf7e4)) }
	goesOn, err := c.changeAndCheckpoint(ctx, be, cps, st, last+1, changed, rng())
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", last+1, err)
	}
	goesOn.AfterRestore = "no"
	out := []benchCheckpointResult{goesOn}
	for _, claim := range []bool{false, true} {
		mode := map[bool]string{false: "no-claim", true: "claim"}[claim]
		job := benchCheckpointJob + "-" + mode
		cps, err := checkpoint.Open(ctx, st, job, checkpoint.Options{NumRetained: c.Retained})
		if err != nil {
			return nil, err
		}
		var m *snapshot.Metadata
		var r snapshot.Reader
		if claim {
			m, r, err = cps.ClaimCheckpoint(ctx, benchCheckpointJob, last)
		} else {
			m, r, err = checkpoint.LoadCheckpoint(ctx, st, benchCheckpointJob, last)
		}
		if err != nil {
			return nil, fmt.Errorf("%s restore of checkpoint %d: %w", mode, last, err)
		}
		opts := c.backendOptions()
		opts.Restore, opts.Reader, opts.Claim = m.Operators[0].Keyed, r, claim
		start := time.Now()
		rb, err := newBackend(ctx, c.Backend, c.Incremental, opts)
		if err != nil {
			return nil, fmt.Errorf("%s restore of checkpoint %d: %w", mode, last, err)
		}
		restore := time.Since(start)
		if err := settle(ctx, rb); err != nil {
			rb.Close()
			return nil, err
		}
		res, err := c.changeAndCheckpoint(ctx, rb, cps, st, 1, changed, rng())
		if cerr := rb.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("first checkpoint after the %s restore: %w", mode, err)
		}
		res.AfterRestore, res.RestoreMs = mode, benchMs(restore)
		out = append(out, res)
	}
	return out, nil
}

// changeAndCheckpoint updates n keys of be's value state, picked by rng, and takes
// checkpoint id of cps.
func (c *benchCheckpointCmd) changeAndCheckpoint(ctx context.Context, be backend.Keyed, cps *checkpoint.Checkpoints, st *countingStorage, id int64, n int, rng *rand.Rand) (benchCheckpointResult, error) {
	kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
	if err != nil {
		return benchCheckpointResult{}, err
	}
	vs, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "value"})
	if err != nil {
		return benchCheckpointResult{}, err
	}
	val := make([]byte, c.ValueSize)
	for j := range n {
		if err := preloadStep(ctx, int64(j)); err != nil {
			return benchCheckpointResult{}, err
		}
		k := rng.Int64N(int64(c.Keys))
		if err := kb.SetCurrentKey(k); err != nil {
			return benchCheckpointResult{}, err
		}
		binary.BigEndian.PutUint64(val, uint64(k))
		binary.BigEndian.PutUint64(val[len(val)-8:], ^uint64(j))
		if err := vs.Update(val); err != nil {
			return benchCheckpointResult{}, err
		}
	}
	r, err := c.checkpointOnce(ctx, be, cps, st, id, backend.SnapshotOptions{})
	r.Keys, r.Changed = c.Keys, n
	return r, err
}

// settle waits until the lsm backend be runs no compaction and has picked none for 100 ms
// (Pebble's metrics, five looks 20 ms apart), at most a minute: with --after-restore every
// checkpoint is followed by it, so that each row measures a database as a job with a
// checkpoint interval longer than its compactions has it, and a restored database does not
// start by running compactions its checkpoint's database had already run (they would count
// against the first checkpoint after the restore). Pebble's estimated compaction debt is not
// waited for: it stays above zero on larger databases while no compaction is due.
func settle(ctx context.Context, be backend.Keyed) error {
	lb, ok := be.(*lsm.Backend)
	if !ok {
		return nil
	}
	deadline := time.Now().Add(time.Minute)
	for quiet := 0; quiet < 5 && time.Now().Before(deadline); {
		m, ok := lb.Metrics()
		if !ok {
			return nil
		}
		if m.Compact.NumInProgress == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/cmd/streamstate/internal/bench"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// kind names what a checkpoint wrote: "full", "base" or "delta n" of a hashmap chain, or
// "incremental" (lsm).
func (r benchCheckpointResult) kind() string {
	switch {
	case r.Full || !r.Incremental:
		return "full"
	case r.Chain == 1:
		return "base"
	case r.Chain > 1:
		return fmt.Sprintf("delta %d", r.Chain-1)
	}
	return "incremental"
}

// benchCheckpointSummary is the last line of an --incremental run's --json output: the
// incremental checkpoints after the first against the full checkpoint of the same state, all
// in the same run.
type benchCheckpointSummary struct {
	// Increments is the number of incremental checkpoints after the first (which writes
	// everything); the means are over them.
	Increments     int     `json:"increments"`
	MeanBytes      float64 `json:"mean_incremental_bytes"`
	FullBytes      int64   `json:"full_bytes"`
	BytesRatio     float64 `json:"bytes_ratio"`
	MeanSyncMs     float64 `json:"mean_incremental_sync_ms"`
	FullSyncMs     float64 `json:"full_sync_ms"`
	LastChain      int     `json:"last_chain,omitempty"`
	RestoreLastMs  float64 `json:"restore_last_ms"`
	RestoreFullMs  float64 `json:"restore_full_ms"`
	RestoreRatio   float64 `json:"restore_ratio"`
	FullCheckpoint int64   `json:"full_checkpoint"`
}

// benchRestoreRounds is how many times compareFull restores each checkpoint.
const benchRestoreRounds = 3

// compareFull ends an --incremental run: it takes a full checkpoint of the same state (the
// canonical format, as a savepoint writes it, into the checkpoint storage), restores it and
// the last incremental checkpoint into new backends, alternately, benchRestoreRounds times,
// and prints the ratios of bytes, synchronous phases and the fastest restore times. The last
// incremental checkpoint must still be retained after the full one completes (--retained 2,
// the default, or more). A restore is timed from the backend's
// creation to the registration of the state, which decodes the hashmap backend's records.
func (c *benchCheckpointCmd) compareFull(ctx context.Context, e *env, be backend.Keyed, cps *checkpoint.Checkpoints,
	st *countingStorage, last int64, results []benchCheckpointResult) error {
	id := last + 1
	r, err := c.checkpointOnce(ctx, be, cps, st, id, backend.SnapshotOptions{Savepoint: true})
	if err != nil {
		return fmt.Errorf("full checkpoint %d: %w", id, err)
	}
	r.Keys, r.Full = c.Keys, true
	// The restores alternate, the fastest of benchRestoreRounds each: the machine's noise
	// (other processes, the garbage collector) only ever adds time.
	var restoreLast, restoreFull time.Duration
	for range benchRestoreRounds {
		for _, x := range []struct {
			id   int64
			best *time.Duration
		}{{last, &restoreLast}, {id, &restoreFull}} {
			d, err := c.timeRestore(ctx, cps, x.id)
			if err != nil {
				return fmt.Errorf("restore checkpoint %d: %w", x.id, err)
			}
			if *x.best == 0 || d < *x.best {
				*x.best = d
			}
		}
	}
	sum := benchCheckpointSummary{FullBytes: r.BytesWritten, FullSyncMs: r.SyncMs, FullCheckpoint: id,
		RestoreLastMs: benchMs(restoreLast), RestoreFullMs: benchMs(restoreFull), LastChain: results[len(results)-1].Chain}
	for _, x := range results[1:] {
		sum.Increments++
		sum.MeanBytes += float64(x.BytesWritten)
		sum.MeanSyncMs += x.SyncMs
	}
	if sum.Increments > 0 {
		sum.MeanBytes /= float64(sum.Increments)
		sum.MeanSyncMs /= float64(sum.Increments)
	}
	if sum.FullBytes > 0 {
		sum.BytesRatio = sum.MeanBytes / float64(sum.FullBytes)
	}
	if restoreFull > 0 {
		sum.RestoreRatio = float64(restoreLast) / float64(restoreFull)
	}
	if c.JSON {
		for _, v := range []any{r, sum} {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(e.Out, "%s\n", b); err != nil {
				return err
			}
		}
		return nil
	}
	if err := writeCheckpointTable(e.Out, append(results, r)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.Out, "incremental checkpoints after the first (%d): mean %.0f bytes = %.2f%% of the full checkpoint's %d; mean sync %.3f ms vs full %.3f ms\n"+
		"restore of checkpoint %d (%s): %.1f ms; of the full checkpoint %d: %.1f ms; ratio %.2f\n",
		sum.Increments, sum.MeanBytes, 100*sum.BytesRatio, sum.FullBytes, sum.MeanSyncMs, sum.FullSyncMs,
		last, results[len(results)-1].kind(), sum.RestoreLastMs, id, sum.RestoreFullMs, sum.RestoreRatio)
	return err
}

// timeRestore restores checkpoint id into a new backend of the measured kind and registers
// its state, and returns how long that took.
func (c *benchCheckpointCmd) timeRestore(ctx context.Context, cps *checkpoint.Checkpoints, id int64) (time.Duration, error) {
	md, err := cps.Load(ctx, id)
	if err != nil {
		return 0, err
	}
	o := md.Operator(benchCheckpointJob)
	if o == nil {
		return 0, fmt.Errorf("checkpoint %d has no state of operator %s", id, benchCheckpointJob)
	}
	runtime.GC() // the garbage of earlier work is not the restore's
	start := time.Now()
	b, err := newBackend(ctx, c.Backend, c.Incremental, backend.Options{
		OperatorID:      "bench-checkpoint",
		MaxParallelism:  bench.MaxParallelism,
		KeyGroupRange:   keygroup.RangeFor(bench.MaxParallelism, 1, 0),
		KeySerializerID: serde.Int64{}.ID(),
		Restore:         o.Keyed,
		Reader:          cps.Reader(),
	})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	if err != nil {
		return 0, err
	}
	if _, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "value"}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

package lsm

import (
	"context"
	"errors"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/keygroup"
)

// clip removes every key group outside rng from db with Pebble's Excise (as Flink 1.19+
// clips a RocksDB instance with DeleteFilesInRanges before ingesting): the SSTs wholly
// outside rng leave the database's version at once, and the ones that straddle its bounds
// become virtual SSTs bounded to their part inside rng, which reference the same file.
// Nothing is rewritten and no range deletion is left behind for reads and compactions to
// step over, as a DeleteRange clip would. Metadata records (metaPrefix) lie outside every
// key-group span and stay.
//
// Measured with BenchmarkRescaleRestore and BenchmarkRescaleRestoreScaleOut (docs/benchmarks.md).
func clip(ctx context.Context, db *pebble.DB, rng keygroup.Range) error {
	if rng.Start > 0 {
		if err := exciseIfAny(ctx, db, 0, rng.Start-1); err != nil {
			return err
		}
	}
	if rng.End < keygroup.UpperBoundMaxParallelism-1 {
		if err := exciseIfAny(ctx, db, rng.End+1, keygroup.UpperBoundMaxParallelism-1); err != nil {
			return err
		}
	}
	return nil
}

// exciseIfAny excises the key groups [start, end] from db if it holds a key there. A span
// without keys is left alone: excising it would still cut every SST whose bounds straddle it
// (one holding key groups on both sides, or key groups and the metadata) into virtual SSTs,
// which a restore at the same parallelism, whose spans outside its range are empty, must not
// do to the database it restores (claim mode reuses its files as they are).
func exciseIfAny(ctx context.Context, db *pebble.DB, start, end int) error {
	lo, hi := keyGroupSpan(start, end)
	it, err := db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	found := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	if !found {
		return nil
	}
	return db.Excise(ctx, pebble.KeyRange{Start: lo, End: hi})
}

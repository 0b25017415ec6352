package lsm

import (
	"context"

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
		lo, hi := keyGroupSpan(0, rng.Start-1)
		if err := db.Excise(ctx, pebble.KeyRange{Start: lo, End: hi}); err != nil {
			return err
		}
	}
	if rng.End < keygroup.UpperBoundMaxParallelism-1 {
		lo, hi := keyGroupSpan(rng.End+1, keygroup.UpperBoundMaxParallelism-1)
		if err := db.Excise(ctx, pebble.KeyRange{Start: lo, End: hi}); err != nil {
			return err
		}
	}
	return nil
}

package lsm

import "github.com/streamstate/streamstate/checkpoint/snapshot"

// claim seeds the bookkeeping of incremental checkpoints with the shared files of base, the
// restored handle whose files a restore downloaded into the database directory as they are
// (Backend.restoredBase; nil when none was: a fresh start, or a restore from full snapshots
// only). It is backend.Options.Claim: Flink's claim mode, and a job resuming its own
// checkpoints. The first checkpoint after the restore then references those of them the
// database still holds, under the handle's paths, and uploads only the files written since;
// its private files (MANIFEST, OPTIONS, ...) are uploaded as always. Files of handles imported
// by rewriting their key groups (a restore at another parallelism) are not in the database
// and are not reused. A file recorded without a checksum (metadata format 1) is not reused
// either: the metadata written now records one for every file. Nor is a native savepoint's
// file under its own path (a savepoint restored without a claim).
func (inc *incremental) claim(base *snapshot.IncrementalHandle) {
	if base == nil || base.Backend != HandleBackend {
		return
	}
	inc.mu.Lock()
	defer inc.mu.Unlock()
	for _, f := range base.Shared {
		// A native savepoint's own paths are relative to its directory, not to the job's:
		// only a claim (which rewrites them to the adopted form) makes its files reusable.
		if base.Savepoint && !snapshot.IsAdopted(f.Path) {
			continue
		}
		if f.SHA256 != "" && isShared(f.Name) {
			inc.confirmed[f.Name] = f
		}
	}
}

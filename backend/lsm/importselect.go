package lsm

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// downloadOverlapping downloads into dir the files of another subtask's incremental handle
// that a restore importing the key groups want needs: every file but the SSTs, then only the
// SSTs whose key span overlaps want's or the backend's metadata. A subtask of a scaled-out
// job thus reads its share of another subtask's database, not all of it (as Flink's RocksDB
// restore reads only the SSTs of the handles it clips).
//
// The spans come from the handle's own MANIFEST: the database is opened read-only with an
// empty placeholder for each SST (Pebble's consistency check and table statistics, which
// would read them, off) and DB.SSTables lists every table's smallest and largest key; the
// placeholders of the SSTs needed are then replaced by their downloads. The MANIFEST was
// verified against the checkpoint's checksum like every file, so its spans are the
// checkpoint's. The database the caller then opens (openImported) has only the SSTs
// downloaded; its iterators, bounded to want's key groups and the metadata, never open
// another, and a read that would is an error, never a silent gap.
//
// An import of all of the handle's key groups (have: the handle's range) needs every SST:
// it downloads them all without the extra open.
func (b *Backend) downloadOverlapping(ctx context.Context, ih *snapshot.IncrementalHandle, have, want keygroup.Range, dir string) error {
	if want == have {
		return b.download(ctx, ih, dir)
	}
	var tables, rest []snapshot.IncrementalFile
	for _, f := range append(append([]snapshot.IncrementalFile(nil), ih.Shared...), ih.Private...) {
		if strings.HasSuffix(f.Name, ".sst") {
			tables = append(tables, f)
		} else {
			rest = append(rest, f)
		}
	}
	if err := b.download(ctx, &snapshot.IncrementalHandle{Private: rest}, dir); err != nil {
		return err
	}
	// Pebble knows the objects of a directory by listing it: an empty placeholder stands for
	// each SST not downloaded yet (a read of one fails as a corrupt table, never as no data).
	for _, f := range tables {
		pf, err := b.opts.FS.Create(filepath.Join(dir, f.Name), vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		if err := pf.Close(); err != nil {
			return err
		}
	}
	db, err := b.openImported(dir)
	if err != nil {
		return err
	}
	levels, err := db.SSTables()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &snapshot.FileError{Path: manifestName(ih), Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf("pebble cannot list the tables of the restored database: %v", err)}
	}
	lo, hi := keyGroupSpan(want.Start, want.End)
	metaLo := []byte(metaPrefix)
	metaHi := prefixEnd(metaLo)
	needed := map[uint64]bool{}
	for _, level := range levels {
		for _, t := range level {
			small, large := t.Smallest.UserKey, t.Largest.UserKey
			if overlaps(small, large, lo, hi) || overlaps(small, large, metaLo, metaHi) {
				needed[uint64(t.BackingSSTNum)] = true
			}
		}
	}
	var sel []snapshot.IncrementalFile
	for _, f := range tables {
		n, err := strconv.ParseUint(strings.TrimSuffix(f.Name, ".sst"), 10, 64)
		if err != nil || needed[n] {
			sel = append(sel, f) // a name Pebble does not use: downloaded (and verified) as before
			if err := b.opts.FS.Remove(filepath.Join(dir, f.Name)); err != nil {
				return err
			}
		}
	}
	return b.download(ctx, &snapshot.IncrementalHandle{Shared: sel}, dir)
}

// overlaps reports whether the keys [small, large] (large inclusive, as a table's bounds)
// meet the span [lo, hi).
func overlaps(small, large, lo, hi []byte) bool {
	return bytes.Compare(small, hi) < 0 && bytes.Compare(large, lo) >= 0
}

// openImported opens the database of another subtask's checkpoint in dir read-only, with
// Pebble's consistency check and table statistics off: dir may lack the SSTs the import
// does not need (downloadOverlapping).
func (b *Backend) openImported(dir string) (*pebble.DB, error) {
	po := b.opts.pebbleOptions()
	po.ReadOnly = true
	po.DisableConsistencyCheck = true
	po.DisableTableStats = true
	return pebble.Open(dir, po)
}

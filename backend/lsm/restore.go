package lsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// restoreBatchSize is the batch size at which a restore commits its writes.
const restoreBatchSize = 4 << 20

// registerRestored maps the states of a snapshot to this backend's states, registering the
// unknown ones (as restored, not yet registered by a descriptor) and checking the known ones.
// It returns the backend's state id of each of metas.
func (b *Backend) registerRestored(metas []snapshot.StateMeta) ([]uint16, error) {
	ids := make([]uint16, len(metas))
	for i, m := range metas {
		e, ok := b.states[m.Name]
		if ok {
			differs, err := backend.MergeRestored(b.opID, e.meta, m)
			if err != nil {
				return nil, err
			}
			if differs && e.st == nil && !slices.Contains(e.alt, m) {
				e.alt = append(e.alt, m)
			}
		} else {
			var err error
			if e, err = b.newEntry(m); err != nil {
				return nil, err
			}
		}
		ids[i] = e.id
	}
	return ids, nil
}

// restoreFull writes the records of a canonical full snapshot that lie in the backend's
// key-group range into the database, with batched writes. The snapshot streams in key group
// by key group (snapshot.ReadKeyGroups), so the restore's memory is bounded by the largest
// key-group block, the read-ahead and the batch, not by the size of the state. Records are
// written as they arrive: a failure found later (a damaged block, or the whole-file checksum
// that is verified once the last block is read) fails New, which removes the working
// directory with what was written, and the restore falls back to an earlier checkpoint.
func (b *Backend) restoreFull(ctx context.Context, h *snapshot.KeyedStateHandle) error {
	ids, err := b.registerRestored(h.States)
	if err != nil {
		return err
	}
	batch := b.db.NewBatch()
	defer func() { batch.Close() }()
	batchSet := func(key, val []byte) error {
		if err := batch.Set(key, val, nil); err != nil {
			return err
		}
		if batch.Len() >= restoreBatchSize {
			if err := batch.Commit(pebble.NoSync); err != nil {
				return err
			}
			batch.Close()
			batch = b.db.NewBatch()
		}
		return nil
	}
	var key, list []byte
	err = snapshot.ReadKeyGroups(ctx, b.opts.Reader, h, b.rng, func(kg int, rec *snapshot.Record) error {
		var val []byte // aliases the record (read-only) or list, never both
		if rec.Kind == snapshot.KindTimers {
			ts, err := timerTimestamp(rec.Value)
			if err != nil {
				return &snapshot.FileError{Path: h.File.Path, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf("key group %d: %v", kg, err)}
			}
			key = appendTimerKey(key[:0], kg, ids[rec.State], backend.Timer{Timestamp: ts, Key: rec.Key, Namespace: rec.Namespace})
			return batchSet(key, nil)
		}
		key = appendEntryPrefix(key[:0], kg, ids[rec.State], rec.Key, rec.Namespace)
		switch rec.Kind {
		case snapshot.KindList:
			if len(rec.List) == 0 {
				return nil
			}
			list = list[:0]
			for _, e := range rec.List {
				list = appendListElement(list, e)
			}
			val = list
		case snapshot.KindMap:
			key = append(key, rec.UserKey...)
			val = rec.Value
		default:
			val = rec.Value
		}
		return batchSet(key, val)
	})
	if err != nil {
		return err
	}
	return batch.Commit(pebble.NoSync)
}

// downloadChunk is the size of one read of a restore download.
const downloadChunk = 8 << 20

// download copies the files of an incremental handle into dir, at most
// Options.TransferConcurrency at a time, each in ranged reads of downloadChunk bytes with up to
// downloadReadAhead in flight (readRanges), and verifies each one's size and checksum as it
// arrives: only a directory whose every file verified is handed to Pebble, which would read a
// damaged MANIFEST record as the end of the log and open an older version of the database.
// A mismatch is an error wrapping snapshot.ErrCorrupt naming the stored file.
func (b *Backend) download(ctx context.Context, ih *snapshot.IncrementalHandle, dir string) error {
	if err := b.opts.FS.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := append(slices.Clone(ih.Shared), ih.Private...)
	b.faults.noteOrigins(dir, files) // corruption Pebble finds in them names the stored file
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, b.opts.TransferConcurrency)
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := b.downloadFile(ctx, f, filepath.Join(dir, f.Name)); err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

func (b *Backend) downloadFile(ctx context.Context, f snapshot.IncrementalFile, dst string) error {
	if b.linkRestored(ctx, f, dst) { // local recovery: a verified local copy (localrestore.go)
		return nil
	}
	// The handle's names are unique base names (checkpoint validates them), and dst is in a
	// directory of the backend's own: nothing is there to be replaced.
	out, err := b.opts.FS.Create(dst, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	sum := snapshot.NewFileHasher()
	err = readRanges(ctx, b.opts.Reader, f.Path, f.Size, downloadChunk, downloadReadAhead, func(p []byte) error {
		// Hashed before it is written: a vfs.File may scribble on what it was given
		// (Pebble's MemFS does, in builds with invariants such as -race).
		_, _ = sum.Write(p)
		if _, err := out.Write(p); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
		return nil
	})
	if err != nil {
		out.Close()
		return err
	}
	if f.Size == 0 {
		// Check that the file exists at all.
		if _, err := b.opts.Reader.ReadRange(ctx, f.Path, 0, 0); err != nil {
			out.Close()
			return err
		}
	}
	if err := sum.Verify(f.Ref()); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// manifestName names an incremental handle in errors: its MANIFEST's stored path.
func manifestName(ih *snapshot.IncrementalHandle) string {
	for _, f := range ih.Private {
		if strings.HasPrefix(f.Name, "MANIFEST-") {
			return f.Path
		}
	}
	if len(ih.Private) > 0 {
		return ih.Private[0].Path
	}
	return "incremental handle without private files"
}

// restoreIncremental opens the database of the handle with the largest overlap with the
// backend's key-group range, clips it to the range with range deletions, and imports the key
// groups of the other handles.
func (b *Backend) restoreIncremental(ctx context.Context, hs []*snapshot.KeyedStateHandle) error {
	base := hs[0]
	for _, h := range hs[1:] {
		if h.KeyGroupRange.Intersect(b.rng).Len() > base.KeyGroupRange.Intersect(b.rng).Len() {
			base = h
		}
	}
	name := manifestName(base.Incremental)
	if err := b.checkHandleBackend(base); err != nil {
		return err
	}
	if err := b.download(ctx, base.Incremental, b.dbDir); err != nil {
		return fmt.Errorf("lsm backend: restore operator %s: download %s: %w", b.opID, name, err)
	}
	b.restoredBase = base.Incremental // its files are the database's now (claim.go)
	db, err := b.openDB(b.dbDir)
	if err != nil {
		return &snapshot.FileError{Path: name, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf("pebble cannot open the restored database: %v", err)}
	}
	b.db = db
	bm, entries, err := readMeta(db, name)
	if err != nil {
		return fmt.Errorf("lsm backend: restore operator %s: %w", b.opID, err)
	}
	if err := b.checkBackendMeta(bm); err != nil {
		return err
	}
	if bm.KeySerializer != b.keySer { // restored under an alias: recorded under the job's ID from now on
		if err := b.writeBackendMeta(); err != nil {
			return fmt.Errorf("lsm backend: restore operator %s: write metadata: %w", b.opID, err)
		}
	}
	for i := range entries {
		b.addEntry(&entries[i])
	}
	// Clip to the backend's range: everything outside it is excised (clip.go).
	if err := clip(ctx, db, b.rng); err != nil {
		return fmt.Errorf("lsm backend: restore operator %s: clip: %w", b.opID, err)
	}
	for i, h := range hs {
		if h == base {
			continue
		}
		if err := b.importIncremental(ctx, h, i); err != nil {
			return fmt.Errorf("lsm backend: restore operator %s from %s: %w", b.opID, manifestName(h.Incremental), err)
		}
	}
	// Records the files do not hold (heap timers), in the canonical format: only the key
	// groups in range are read.
	for _, h := range hs {
		if x := h.Incremental.Extra; x != nil && x.KeyGroupRange.Intersect(b.rng).Len() > 0 {
			if err := b.restoreFull(ctx, x); err != nil {
				return fmt.Errorf("lsm backend: restore operator %s from %s: %w", b.opID, manifestName(h.Incremental), err)
			}
		}
	}
	return nil
}

func (b *Backend) checkHandleBackend(h *snapshot.KeyedStateHandle) error {
	if h.Incremental.Backend == snapshot.HashmapChainBackend {
		// Not damage: a restore must not fall back past it to an older checkpoint.
		return fmt.Errorf("lsm backend: restore operator %s: %w: it is an incremental checkpoint of the hashmap backend; restore it with state.backend.type: hashmap, or take a savepoint (canonical) to change backends",
			b.opID, snapshot.ErrNotFull)
	}
	if h.Incremental.Backend != HandleBackend {
		return &snapshot.FileError{Path: manifestName(h.Incremental), Err: snapshot.ErrCorrupt,
			Detail: fmt.Sprintf("incremental handle of backend %q; this build reads %q", h.Incremental.Backend, HandleBackend)}
	}
	return nil
}

// importIncremental copies the key groups of another subtask's incremental checkpoint that
// lie in the backend's range into the database, translating state ids. It downloads only the
// SSTs that hold those key groups or the metadata (downloadOverlapping).
func (b *Backend) importIncremental(ctx context.Context, h *snapshot.KeyedStateHandle, n int) error {
	if err := b.checkHandleBackend(h); err != nil {
		return err
	}
	name := manifestName(h.Incremental)
	dir := filepath.Join(b.workDir, fmt.Sprintf("import-%d", n))
	defer b.opts.FS.RemoveAll(dir)
	want := h.KeyGroupRange.Intersect(b.rng)
	if err := b.downloadOverlapping(ctx, h.Incremental, h.KeyGroupRange, want, dir); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	src, err := b.openImported(dir)
	if err != nil {
		return &snapshot.FileError{Path: name, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf("pebble cannot open the restored database: %v", err)}
	}
	defer src.Close()
	bm, entries, err := readMeta(src, name)
	if err != nil {
		return err
	}
	if err := b.checkBackendMeta(bm); err != nil {
		return err
	}
	metas := make([]snapshot.StateMeta, len(entries))
	for i, e := range entries {
		metas[i] = e.meta
	}
	ids, err := b.registerRestored(metas)
	if err != nil {
		return err
	}
	translate := map[uint16]uint16{}
	for i, e := range entries {
		translate[e.id] = ids[i]
	}
	return b.importByIngest(ctx, src, want, translate, n)
}

// importByIngest writes the key groups of want from src, state ids translated, into one SST
// file in key order (state by state of each key group, by translated id) and ingests it.
// Measured against batched writes (BenchmarkRescaleRestore: 2 subtasks of 200k keys with
// 100-byte values restored into 1, the whole restore): ingestion 190-280 ms, batches
// 280-320 ms; ingestion also skips the memtable and a later flush.
func (b *Backend) importByIngest(ctx context.Context, src *pebble.DB, want keygroup.Range, translate map[uint16]uint16, n int) error {
	type pair struct{ dst, src uint16 }
	pairs := make([]pair, 0, len(translate))
	for s, d := range translate {
		pairs = append(pairs, pair{d, s})
	}
	slices.SortFunc(pairs, func(x, y pair) int { return int(x.dst) - int(y.dst) })
	path := filepath.Join(b.workDir, fmt.Sprintf("import-%d.sst", n))
	f, err := b.opts.FS.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	po := b.opts.pebbleOptions()
	po.EnsureDefaults()
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), po.MakeWriterOptions(0, b.db.TableFormat()))
	it, err := src.NewIterWithContext(ctx, nil)
	if err != nil {
		w.Close()
		return err
	}
	var key []byte
	entries := 0
	err = func() error {
		defer it.Close()
		for kg := range want.All() {
			for _, p := range pairs {
				lo := appendStatePrefix(nil, kg, p.src)
				it.SetBounds(lo, prefixEnd(lo))
				for valid := it.First(); valid; valid = it.Next() {
					key = append(key[:0], it.Key()...)
					binary.BigEndian.PutUint16(key[kgLen:], p.dst)
					v, err := it.ValueAndErr()
					if err != nil {
						return err
					}
					if err := w.Set(key, v); err != nil {
						return err
					}
					entries++
				}
				if err := it.Error(); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	defer b.opts.FS.Remove(path)
	if err != nil || entries == 0 {
		return err
	}
	return b.db.Ingest(ctx, []string{path})
}

package lsm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// HandleBackend is the backend name recorded in the incremental handles this package writes.
const HandleBackend = "lsm/pebble-v2"

// incremental is the bookkeeping of incremental checkpoints: which database files the last
// completed checkpoint references in shared storage, and which files every checkpoint still in
// flight references. Only files of a completed checkpoint are reused; everything else is
// uploaded again, under a new name, so an aborted checkpoint can delete its uploads without
// touching anything another checkpoint references.
//
// After a restore the first checkpoint uploads every file (Flink's no-claim mode), unless
// backend.Options.Claim lets it reuse the restored database's shared files (claim.go).
type incremental struct {
	b       *Backend
	uid     string // distinguishes this database's files in the job's shared directory
	root    string // local checkpoint directories
	counter int
	// native marks the bookkeeping of one native savepoint (nativeSavepoint): its snapshot
	// reuses no file and records none for later checkpoints, so the savepoint is
	// self-contained and the incremental checkpoints do not know of it.
	native bool

	mu          sync.Mutex // Run and the notifications may run on different goroutines
	confirmed   map[string]snapshot.IncrementalFile
	confirmedID int64
	pending     map[int64]map[string]snapshot.IncrementalFile
}

func newIncremental(b *Backend) *incremental {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return &incremental{b: b, uid: sanitize(b.opID) + "-" + hex.EncodeToString(rnd[:]),
		root: filepath.Join(b.workDir, "checkpoints"), confirmed: map[string]snapshot.IncrementalFile{},
		pending: map[int64]map[string]snapshot.IncrementalFile{}}
}

// NotifyCheckpointComplete implements backend.Keyed: the files of checkpoint id
// become the ones later checkpoints reuse.
func (b *Backend) NotifyCheckpointComplete(id int64) error {
	if b.inc == nil {
		return nil
	}
	inc := b.inc
	inc.mu.Lock()
	defer inc.mu.Unlock()
	files, ok := inc.pending[id]
	if !ok || id <= inc.confirmedID {
		return nil
	}
	inc.confirmed, inc.confirmedID = files, id
	for p := range inc.pending {
		if p <= id {
			delete(inc.pending, p)
		}
	}
	return nil
}

// NotifyCheckpointAborted implements backend.Keyed: the files of checkpoint id
// are never reused (the checkpoint's Abort deletes its uploads).
func (b *Backend) NotifyCheckpointAborted(id int64) error {
	if b.inc == nil {
		return nil
	}
	b.inc.mu.Lock()
	delete(b.inc.pending, id)
	b.inc.mu.Unlock()
	return nil
}

// snapshot is the synchronous phase of an incremental checkpoint: hard-link the database's
// files into a local checkpoint directory. The caller (Backend.Snapshot) has flushed the
// memtables, bounded by the checkpoint's deadline and Pebble's failures (faults.go). ttlWM is
// the TTL clock's watermark (nil: none), recorded on the handle.
func (inc *incremental) snapshot(id int64, ttlWM *int64) (backend.AsyncSnapshot, error) {
	b := inc.b
	// A full or read-only disk fails the checkpoint with the same fix as a failed flush.
	if err := b.opts.FS.MkdirAll(inc.root, 0o755); err != nil {
		return nil, b.faults.background(fmt.Sprintf("checkpoint %d: create the local checkpoint directory", id), err)
	}
	inc.counter++
	dir := filepath.Join(inc.root, fmt.Sprintf("chk-%d-%d", id, inc.counter))
	if inc.native {
		dir = filepath.Join(inc.root, fmt.Sprintf("savepoint-%d-%s", id, inc.uid))
	}
	if err := checkpointDB(b, dir); err != nil {
		return nil, fmt.Errorf("lsm backend: checkpoint %d of operator %s: %w", id, b.opID, err)
	}
	s := &incSnapshot{inc: inc, id: id, dir: dir, fs: b.opts.FS, rng: b.rng, keySer: b.keySer, opID: b.opID,
		conc: b.opts.TransferConcurrency, ttlWM: ttlWM}
	for _, e := range b.orderedStates() {
		if q, ok := e.st.(*heapTimerQueue); ok {
			s.heapTimers = append(s.heapTimers, frozenHeapTimers{idx: len(s.metas), f: q.q.Freeze()})
		}
		s.metas = append(s.metas, e.meta)
	}
	return s, nil
}

// nativeSavepoint is the synchronous phase of a native savepoint (Flink's
// SavepointFormatType.NATIVE): the database's files, hard-linked as for an incremental
// checkpoint, all uploaded into the savepoint's own directory (its shared/ and private files).
// It has bookkeeping of its own, so it works whatever the checkpoint mode, reuses no file of
// a checkpoint and leaves the incremental checkpoints' reuse untouched. The caller has
// flushed the memtables.
func (b *Backend) nativeSavepoint(id int64, ttlWM *int64) (backend.AsyncSnapshot, error) {
	sp := newIncremental(b)
	sp.native = true
	return sp.snapshot(id, ttlWM)
}

// checkpointDB runs Pebble's DB.Checkpoint into dir. Pebble panics when it cannot fsync a
// directory (atomicfs.Marker.Move: "fsync errors are unrecoverable"), and Checkpoint moves a
// marker in dir, the checkpoint's own copy: a full or failing disk there would crash the
// process. Such a panic (its value an error) becomes the backend's sticky fault instead, so the
// job fails with an error naming the directory and restores from its last checkpoint; Pebble's
// live database may have seen the failure too, so the backend is not used again. Any other
// panic is not ours to handle and goes on.
func checkpointDB(b *Backend, dir string) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		perr, ok := r.(error)
		if !ok {
			panic(r)
		}
		b.faults.record(b.faults.background("checkpoint into "+dir, perr))
		err = b.faults.get()
	}()
	if err := b.db.Checkpoint(dir); err != nil {
		// Not sticky (the live database is fine), but a full disk gets the same fix.
		return b.faults.background("checkpoint into "+dir, err)
	}
	return nil
}

// isShared reports whether a database file is immutable data that goes to shared storage.
func isShared(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

type incSnapshot struct {
	inc    *incremental
	id     int64
	dir    string
	fs     vfs.FS // Options.FS, which holds dir
	rng    keygroup.Range
	keySer string
	opID   string
	conc   int
	metas  []snapshot.StateMeta
	// heapTimers are the timer queues kept in memory, frozen in the synchronous phase; the
	// database files do not hold them, so they go to the handle's Extra full file.
	heapTimers []frozenHeapTimers
	// ttlWM is the TTL clock's watermark at the synchronous phase (nil: none), recorded on
	// the handle.
	ttlWM *int64
	once  sync.Once
	done  bool
}

// Release implements backend.AsyncSnapshot: the local checkpoint directory is removed.
func (s *incSnapshot) Release() {
	s.once.Do(func() { _ = s.fs.RemoveAll(s.dir) })
}

// Run implements backend.AsyncSnapshot: it uploads the files of the local checkpoint that the
// last completed checkpoint does not reference to shared/, the others (MANIFEST, OPTIONS, ...)
// privately, at most Options.TransferConcurrency at a time. On error, files already committed
// stay in the checkpoint's StreamFactory, whose Abort deletes them.
func (s *incSnapshot) Run(ctx context.Context, out snapshot.StreamFactory) (*snapshot.KeyedStateHandle, error) {
	defer s.Release()
	if s.done {
		return nil, fmt.Errorf("lsm backend: checkpoint %d of operator %s was already run", s.id, s.opID)
	}
	s.done = true
	shared, ok := out.(snapshot.SharedStreamFactory)
	if !ok {
		return nil, fmt.Errorf("lsm backend: checkpoint %d of operator %s: incremental checkpoints need storage with a shared directory; %T has none", s.id, s.opID, out)
	}
	h, err := s.upload(ctx, shared)
	if err == nil {
		err = s.inc.b.faults.get() // files Pebble wrote after a fault hold nothing (faultfs.go)
	}
	if err != nil {
		return nil, fmt.Errorf("lsm backend: incremental checkpoint %d of operator %s: %w", s.id, s.opID, err)
	}
	return h, nil
}

func (s *incSnapshot) upload(ctx context.Context, out snapshot.SharedStreamFactory) (*snapshot.KeyedStateHandle, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return nil, err
	}
	slices.Sort(names) // in the order os.ReadDir gave them
	s.inc.mu.Lock()
	confirmed := s.inc.confirmed
	s.inc.mu.Unlock()
	if s.inc.native {
		confirmed = nil // a native savepoint holds every file itself
	}

	ih := &snapshot.IncrementalHandle{Backend: HandleBackend, Savepoint: s.inc.native}
	type job struct {
		name   string
		shared bool
		res    *snapshot.IncrementalFile
	}
	var jobs []job
	for _, name := range names {
		info, err := s.fs.Stat(filepath.Join(s.dir, name))
		if err != nil {
			return nil, err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if isShared(name) {
			if f, ok := confirmed[name]; ok && f.Size == info.Size() {
				ih.Shared = append(ih.Shared, f)
				continue
			}
		}
		jobs = append(jobs, job{name: name, shared: isShared(name), res: new(snapshot.IncrementalFile)})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, s.conc)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			f, err := s.uploadFile(ctx, out, j.name, j.shared)
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			*j.res = f
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.shared {
			ih.Shared = append(ih.Shared, *j.res)
		} else {
			ih.Private = append(ih.Private, *j.res)
		}
	}
	if len(s.heapTimers) > 0 {
		if ih.Extra, err = s.writeHeapTimers(ctx, out); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(ih.Shared, func(a, b snapshot.IncrementalFile) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(ih.Private, func(a, b snapshot.IncrementalFile) int { return strings.Compare(a.Name, b.Name) })
	files := map[string]snapshot.IncrementalFile{}
	for _, f := range ih.Shared {
		files[f.Name] = f
	}
	if !s.inc.native {
		s.inc.mu.Lock()
		s.inc.pending[s.id] = files
		s.inc.mu.Unlock()
	}
	return &snapshot.KeyedStateHandle{KeyGroupRange: s.rng, KeySerializer: s.keySer, States: s.metas, Incremental: ih, TTLWatermark: s.ttlWM}, nil
}

// writeHeapTimers writes the heap timers as a canonical full snapshot file of the
// checkpoint's own: the Extra records of the incremental handle.
func (s *incSnapshot) writeHeapTimers(ctx context.Context, out snapshot.StreamFactory) (*snapshot.KeyedStateHandle, error) {
	f, err := out.Create(ctx, fmt.Sprintf("%s-%d-%d-timers", sanitize(s.opID), s.rng.Start, s.rng.End))
	if err != nil {
		return nil, fmt.Errorf("heap timers: %w", err)
	}
	build := func(kg int, w *snapshot.BlockBuilder) error {
		var ts []byte
		for _, t := range s.heapTimers {
			ts = t.write(w, kg-s.rng.Start, ts)
		}
		return nil
	}
	h, err := snapshot.WriteFull(ctx, f, s.rng, s.keySer, s.metas, snapshot.CompressionNone, s.conc, build)
	if err != nil {
		return nil, fmt.Errorf("heap timers: %w", err)
	}
	return h, nil
}

// uploadFile copies one local file to the checkpoint; the stream computes its checksum as the
// bytes pass. A shared file reused by a later checkpoint keeps the checksum recorded here.
func (s *incSnapshot) uploadFile(ctx context.Context, out snapshot.SharedStreamFactory, name string, shared bool) (snapshot.IncrementalFile, error) {
	f, err := s.fs.Open(filepath.Join(s.dir, name))
	if err != nil {
		return snapshot.IncrementalFile{}, err
	}
	defer f.Close()
	var w snapshot.OutputStream
	if shared {
		w, err = out.CreateShared(ctx, s.inc.uid+"-"+name)
	} else {
		w, err = out.Create(ctx, fmt.Sprintf("%s-%d-%d-%s", sanitize(s.opID), s.rng.Start, s.rng.End, name))
	}
	if err != nil {
		return snapshot.IncrementalFile{}, fmt.Errorf("upload %s: %w", name, err)
	}
	linkLocalCopy(s.fs, w, name, filepath.Join(s.dir, name)) // local recovery (localrestore.go)
	if _, err := io.Copy(ctxWriter{ctx, w}, f); err != nil {
		w.Abort()
		return snapshot.IncrementalFile{}, fmt.Errorf("upload %s: %w", name, err)
	}
	ref, err := w.Close()
	if err != nil {
		return snapshot.IncrementalFile{}, fmt.Errorf("upload %s: %w", name, err)
	}
	return snapshot.IncrementalFile{Name: name, Path: ref.Path, Size: ref.Size, SHA256: ref.SHA256}, nil
}

// ctxWriter stops a copy when its context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// Options configures a job's checkpoints.
type Options struct {
	// NumRetained is how many completed checkpoints are kept (state.checkpoints.num-retained).
	// Older ones are deleted when a newer one completes. Default: 1.
	NumRetained int
	// Logger receives warnings (a corrupt checkpoint skipped on restore, a failed cleanup).
	// Default: discard.
	Logger *slog.Logger
	// Now is the clock for metadata timestamps. Default: time.Now.
	Now func() time.Time
	// LocalRecovery keeps a local copy of every checkpoint file the job writes and restores
	// from it after verifying it (Flink's execution.state-recovery.from-local; see local.go
	// and RestoreReader). Default: false.
	LocalRecovery bool
	// LocalDirs are the directories of the local copy (Flink's
	// taskmanager.state.local.root-dirs); files are spread over them by path. Only with
	// LocalRecovery. Default: DefaultLocalDirs(), under os.TempDir().
	LocalDirs []string
}

func (o *Options) setDefaults() {
	if o.NumRetained <= 0 {
		o.NumRetained = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Checkpoints manages the checkpoints of one job in Flink's layout:
//
//	<job-id>/chk-<n>/_metadata   written last: the checkpoint exists exactly when this does
//	<job-id>/chk-<n>/...         the checkpoint's exclusive files
//	<job-id>/shared/...          files shared by incremental checkpoints
//	<job-id>/taskowned/...       files owned by tasks across checkpoints
//
// One process writes a job's checkpoints at a time. Methods are safe for concurrent use.
type Checkpoints struct {
	st   Storage
	job  string
	opts Options

	// retainMu serializes Retain.
	retainMu sync.Mutex
	mu       sync.Mutex
	pending  map[int64]*Pending
	// orphans are files of failed or aborted checkpoints whose delete failed (a storage
	// outage); they are never referenced, and retain deletes them after the next checkpoint.
	orphans map[string]bool
	// completed are the ids of the complete checkpoints, ascending: found by Open, added by
	// Complete, dropped by retain once deleted. Retention works from them and lists only the
	// directories it deletes, so that taking a checkpoint costs the same after a million
	// checkpoints as after one.
	completed []int64
	// local is the local copy of the job's files (Options.LocalRecovery), or nil.
	local *localCopy
	// restoring are the readers of the restore attempts in progress (RestoreReader).
	restoring map[*snapshot.Metadata]*LocalReader
	// lastRestore are the stats of the last restore attempt, if restored.
	lastRestore RestoreStats
	restored    bool
	// claimed is the snapshot the job restored in claim mode, until retention deletes it
	// (claim.go).
	claimed *claimed
}

// Open opens the checkpoints of jobID in st and cleans up after a process that stopped while
// writing them: it sweeps the job's directory (Storage.Sweep: temporary files of interrupted
// writes, empty directories), deletes the checkpoints that never completed (a crash between
// their first file and their _metadata) and the shared files no complete checkpoint
// references. Open must be called by the job's only writer, before it writes: one process
// writes a job's checkpoints at a time, and what Open deletes would break a writer running
// elsewhere. A sweep that cannot remove some debris is logged and Open goes on. With
// Options.LocalRecovery it also deletes the local copies of files no complete checkpoint
// references (see local.go).
func Open(ctx context.Context, st Storage, jobID string, opts Options) (*Checkpoints, error) {
	if err := validJobID(jobID); err != nil {
		return nil, err
	}
	opts.setDefaults()
	c := &Checkpoints{st: st, job: jobID, opts: opts, pending: map[int64]*Pending{}, orphans: map[string]bool{}}
	if opts.LocalRecovery {
		l, err := newLocalCopy(opts.LocalDirs, st, jobID, opts.Logger)
		if err != nil {
			return nil, err
		}
		c.local, c.st = l, localStorage{Storage: st, l: l}
	}
	if err := st.Sweep(ctx, c.jobDir()); err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		c.opts.Logger.Warn("could not remove all temporary files and empty directories of interrupted checkpoint writes; they are retried at the next start",
			"job", jobID, "storage", st.String(), "error", err)
	}
	complete, err := c.deleteIncomplete(ctx)
	if err != nil {
		return nil, err
	}
	for id := range complete {
		c.completed = append(c.completed, id)
	}
	slices.Sort(c.completed)
	if c.local != nil {
		c.sweepLocal(ctx)
	}
	c.recoverClaim(ctx)
	return c, nil
}

func validJobID(jobID string) error {
	if jobID == "" || strings.ContainsAny(jobID, "/\\") || jobID == "." || jobID == ".." {
		return fmt.Errorf("checkpoint: job id %q must be a non-empty name without slashes", jobID)
	}
	return nil
}

// Storage returns the storage the checkpoints live in.
func (c *Checkpoints) Storage() Storage { return c.st }

// JobID returns the job's id.
func (c *Checkpoints) JobID() string { return c.job }

func (c *Checkpoints) jobDir() string { return c.job + "/" }

func chkDir(id int64) string { return "chk-" + strconv.FormatInt(id, 10) + "/" }

// parseChk returns n for a name "<job>/chk-<n>/...".
func (c *Checkpoints) parseChk(name string) (int64, string, bool) {
	rest, ok := strings.CutPrefix(name, c.jobDir()+"chk-")
	if !ok {
		return 0, "", false
	}
	num, file, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, "", false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	// Only the canonical spelling: "chk-07" or "chk-+7" is not checkpoint 7, whose
	// metadata is read as chk-7/_metadata.
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != num {
		return 0, "", false
	}
	return id, file, true
}

// scan lists every checkpoint directory: its files, and whether it is complete.
func (c *Checkpoints) scan(ctx context.Context) (map[int64][]string, map[int64]bool, error) {
	names, err := c.st.List(ctx, c.jobDir()+"chk-")
	if err != nil {
		return nil, nil, err
	}
	files, complete := map[int64][]string{}, map[int64]bool{}
	for _, n := range names {
		id, file, ok := c.parseChk(n)
		if !ok {
			continue
		}
		files[id] = append(files[id], n)
		if file == snapshot.MetadataName {
			complete[id] = true
		}
	}
	return files, complete, nil
}

// Completed returns the ids of the complete checkpoints, ascending.
func (c *Checkpoints) Completed(ctx context.Context) ([]int64, error) {
	_, complete, err := c.scan(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(complete))
	for id := range complete {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// NextID returns an id larger than that of any checkpoint in storage, complete or not.
func (c *Checkpoints) NextID(ctx context.Context) (int64, error) {
	files, _, err := c.scan(ctx)
	if err != nil {
		return 0, err
	}
	next := int64(1)
	for id := range files {
		next = max(next, id+1)
	}
	c.mu.Lock()
	for id := range c.pending {
		next = max(next, id+1)
	}
	c.mu.Unlock()
	return next, nil
}

// deleteIncomplete deletes the files of incomplete checkpoints and orphaned shared files, and
// returns the ids of the complete checkpoints.
func (c *Checkpoints) deleteIncomplete(ctx context.Context) (map[int64]bool, error) {
	files, complete, err := c.scan(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, fs := range files {
		if complete[id] || c.pending[id] != nil {
			continue
		}
		for _, f := range fs {
			if err := c.st.Delete(ctx, f); err != nil {
				return nil, err
			}
		}
	}
	if len(c.pending) > 0 {
		return complete, nil
	}
	return complete, c.deleteOrphanedShared(ctx, complete)
}

// deleteOrphanedShared deletes shared files no complete checkpoint references: uploads of
// checkpoints that crashed before their metadata. If any metadata cannot be read for a reason
// other than corruption, nothing is deleted.
func (c *Checkpoints) deleteOrphanedShared(ctx context.Context, complete map[int64]bool) error {
	names, err := c.st.List(ctx, c.jobDir()+snapshot.SharedDir)
	if err != nil || len(names) == 0 {
		return err
	}
	referenced := map[string]bool{}
	for id := range complete {
		m, err := readMetadata(ctx, c.st, c.jobDir(), chkDir(id))
		if unreadable(err) {
			continue
		}
		if err != nil {
			c.opts.Logger.Warn("not deleting orphaned shared files: a checkpoint's metadata could not be read", "checkpoint", id, "error", err)
			return nil
		}
		for _, f := range m.Files() {
			referenced[c.jobDir()+f.Path] = true
		}
	}
	for _, n := range names {
		if !referenced[n] {
			if err := c.st.Delete(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// Reader reads files by the paths of this job's checkpoint metadata, from checkpoint storage
// only; a restore reads through RestoreReader, which uses the local copy.
func (c *Checkpoints) Reader() snapshot.Reader { return NewReader(c.st, c.jobDir()) }

// Load reads and validates the metadata of checkpoint id and checks that every file it
// references exists with its recorded size.
func (c *Checkpoints) Load(ctx context.Context, id int64) (*snapshot.Metadata, error) {
	m, err := loadMetadata(ctx, c.st, c.jobDir(), chkDir(id))
	if err != nil {
		return nil, err
	}
	if m.CheckpointID != id || m.JobID != c.job {
		return nil, snapshot.Corrupt(c.jobDir()+chkDir(id)+snapshot.MetadataName, "metadata of checkpoint %d of job %q found where checkpoint %d of job %q belongs",
			m.CheckpointID, m.JobID, id, c.job)
	}
	return m, nil
}

func loadMetadata(ctx context.Context, st Storage, base, dir string) (*snapshot.Metadata, error) {
	m, err := readMetadata(ctx, st, base, dir)
	if err != nil {
		return nil, err
	}
	name := base + dir + snapshot.MetadataName
	for _, f := range m.Files() {
		p, err := storagePath(base, f.Path)
		if err != nil {
			return nil, err
		}
		size, err := st.Size(ctx, p)
		if err != nil {
			return nil, err
		}
		if size != f.Size {
			return nil, &snapshot.FileError{Path: base + f.Path, Err: snapshot.ErrMissing,
				Detail: fmt.Sprintf("has %d bytes, metadata %s says %d", size, name, f.Size)}
		}
	}
	return m, nil
}

// readMetadata reads and decodes a _metadata file without checking the files it references.
// It reads at most snapshot.MaxMetadataSize+1 bytes: snapshot.DecodeMetadata rejects more.
func readMetadata(ctx context.Context, st Storage, base, dir string) (*snapshot.Metadata, error) {
	name := base + dir + snapshot.MetadataName
	b, err := st.ReadRange(ctx, name, 0, snapshot.MaxMetadataSize+1)
	if err != nil {
		return nil, err
	}
	return snapshot.DecodeMetadata(name, b)
}

// Restore tries the complete checkpoints from the latest back: it loads each one's metadata
// and calls fn with it. If loading or fn fails with snapshot.ErrCorrupt or snapshot.ErrMissing, it logs which
// file was bad and falls back to the previous checkpoint; another error from fn is returned at
// once. It returns the metadata fn accepted; an error wrapping ErrNoCheckpoint if the job has
// no complete checkpoint (a fresh start is then right); or, if it has some but none can be
// read, an error wrapping ErrNoReadableCheckpoint (and every checkpoint's reason) that names
// each checkpoint it tried and why it failed: the caller must not start fresh silently then.
// During fn, RestoreReader(m) returns the reader of this attempt, whose summary (files read
// from the local copy and from storage) is logged when fn returns.
func (c *Checkpoints) Restore(ctx context.Context, fn func(*snapshot.Metadata) error) (*snapshot.Metadata, error) {
	ids, err := c.Completed(ctx)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := len(ids) - 1; i >= 0; i-- {
		m, err := c.Load(ctx, ids[i])
		if err == nil {
			done := c.restoreReaderFor(m)
			err = fn(m)
			done()
		}
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrMissing) {
			return nil, err
		}
		c.opts.Logger.Warn("skipping unreadable checkpoint", "job", c.job, "checkpoint", ids[i], "error", err)
		errs = append(errs, fmt.Errorf("checkpoint %d: %w", ids[i], err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w for job %s in %s", ErrNoCheckpoint, c.job, c.st)
	}
	return nil, fmt.Errorf("%w for job %s in %s: all %d of its complete checkpoints are unreadable:\n%w",
		ErrNoReadableCheckpoint, c.job, c.st, len(errs), errors.Join(errs...))
}

// Begin starts checkpoint id. Its files go to <job>/chk-<id>/.
func (c *Checkpoints) Begin(id int64) (*Pending, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[id] != nil {
		return nil, fmt.Errorf("checkpoint %d of job %s is already in progress", id, c.job)
	}
	// An id used again must not lose its metadata to the cleanup of its failed namesake (the
	// other orphans have random names).
	delete(c.orphans, c.jobDir()+chkDir(id)+snapshot.MetadataName)
	p := newPending(c.st, c.jobDir(), chkDir(id), id, c)
	c.pending[id] = p
	return p, nil
}

func (c *Checkpoints) finish(p *Pending) {
	c.mu.Lock()
	delete(c.pending, p.id)
	c.mu.Unlock()
}

// addCompleted records that checkpoint id is complete (its metadata is durable).
func (c *Checkpoints) addCompleted(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found := slices.BinarySearch(c.completed, id); !found {
		c.completed = slices.Insert(c.completed, i, id)
	}
}

// dropCompleted records that checkpoint id has been deleted.
func (c *Checkpoints) dropCompleted(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found := slices.BinarySearch(c.completed, id); found {
		c.completed = slices.Delete(c.completed, i, i+1)
	}
}

// Retain deletes the complete checkpoints beyond NumRetained, metadata first so that a
// half-deleted checkpoint never looks complete, and then the shared files no retained
// checkpoint references. It reads every metadata involved before deleting anything: if one
// cannot be read for a reason other than corruption (a storage outage), nothing is deleted
// and the next completed checkpoint retries. Complete calls it only once the new checkpoint's
// metadata is durable (Writer.Commit returned), so a crash at any moment leaves at least one
// complete checkpoint. It lists only the directories of the checkpoints it deletes. Calls are
// serialized; it may run while other checkpoints are being written or completed (a checkpoint
// completed meanwhile is retained by the next call).
func (c *Checkpoints) Retain(ctx context.Context) error {
	c.retainMu.Lock()
	defer c.retainMu.Unlock()
	if err := c.deleteOrphans(ctx); err != nil {
		return err
	}
	if err := c.retainClaimed(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	ids := slices.Clone(c.completed)
	c.mu.Unlock()
	if len(ids) <= c.opts.NumRetained {
		return nil
	}
	drop, keep := ids[:len(ids)-c.opts.NumRetained], ids[len(ids)-c.opts.NumRetained:]
	// The metadata is read without checking the files it references: a retained checkpoint
	// that lost one file still references (and protects) all the others.
	referenced := map[string]bool{}
	for _, id := range keep {
		m, err := readMetadata(ctx, c.st, c.jobDir(), chkDir(id))
		if unreadable(err) {
			continue // cannot be restored, so it references nothing worth keeping
		}
		if err != nil {
			return err
		}
		for _, f := range m.Files() {
			referenced[f.Path] = true
		}
	}
	var shared []string
	for _, id := range drop {
		m, err := readMetadata(ctx, c.st, c.jobDir(), chkDir(id))
		if unreadable(err) {
			continue
		}
		if err != nil {
			return err
		}
		for _, f := range m.Files() {
			if sharedRef(f.Path) && !referenced[f.Path] {
				referenced[f.Path] = true // once
				shared = append(shared, f.Path)
			}
		}
	}
	for _, id := range drop {
		files, err := c.st.List(ctx, c.jobDir()+chkDir(id))
		if err != nil {
			return err
		}
		meta := c.jobDir() + chkDir(id) + snapshot.MetadataName
		if err := c.st.Delete(ctx, meta); err != nil {
			return err
		}
		for _, f := range files {
			if f != meta {
				if err := c.st.Delete(ctx, f); err != nil {
					return err
				}
			}
		}
		c.dropCompleted(id)
	}
	for _, f := range shared {
		p, err := storagePath(c.jobDir(), f)
		if err != nil {
			continue // corrupt metadata names no file of ours
		}
		if err := c.st.Delete(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// addOrphans records files whose delete failed, to be deleted after the next checkpoint.
func (c *Checkpoints) addOrphans(files []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range files {
		c.orphans[f] = true
	}
}

// deleteOrphans deletes the files of failed checkpoints whose earlier delete failed.
func (c *Checkpoints) deleteOrphans(ctx context.Context) error {
	c.mu.Lock()
	files := make([]string, 0, len(c.orphans))
	for f := range c.orphans {
		files = append(files, f)
	}
	c.mu.Unlock()
	for _, f := range files {
		if err := c.st.Delete(ctx, f); err != nil {
			return err
		}
		c.mu.Lock()
		delete(c.orphans, f)
		c.mu.Unlock()
	}
	return nil
}

// unreadable reports whether err says a file is corrupt or missing (not a storage outage).
func unreadable(err error) bool {
	return err != nil && (errors.Is(err, snapshot.ErrCorrupt) || errors.Is(err, snapshot.ErrMissing))
}

// BeginSavepoint starts a savepoint in st, whose root is the savepoint's own directory:
// its files and _metadata go there and the metadata references them relatively, so the
// directory can be copied elsewhere and still restores. The directory must not already hold
// a savepoint.
func BeginSavepoint(st Storage) *Pending {
	return newPending(st, "", "", 0, nil)
}

// LoadSavepoint reads the savepoint whose root is st; the snapshot.Reader reads its files.
func LoadSavepoint(ctx context.Context, st Storage) (*snapshot.Metadata, snapshot.Reader, error) {
	m, err := loadMetadata(ctx, st, "", "")
	if err != nil {
		return nil, nil, err
	}
	return m, NewReader(st, ""), nil
}

// LoadCheckpoint reads and validates the metadata of complete checkpoint id of job jobID in st,
// as Checkpoints.Load does, without opening the job's checkpoints: it reads and never writes
// or deletes, so it is safe on the checkpoints of a job that is running elsewhere (Open is
// not: it cleans up after the job's writer). The snapshot.Reader reads the checkpoint's files.
func LoadCheckpoint(ctx context.Context, st Storage, jobID string, id int64) (*snapshot.Metadata, snapshot.Reader, error) {
	if err := validJobID(jobID); err != nil {
		return nil, nil, err
	}
	c := &Checkpoints{st: st, job: jobID}
	m, err := c.Load(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return m, c.Reader(), nil
}

// NewReader returns a snapshot.Reader of st for paths relative to base. Reads of at least two
// snapshot.ParallelReadChunk are split into ranged reads that run snapshot.ParallelReadConcurrency at a time.
func NewReader(st Storage, base string) snapshot.Reader { return storageReader{st, base} }

type storageReader struct {
	st   Storage
	base string
}

func (r storageReader) ReadRange(ctx context.Context, p string, off, n int64) ([]byte, error) {
	name, err := storagePath(r.base, p)
	if err != nil {
		return nil, err
	}
	return readParallel(ctx, r.st, name, off, n)
}

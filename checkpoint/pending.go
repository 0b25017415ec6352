package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// cleanupTimeout bounds the deletes of a snapshot whose Complete failed.
const cleanupTimeout = 30 * time.Second

// Pending is a checkpoint or savepoint being written. It is the snapshot.StreamFactory for its files;
// Complete writes its metadata, Abort deletes everything it wrote. Once either has been
// called, Create fails and a stream's Close discards its file and fails.
type Pending struct {
	st    Storage // for the snapshot's files: its writers do not commit once it is done
	raw   Storage // the storage itself, for the metadata and deletes
	base  string  // metadata paths are relative to this
	dir   string  // where this snapshot's own files go, relative to base
	id    int64
	owner *Checkpoints // nil for savepoints

	mu    sync.Mutex
	files []string
	done  bool
	// commits is held shared by every commit of one of the snapshot's files and exclusively
	// by Abort, so that a file whose upload finishes after Abort is never left behind.
	commits sync.RWMutex
}

func newPending(st Storage, base, dir string, id int64, owner *Checkpoints) *Pending {
	p := &Pending{raw: st, base: base, dir: dir, id: id, owner: owner}
	p.st = pendingStorage{Storage: st, p: p}
	return p
}

func (p *Pending) String() string {
	if p.owner == nil {
		return "savepoint"
	}
	return "checkpoint " + strconv.FormatInt(p.id, 10)
}

func (p *Pending) isDone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// pendingStorage creates the files of a Pending: a file committed after the snapshot was
// completed or aborted is discarded instead (it would never be referenced, nor deleted).
type pendingStorage struct {
	Storage
	p *Pending
}

func (s pendingStorage) Create(ctx context.Context, name string, ifNotExist bool) (Writer, error) {
	w, err := s.Storage.Create(ctx, name, ifNotExist)
	if err != nil {
		return nil, err
	}
	return &pendingWriter{Writer: w, p: s.p, name: name}, nil
}

type pendingWriter struct {
	Writer
	p         *Pending
	name      string
	committed bool
}

func (w *pendingWriter) Commit() (int64, error) {
	if w.committed {
		return w.Writer.Commit()
	}
	w.p.commits.RLock()
	defer w.p.commits.RUnlock()
	if w.p.isDone() {
		w.Writer.Abort()
		return 0, fmt.Errorf("%s is already completed or aborted: file %s discarded", w.p, w.name)
	}
	w.committed = true
	return w.Writer.Commit()
}

// ID returns the checkpoint id.
func (p *Pending) ID() int64 { return p.id }

// Create implements snapshot.StreamFactory: a new exclusive file of this snapshot.
func (p *Pending) Create(ctx context.Context, hint string) (snapshot.OutputStream, error) {
	return p.create(ctx, p.dir, hint)
}

// create creates the file dir/<hint>-<random> (dir relative to the snapshot's base) and makes
// it a file of this snapshot, deleted by Abort.
func (p *Pending) create(ctx context.Context, dir, hint string) (snapshot.OutputStream, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	rel := dir + path.Base(hint) + "-" + hex.EncodeToString(rnd[:])
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil, fmt.Errorf("%s is already completed or aborted", p)
	}
	p.files = append(p.files, p.base+rel)
	p.mu.Unlock()
	w, err := p.st.Create(ctx, p.base+rel, false)
	if err != nil {
		return nil, err
	}
	return newStream(w, rel), nil
}

// stream is a snapshot.OutputStream to a Writer that hashes the bytes as they pass, so the file's
// checksum is known when it is committed without reading it again.
type stream struct {
	w   Writer
	rel string
	sum *snapshot.FileHasher
}

func newStream(w Writer, rel string) *stream {
	return &stream{w: w, rel: rel, sum: snapshot.NewFileHasher()}
}

func (s *stream) Write(b []byte) (int, error) {
	n, err := s.w.Write(b)
	_, _ = s.sum.Write(b[:max(0, min(n, len(b)))])
	return n, err
}

func (s *stream) Abort() { s.w.Abort() }

// Close commits the file and returns its reference with the checksum of the bytes written.
func (s *stream) Close() (snapshot.FileRef, error) {
	n, err := s.w.Commit()
	if err != nil {
		return snapshot.FileRef{Path: s.rel, Size: n}, err
	}
	if n != s.sum.Size() {
		// The storage committed other bytes than it was given: the checksum would not match.
		return snapshot.FileRef{}, fmt.Errorf("checkpoint: file %s committed with %d bytes, %d written", s.rel, n, s.sum.Size())
	}
	return snapshot.FileRef{Path: s.rel, Size: n, SHA256: s.sum.Sum()}, nil
}

// Complete writes the metadata with create-if-not-exists, which makes the snapshot exist,
// and then (for checkpoints) deletes checkpoints beyond the retention. If the metadata cannot
// be written the snapshot is aborted and its files deleted.
//
// The order is what makes a completed checkpoint survive a power loss: every file m
// references was committed, hence durable (Writer.Commit), before Complete is called (a
// stream's Close commits it); the metadata is written and durable when its Commit returns;
// only then does retention delete anything.
func (p *Pending) Complete(ctx context.Context, m *snapshot.Metadata) error {
	if err := p.CommitMetadata(ctx, m); err != nil {
		return err
	}
	if p.owner != nil {
		// The metadata is durable (Commit returned): only now may older checkpoints go.
		if err := p.owner.Retain(ctx); err != nil {
			p.owner.opts.Logger.Warn("checkpoint retention cleanup failed; it is retried after the next checkpoint", "error", err)
		}
	}
	return nil
}

// CommitMetadata is Complete without the retention: once it returns nil the snapshot exists
// (its metadata is durable), and for a checkpoint the older checkpoints beyond NumRetained stay
// until the caller runs Checkpoints.Retain. A caller that must not wait for storage deletes on
// its own goroutine (the stream coordinator) uses it and retains elsewhere. On error the
// snapshot is cleaned up as by Complete.
func (p *Pending) CommitMetadata(ctx context.Context, m *snapshot.Metadata) error {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return fmt.Errorf("%s is already completed or aborted", p)
	}
	p.done = true
	p.mu.Unlock()
	m.Savepoint = p.owner == nil
	if p.owner != nil {
		defer p.owner.finish(p)
		m.JobID, m.CheckpointID = p.owner.job, p.id
		m.Claimed = p.owner.Claimed() // a restart deletes it once subsumed (claim.go)
		if m.TimestampMs == 0 {
			m.TimestampMs = p.owner.opts.Now().UnixMilli()
		}
	}
	err := p.writeMetadata(ctx, m)
	if err != nil {
		if !errors.Is(err, ErrExists) {
			// The write may have reached the store before it failed (a lost response): the
			// metadata must go before the files it references, or it would name deleted files.
			p.mu.Lock()
			p.files = append([]string{p.base + p.dir + snapshot.MetadataName}, p.files...)
			p.mu.Unlock()
		}
		// The cleanup outlives a canceled or expired context (a checkpoint timeout), within
		// a bound of its own; what it cannot delete is deleted after the next checkpoint.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if derr := p.deleteFiles(cctx); derr != nil {
			p.logger().Warn("could not delete the files of a failed snapshot", "snapshot", p.String(), "error", derr)
		}
		return fmt.Errorf("complete %s: %w", p, err)
	}
	if p.owner != nil {
		p.owner.addCompleted(p.id)
	}
	return nil
}

func (p *Pending) writeMetadata(ctx context.Context, m *snapshot.Metadata) error {
	b, err := snapshot.EncodeMetadata(m)
	if err != nil {
		return err
	}
	w, err := p.raw.Create(ctx, p.base+p.dir+snapshot.MetadataName, true)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		w.Abort()
		return err
	}
	_, err = w.Commit()
	return err
}

// Abort discards the snapshot: every file it created is deleted. It waits for files being
// committed at that moment; a file committed later is discarded and its Close fails. A file
// whose delete fails (a storage outage) is deleted again after the job's next completed
// checkpoint, and by Open.
func (p *Pending) Abort(ctx context.Context) error {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	p.done = true
	p.mu.Unlock()
	if p.owner != nil {
		defer p.owner.finish(p)
	}
	return p.deleteFiles(ctx)
}

func (p *Pending) logger() *slog.Logger {
	if p.owner == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.owner.opts.Logger
}

// deleteFiles waits for the commits in flight (later ones see done and discard their file)
// and deletes every file the snapshot created.
func (p *Pending) deleteFiles(ctx context.Context) error {
	p.commits.Lock()
	defer p.commits.Unlock()
	p.mu.Lock()
	files := p.files
	p.files = nil
	p.mu.Unlock()
	var errs []error
	var failed []string
	for _, f := range files {
		if err := p.raw.Delete(ctx, f); err != nil {
			errs = append(errs, err)
			failed = append(failed, f)
		}
	}
	if len(failed) > 0 && p.owner != nil {
		p.owner.addOrphans(failed)
	}
	return errors.Join(errs...)
}

// CreateShared creates a file under the job's shared/ directory for an incremental
// checkpoint. The stored name is hint followed by a random suffix, so an upload never
// replaces another. Until the checkpoint completes the file belongs to it: Abort deletes it.
// For a savepoint, shared/ is inside the savepoint's directory. The stream's Close returns the
// file's reference with its size and checksum.
func (p *Pending) CreateShared(ctx context.Context, hint string) (snapshot.OutputStream, error) {
	return p.create(ctx, snapshot.SharedDir, hint)
}

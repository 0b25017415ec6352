package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// RestoreStats says where the files a restore read came from. Files and bytes are counted per
// file at its first use (bytes as the metadata records the file's size, whether the restore
// read all of it or, at another parallelism, a part).
type RestoreStats struct {
	// LocalFiles and LocalBytes were served from the verified local copy.
	LocalFiles, LocalBytes int64
	// RemoteFiles and RemoteBytes were read from checkpoint storage: without local recovery,
	// for metadata without checksums, and where the local copy was missing or mismatched.
	RemoteFiles, RemoteBytes int64
	// Missing counts files whose local copy did not exist; Mismatched those whose local copy
	// had another size or checksum than the metadata records (both were read remotely).
	Missing, Mismatched int64
	// Repaired counts the missing or mismatched files that were read from storage once, in
	// full and verified, into their local copy, and then read from there (see repair).
	Repaired int64
}

// LocalReader is the snapshot.Reader of a restore of one checkpoint of the job (see
// RestoreReader): it serves a file from the local copy once the copy has been verified
// against the checkpoint's metadata, else from checkpoint storage. Safe for concurrent use.
type LocalReader struct {
	remote snapshot.Reader
	local  *localCopy // nil: no local recovery
	// refs are the files of the checkpoint with their checksums; nil for metadata without
	// checksums (format 1), whose files are always read remotely.
	refs map[string]snapshot.FileRef
	c    *Checkpoints
	id   int64

	mu    sync.Mutex
	files map[string]*localDecision
	stats RestoreStats
	// reasons are the first few reasons a file was read remotely although local recovery
	// is on, for the summary.
	reasons []string
}

// localDecision is where one file is read from, decided once (under mu) at its first use.
type localDecision struct {
	mu      sync.Mutex
	decided bool
	path    string // the verified local copy; "" reads remote storage
}

// RestoreReader returns the snapshot.Reader for restoring checkpoint m of this job: with local
// recovery (Options.LocalRecovery) it reads each file from its local copy once that copy is
// verified to hold the bytes m records (size, and CRC-32C fingerprint or SHA-256), and from
// checkpoint storage otherwise (see local.go); without, it
// reads checkpoint storage, as Reader does. Within Restore, it returns the reader Restore
// made for m, whose summary Restore logs when fn returns; elsewhere (a benchmark, a tool) a
// new one, whose Stats the caller may report.
func (c *Checkpoints) RestoreReader(m *snapshot.Metadata) *LocalReader {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.restoring[m]; r != nil {
		return r
	}
	return c.newLocalReader(m)
}

func (c *Checkpoints) newLocalReader(m *snapshot.Metadata) *LocalReader {
	r := &LocalReader{remote: NewReader(c.st, c.jobDir()), local: c.local, c: c, id: m.CheckpointID, files: map[string]*localDecision{}}
	if c.local != nil && m.Version >= snapshot.MetadataVersion {
		r.refs = map[string]snapshot.FileRef{}
		for _, f := range m.Files() {
			r.refs[f.Path] = f
		}
	}
	return r
}

// restoreReaderFor registers the reader of one restore attempt of m, so that RestoreReader(m)
// called by Restore's fn returns it; the returned func unregisters it and logs its summary.
func (c *Checkpoints) restoreReaderFor(m *snapshot.Metadata) func() {
	c.mu.Lock()
	if c.restoring == nil {
		c.restoring = map[*snapshot.Metadata]*LocalReader{}
	}
	r := c.newLocalReader(m)
	c.restoring[m] = r
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.restoring, m)
		c.lastRestore, c.restored = r.Stats(), true
		c.mu.Unlock()
		r.logSummary()
	}
}

// LastRestoreStats returns where the files of the last restore attempt by Restore came from
// (the attempt Restore returned, when it succeeded), and false before any attempt.
func (c *Checkpoints) LastRestoreStats() (RestoreStats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastRestore, c.restored
}

// Stats returns where the files read so far came from.
func (r *LocalReader) Stats() RestoreStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// logSummary logs the stats of a restore with local recovery: at level Info when every file
// came from the local copy, at Warn (with the first reasons) when some did not.
func (r *LocalReader) logSummary() {
	if r.local == nil {
		return
	}
	r.mu.Lock()
	s, reasons := r.stats, r.reasons
	r.mu.Unlock()
	if s.LocalFiles+s.RemoteFiles == 0 {
		return
	}
	args := []any{"job", r.c.job, "checkpoint", r.id, "localFiles", s.LocalFiles, "localBytes", s.LocalBytes,
		"remoteFiles", s.RemoteFiles, "remoteBytes", s.RemoteBytes}
	if r.refs == nil {
		r.c.opts.Logger.Info("local recovery: the checkpoint's metadata records no checksums (format 1); every file was read from checkpoint storage", args...)
		return
	}
	if s.RemoteFiles == 0 {
		r.c.opts.Logger.Info("local recovery: restored from the local copy", args...)
		return
	}
	args = append(args, "missing", s.Missing, "mismatched", s.Mismatched, "reasons", reasons)
	r.c.opts.Logger.Warn("local recovery: some files were read from checkpoint storage", args...)
}

// ReadRange implements snapshot.Reader.
func (r *LocalReader) ReadRange(ctx context.Context, p string, off, n int64) ([]byte, error) {
	if local := r.decide(ctx, p); local != "" {
		b, err := readLocal(local, off, n)
		if err == nil {
			return b, nil
		}
		// Verified, then gone or unreadable: storage still has the file.
		r.demote(p, local, err)
	}
	return r.remote.ReadRange(ctx, p, off, n)
}

// demote makes later reads of file p go to storage after its verified local copy could not be
// read, logging it once.
func (r *LocalReader) demote(p, local string, err error) {
	r.mu.Lock()
	d := r.files[p]
	r.mu.Unlock()
	d.mu.Lock()
	changed := d.path != ""
	d.path = ""
	d.mu.Unlock()
	if changed {
		r.c.opts.Logger.Warn("local recovery: a verified local copy could not be read; reading checkpoint storage", "file", local, "error", err)
	}
}

// LocalFile returns the path of the verified local copy of the checkpoint's file ref, if it
// has one: a file of the operating system's filesystem holding ref's bytes, which the
// caller may hard-link (never modify: the local copy of later checkpoints may be the same
// file). ok is false without local recovery, for a ref the checkpoint does not record alike,
// and when the local copy is missing or mismatched (then reads of ref go to storage).
func (r *LocalReader) LocalFile(ctx context.Context, ref snapshot.FileRef) (string, bool) {
	if want, ok := r.refs[ref.Path]; !ok || want != ref {
		return "", false
	}
	p := r.decide(ctx, ref.Path)
	return p, p != ""
}

// decide returns the verified local copy of file p, or "" to read it remotely; the first call
// for p verifies (concurrent ones wait for it). A verification cut short by ctx is not
// remembered.
func (r *LocalReader) decide(ctx context.Context, p string) string {
	r.mu.Lock()
	d := r.files[p]
	if d == nil {
		d = &localDecision{}
		r.files[p] = d
	}
	r.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.decided {
		return d.path
	}
	path, ref, why := r.verify(ctx, p)
	var repairErr error
	if why != nil && ctx.Err() == nil {
		// Read from storage once, into the local copy: later checkpoints may reuse the file
		// (claim mode, shared files), and later restores of this one read it locally again.
		path, repairErr = r.repair(ctx, p, ref)
	}
	if ctx.Err() != nil {
		return ""
	}
	d.decided, d.path = true, path
	r.mu.Lock()
	defer r.mu.Unlock()
	size := ref.Size
	if why == nil {
		if path != "" {
			r.stats.LocalFiles++
			r.stats.LocalBytes += size
		} else {
			r.stats.RemoteFiles++
			r.stats.RemoteBytes += size
		}
		return path
	}
	r.stats.RemoteFiles++
	r.stats.RemoteBytes += size
	if errors.Is(why, snapshot.ErrMissing) {
		r.stats.Missing++
	} else {
		r.stats.Mismatched++
	}
	if len(r.reasons) < 3 {
		r.reasons = append(r.reasons, why.Error())
	}
	if repairErr != nil {
		r.c.opts.Logger.Info("local recovery: reading a file from checkpoint storage; its local copy could not be repaired",
			"file", p, "reason", why, "repair", repairErr)
		return ""
	}
	r.stats.Repaired++
	r.c.opts.Logger.Info("local recovery: read a file from checkpoint storage into its local copy", "file", p, "reason", why)
	return path
}

// verify checks the local copy of file p against the checkpoint's record of it: its size, and
// its content by the fingerprint of the bytes streamed when it was written (CRC-32C), or by
// the recorded SHA-256 when it has no usable fingerprint. It returns
// the local path when it matches; else why not (nil when there is no local copy to expect:
// no local recovery, no checksums, a file the checkpoint does not reference).
func (r *LocalReader) verify(ctx context.Context, p string) (string, snapshot.FileRef, error) {
	ref, ok := r.refs[p]
	if !ok || r.local == nil || !localPath(p) {
		return "", ref, nil
	}
	local := r.local.file(p)
	f, err := os.Open(local)
	if err != nil {
		return "", ref, &snapshot.FileError{Path: local, Err: snapshot.ErrMissing, Detail: fmt.Sprintf("no local copy: %v", err)}
	}
	defer f.Close()
	info, err := f.Stat()
	switch {
	case err != nil:
		return "", ref, fmt.Errorf("local copy %s: %w", local, err)
	case !info.Mode().IsRegular():
		return "", ref, snapshot.Corrupt(local, "local copy is not a regular file")
	case info.Size() != ref.Size:
		return "", ref, snapshot.Corrupt(local, "local copy has %d bytes, the checkpoint records %d", info.Size(), ref.Size)
	}
	// Written by this machine's checkpoint: its fingerprint binds it to the recorded bytes.
	if size, crc, ok := readFingerprint(local); ok && size == ref.Size {
		h := crc32.New(castagnoli)
		if _, err := io.CopyBuffer(h, ctxReader{ctx, f}, make([]byte, 1<<20)); err != nil {
			return "", ref, fmt.Errorf("local copy %s: %w", local, err)
		}
		if got := h.Sum32(); got != crc {
			return "", ref, snapshot.Corrupt(local, "local copy is damaged: CRC-32C %08x, written as %08x", got, crc)
		}
		return local, ref, nil
	}
	h := snapshot.NewFileHasher()
	if _, err := io.CopyBuffer(h, ctxReader{ctx, f}, make([]byte, 1<<20)); err != nil {
		return "", ref, fmt.Errorf("local copy %s: %w", local, err)
	}
	if err := h.Verify(snapshot.FileRef{Path: local, Size: ref.Size, SHA256: ref.SHA256}); err != nil {
		return "", ref, err
	}
	return local, ref, nil
}

// readLocal reads n bytes at off of a local file (n < 0: to the end); a short file returns
// fewer bytes, as Storage.ReadRange does.
func readLocal(p string, off, n int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// The length may come from metadata: never allocate more than the file holds.
	if rest := max(0, info.Size()-off); n < 0 || n > rest {
		n = rest
	}
	b := make([]byte, n)
	got, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:got], nil
}

// ctxReader stops a read when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

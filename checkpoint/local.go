package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// Local recovery (Flink's execution.state-recovery.from-local): with Options.LocalRecovery,
// every file a checkpoint writes through its Pending (its own files and shared files; never
// savepoints nor _metadata) is also written to a local copy on this machine, at the same
// job-relative path under one of Options.LocalDirs:
//
//	<local dir>/<job-id>-<storage hash>/chk-<n>/...   a checkpoint's own files
//	<local dir>/<job-id>-<storage hash>/shared/...    shared files
//
// The storage hash (8 hex digits of the SHA-256 of Storage.String()) keeps the local copies of
// two jobs with the same id in different checkpoint storages apart. When several local dirs
// are given, a file's dir is chosen by a hash of its path (so a restore finds it without a
// search), which spreads the files over the disks as Flink spreads subtasks.
//
// The copy follows the lifecycle of the remote files, so it holds exactly what the retained
// checkpoints reference and nothing accumulates: every delete of the job's files (an aborted
// or failed checkpoint, retention, the retry of a failed delete) deletes the local copy of the
// file too, and Open deletes every local file no complete checkpoint references (what a killed
// process left). A write to the local copy that fails (a full local disk) drops that file's
// local copy, logged, and never fails the checkpoint, as Flink's duplicating stream does. The
// local copy is written without fsync: it is verified before use, never trusted.
//
// A restore reads through RestoreReader: a file is served from its local copy only once the
// local file is verified to hold the bytes the checkpoint's metadata records: its size, and
// its CRC-32C against the fingerprint written beside it from the streamed bytes (see
// fingerprintSuffix), or, without a fingerprint, its SHA-256 against the metadata (verified
// once per file and restore, on first use, so the restore's own parallelism verifies in
// parallel);
// a missing or mismatched local copy is logged (which file, why) and the file is read from the
// checkpoint storage instead, so a damaged local copy never fails a restore; it is read into the
// local copy once, verified, and from there (repair, localrepair.go). Metadata format 1
// records no checksums: its files are always read remotely. Restore logs a summary: how many
// files and bytes came from the local copy and how many from remote storage.
//
// A backend that can use a local file directly (lsm hard-links a verified immutable file
// into its database directory instead of copying it) asks the reader for it through
// LocalFile, and a writer that holds the bytes of a file as a local file already (lsm's
// hard-linked checkpoint directory) links it into the local copy through the stream's
// LinkLocalCopy instead of writing it a second time.

// defaultLocalDir is the local copy's root when Options.LocalDirs is empty: as Flink's, under
// the temporary directory.
const defaultLocalDir = "streamstate-local-state"

// DefaultLocalDirs returns the roots of the local copy used when Options.LocalDirs is empty:
// one directory, streamstate-local-state under os.TempDir().
func DefaultLocalDirs() []string {
	return []string{filepath.Join(os.TempDir(), defaultLocalDir)}
}

// localCopy is the local copy of one job's checkpoint files.
type localCopy struct {
	roots []string // absolute: <local dir>/<job>-<storage hash>
	job   string   // "<job>/": the prefix of the storage names that are copied
	log   *slog.Logger
}

func newLocalCopy(dirs []string, st Storage, job string, log *slog.Logger) (*localCopy, error) {
	if len(dirs) == 0 {
		dirs = DefaultLocalDirs()
	}
	sum := sha256.Sum256([]byte(st.String()))
	name := job + "-" + hex.EncodeToString(sum[:4])
	l := &localCopy{job: job + "/", log: log}
	for _, d := range dirs {
		if strings.TrimSpace(d) == "" {
			return nil, errors.New("checkpoint: Options.LocalDirs holds an empty directory name; give absolute directories such as /var/lib/streamstate/local-state")
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: local recovery directory %s: %w", d, err)
		}
		root := filepath.Join(abs, name)
		if slices.Contains(l.roots, root) {
			continue
		}
		l.roots = append(l.roots, root)
	}
	return l, nil
}

// localRel returns the job-relative path of a storage name that has a local copy: a file
// under the job's directory other than a _metadata file, with a clean relative path.
func (l *localCopy) localRel(name string) (string, bool) {
	rel, ok := strings.CutPrefix(name, l.job)
	if !ok || path.Base(rel) == snapshot.MetadataName || !localPath(rel) {
		return "", false
	}
	return rel, true
}

// localPath reports whether a job-relative path may have a local copy: chk-<n>/<file> or
// shared/<file>, clean and relative (metadata paths are validated on decode; this keeps
// any other name from leading out of the local directory).
func localPath(rel string) bool {
	if rel == "" || path.Clean(rel) != rel || strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") || strings.HasPrefix(rel, "../") || rel == ".." {
		return false
	}
	return strings.HasPrefix(rel, snapshot.SharedDir) || strings.HasPrefix(rel, "chk-")
}

// root returns the local root a job-relative path belongs to.
func (l *localCopy) root(rel string) string {
	if len(l.roots) == 1 {
		return l.roots[0]
	}
	h := fnv.New32a()
	h.Write([]byte(rel))
	return l.roots[int(h.Sum32()%uint32(len(l.roots)))]
}

// file returns the local path of a job-relative path.
func (l *localCopy) file(rel string) string {
	return filepath.Join(l.root(rel), filepath.FromSlash(rel))
}

// remove deletes the local copy of a job-relative path and the directories that leaves
// empty, up to the job's local root. A missing file is no error.
func (l *localCopy) remove(rel string) {
	root := l.root(rel)
	p := filepath.Join(root, filepath.FromSlash(rel))
	_ = os.Remove(p + fingerprintSuffix)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.log.Warn("could not delete a local copy of a checkpoint file; the next start deletes it", "file", p, "error", err)
		return
	}
	for d := filepath.Dir(p); d != root && strings.HasPrefix(d, root); d = filepath.Dir(d) {
		if os.Remove(d) != nil { // not empty, or gone
			return
		}
	}
}

// sweep deletes every local file that referenced does not hold (job-relative paths), or that
// lies under another root than its path's (the dirs were changed), and then the empty
// directories. It runs at Open, before the job writes.
func (l *localCopy) sweep(referenced map[string]bool) {
	for _, root := range l.roots {
		var dirs []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				if p != root {
					dirs = append(dirs, p)
				}
				return nil
			}
			rel, rerr := filepath.Rel(root, p)
			if rerr == nil {
				rel = strings.TrimSuffix(filepath.ToSlash(rel), fingerprintSuffix) // a fingerprint goes with its file
				if referenced[rel] && l.root(rel) == root && d.Type().IsRegular() {
					return nil
				}
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		})
		if err != nil {
			l.log.Warn("could not delete all local copies of checkpoint files that no complete checkpoint references; the next start retries",
				"dir", root, "error", err)
		}
		for _, d := range slices.Backward(dirs) { // deepest first
			_ = os.Remove(d) // only if empty
		}
	}
}

// discard deletes the whole local copy of the job.
func (l *localCopy) discard() error {
	var errs []error
	for _, root := range l.roots {
		if err := os.RemoveAll(root); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fingerprintSuffix names the fingerprint beside a local copy: the size and CRC-32C of the
// bytes the checkpoint streamed to storage while the local copy was written (or linked). The
// stream's SHA-256 of the same bytes is what the metadata records for the file's (unique,
// random) path, so a local file that matches its fingerprint holds the bytes whose SHA-256
// the metadata records, barring damage that keeps the CRC-32C (odds 2^-32, for damage; see
// LocalReader.verify), and is verified at CRC-32C speed (hardware, ~10× SHA-256) instead of
// being hashed again.
const fingerprintSuffix = ".crc32c"

// castagnoli is the CRC-32C table (read-only).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeFingerprint returns the fingerprint file of a local copy: "crc32c <8 hex> <size>\n".
func encodeFingerprint(size int64, crc uint32) []byte {
	return fmt.Appendf(nil, "crc32c %08x %d\n", crc, size)
}

// readFingerprint reads the fingerprint file of the local copy p; ok is false if it is
// missing or does not parse (the copy is then verified by its SHA-256).
func readFingerprint(p string) (size int64, crc uint32, ok bool) {
	f, err := os.Open(p + fingerprintSuffix)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64))
	fields := strings.Fields(string(b))
	if len(fields) != 3 || fields[0] != "crc32c" || len(fields[1]) != 8 || len(b) >= 64 {
		return 0, 0, false
	}
	c, err1 := strconv.ParseUint(fields[1], 16, 32)
	n, err2 := strconv.ParseInt(fields[2], 10, 64)
	if err1 != nil || err2 != nil || n < 0 {
		return 0, 0, false
	}
	return n, uint32(c), true
}

// localStorage is the job's storage with the local copy maintained beside it: writes of the
// job's files are teed into the local copy, deletes delete the local copy too.
type localStorage struct {
	Storage
	l *localCopy
}

// Create implements Storage: a file of the job's checkpoints is also written locally.
func (s localStorage) Create(ctx context.Context, name string, ifNotExist bool) (Writer, error) {
	w, err := s.Storage.Create(ctx, name, ifNotExist)
	if err != nil {
		return nil, err
	}
	rel, ok := s.l.localRel(name)
	if !ok || ifNotExist {
		return w, nil
	}
	return &teeWriter{Writer: w, l: s.l, rel: rel, path: s.l.file(rel)}, nil
}

// Delete implements Storage: the local copy goes once the stored file is gone.
func (s localStorage) Delete(ctx context.Context, name string) error {
	if err := s.Storage.Delete(ctx, name); err != nil {
		return err
	}
	if rel, ok := s.l.localRel(name); ok {
		s.l.remove(rel)
	}
	return nil
}

// teeWriter writes a stored file and its local copy. The local file is created on the first
// write (or at Commit for an empty file) and closed before the stored file is committed, so a
// committed file's local copy is complete unless writing it failed; any failure of the local
// copy drops it (logged) and leaves the stored file alone.
type teeWriter struct {
	Writer
	l       *localCopy
	rel     string
	path    string
	f       *os.File
	linked  bool // the local copy is a hard link made by link; nothing more is written
	dropped bool // the local copy failed: nothing more is written to it
	wrote   bool // bytes have gone to the stored file
	crc     uint32
	size    int64
}

func (w *teeWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.wrote = w.wrote || n > 0
	if n > 0 {
		w.crc = crc32.Update(w.crc, castagnoli, p[:n])
		w.size += int64(n)
	}
	if n > 0 && !w.linked && !w.dropped {
		if w.f == nil {
			w.open()
		}
		if w.f != nil {
			if _, lerr := w.f.Write(p[:n]); lerr != nil {
				w.drop(lerr)
			}
		}
	}
	return n, err
}

// open creates the local file; a failure drops the local copy.
func (w *teeWriter) open() {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o700); err != nil {
		w.drop(err)
		return
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		w.drop(err)
		return
	}
	w.f = f
}

// drop gives up the local copy of this file after a failure.
func (w *teeWriter) drop(err error) {
	w.dropped = true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	_ = os.Remove(w.path)
	w.l.log.Warn("could not write the local copy of a checkpoint file; a restore reads it from checkpoint storage",
		"file", w.path, "error", err)
}

// link makes the local copy a hard link of src, a local file whose bytes are those that are
// about to be written, if nothing has been written yet. It reports whether it linked.
func (w *teeWriter) link(src string) bool {
	if w.wrote || w.f != nil || w.linked || w.dropped {
		return false
	}
	if err := os.MkdirAll(filepath.Dir(w.path), 0o700); err != nil {
		return false
	}
	if err := os.Link(src, w.path); err != nil {
		return false // another device, say: the bytes are written instead
	}
	w.linked = true
	return true
}

func (w *teeWriter) Commit() (int64, error) {
	if !w.linked && !w.dropped {
		if w.f == nil {
			w.open() // an empty file
		}
		if w.f != nil {
			err := w.f.Close()
			w.f = nil
			if err != nil {
				w.drop(err)
			}
		}
	}
	if !w.dropped {
		// Beside the file, not in it: what a restore checks before it hashes the whole file.
		if err := os.WriteFile(w.path+fingerprintSuffix, encodeFingerprint(w.size, w.crc), 0o600); err != nil {
			_ = os.Remove(w.path + fingerprintSuffix) // the restore verifies the SHA-256 instead
		}
	}
	n, err := w.Writer.Commit()
	if err != nil {
		w.removeLocal()
	}
	return n, err
}

func (w *teeWriter) Abort() {
	w.Writer.Abort()
	w.removeLocal()
}

func (w *teeWriter) removeLocal() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if !w.dropped {
		w.dropped = true
		w.l.remove(w.rel)
	}
}

// LinkLocalCopy makes the local copy of the file being written a hard link of src instead of
// a second copy of its bytes: src must be a file of the operating system's filesystem whose
// bytes are exactly those the caller then writes to the stream, and which is never modified
// (an lsm backend's SST in its hard-linked checkpoint directory). It must be called before
// the first Write. It reports whether it linked; false (no local recovery, a savepoint, src on
// another device than the local copy) changes nothing: the bytes written are copied as usual.
// Either way the stream's checksum is that of the bytes written, and a restore verifies the
// local copy against it before use.
func (s *stream) LinkLocalCopy(src string) bool {
	pw, ok := s.w.(*pendingWriter)
	if !ok {
		return false
	}
	tw, ok := pw.Writer.(*teeWriter)
	return ok && tw.link(src)
}

// sweepLocal deletes the local files no complete checkpoint references, at Open. If a
// checkpoint's metadata cannot be read for a reason other than damage (a storage outage),
// nothing is deleted: its files might be deleted wrongly.
func (c *Checkpoints) sweepLocal(ctx context.Context) {
	referenced := map[string]bool{}
	for _, id := range c.completed {
		m, err := readMetadata(ctx, c.st, c.jobDir(), chkDir(id))
		if unreadable(err) {
			continue
		}
		if err != nil {
			c.opts.Logger.Warn("not deleting unreferenced local copies of checkpoint files: a checkpoint's metadata could not be read", "checkpoint", id, "error", err)
			return
		}
		for _, f := range m.Files() {
			referenced[f.Path] = true
		}
	}
	c.local.sweep(referenced)
}

// LocalRecovery reports whether the job keeps a local copy of its checkpoints
// (Options.LocalRecovery), and the directories it keeps it in: one per local dir, each
// <local dir>/<job-id>-<storage hash>.
func (c *Checkpoints) LocalRecovery() (bool, []string) {
	if c.local == nil {
		return false, nil
	}
	return true, slices.Clone(c.local.roots)
}

// DiscardLocal deletes the job's local copy, as Flink does when a job terminates: call it when
// the job has ended for good (finished, stopped with a savepoint or canceled), never while a
// checkpoint is in progress. The checkpoints in storage are untouched; a later restore of them
// reads storage. Without local recovery it does nothing.
func (c *Checkpoints) DiscardLocal() error {
	if c.local == nil {
		return nil
	}
	if err := c.local.discard(); err != nil {
		return fmt.Errorf("checkpoint: discard the local copy of job %s: %w", c.job, err)
	}
	return nil
}

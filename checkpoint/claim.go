package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// Claim mode (Flink's execution.state-recovery.claim-mode: CLAIM): a job restored from a
// snapshot in its own checkpoint storage takes the snapshot over. Its checkpoints reference
// the snapshot's shared files where they are, in the adopted form
// (snapshot.AdoptedPrefix: "../<dir>/shared/<name>", relative to the job's directory), and the
// snapshot is deleted once a checkpoint of the job subsumes it: its metadata first, then every
// file of it that no retained checkpoint of the job references. The files still referenced
// are deleted by retention like the job's own shared files, once no retained checkpoint
// references them. As in Flink, the snapshot then belongs to the job: it must not be restored
// again, and its former job must not resume from it.

// ErrClaimOutsideStorage is returned (wrapped) when a snapshot to claim is not in the job's
// checkpoint storage: its files cannot be referenced from the job's checkpoints.
var ErrClaimOutsideStorage = errors.New("checkpoint: a snapshot restored in claim mode must be in the job's checkpoint storage")

// claimed is the snapshot a job claimed, until retention deletes it.
type claimed struct {
	dir  string // its directory, relative to the storage root: "other/chk-5/" or "savepoints/sp-1/"
	base string // what its metadata's paths are relative to: "other/" for a checkpoint, dir for a savepoint
	meta *snapshot.Metadata
}

// ClaimCheckpoint loads complete checkpoint id of job jobID from the job's checkpoint storage
// for a restore in claim mode. It returns the checkpoint's metadata with the paths of the
// incremental handles' shared files rewritten relative to this job's directory (adopted
// form, snapshot.AdoptedPrefix), so that the backends' checkpoints may reference them
// (backend.Options.Claim), and the snapshot.Reader that reads every path of that metadata.
// The checkpoint is deleted once a checkpoint of this job subsumes it (Retain). A checkpoint
// of this job itself is the job's already: it is returned as Load returns it, with the job's
// Reader, and retention treats it as any other. A job claims at most one snapshot, before
// its first checkpoint.
func (c *Checkpoints) ClaimCheckpoint(ctx context.Context, jobID string, id int64) (*snapshot.Metadata, snapshot.Reader, error) {
	if err := validJobID(jobID); err != nil {
		return nil, nil, err
	}
	if jobID == c.job {
		m, err := c.Load(ctx, id)
		return m, c.Reader(), err
	}
	other := &Checkpoints{st: c.st, job: jobID}
	m, err := other.Load(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return c.claim(&claimed{dir: other.jobDir() + chkDir(id), base: other.jobDir(), meta: m})
}

// ClaimSavepoint loads the savepoint in directory dir, a path relative to the root of the
// job's checkpoint storage ("savepoints/savepoint-1"), for a restore in claim mode, as
// ClaimCheckpoint does for a checkpoint. dir must not be the storage root nor lie in a job's
// directory.
func (c *Checkpoints) ClaimSavepoint(ctx context.Context, dir string) (*snapshot.Metadata, snapshot.Reader, error) {
	dir = strings.TrimSuffix(dir, "/")
	if err := snapshotValidDir(dir); err != nil {
		return nil, nil, fmt.Errorf("checkpoint: claim savepoint %q: %w", dir, err)
	}
	dir += "/"
	m, err := loadMetadata(ctx, c.st, dir, "")
	if err != nil {
		return nil, nil, err
	}
	if !m.Savepoint {
		return nil, nil, snapshot.Corrupt(dir+snapshot.MetadataName, "holds the metadata of checkpoint %d of job %s, not of a savepoint", m.CheckpointID, m.JobID)
	}
	return c.claim(&claimed{dir: dir, base: dir, meta: m})
}

// snapshotValidDir accepts clean relative directory paths of at least one element, none of
// them "." or "..", without backslashes.
func snapshotValidDir(dir string) error {
	if dir == "" || dir == "." {
		return errors.New("a savepoint directory below the storage root is needed, not the root itself")
	}
	for _, e := range strings.Split(dir, "/") {
		if e == "" || e == "." || e == ".." || strings.Contains(e, "\\") {
			return fmt.Errorf("directory element %q is not a plain name", e)
		}
	}
	return nil
}

func (c *Checkpoints) claim(cl *claimed) (*snapshot.Metadata, snapshot.Reader, error) {
	if strings.HasPrefix(cl.dir, c.jobDir()) {
		return nil, nil, fmt.Errorf("checkpoint: claim %s: it lies in the directory of job %s, whose own files its paths would shadow; restore it without claim mode", cl.dir, c.job)
	}
	out, r, err := c.adopt(cl.meta, cl.base)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed != nil {
		return nil, nil, fmt.Errorf("checkpoint: job %s has claimed %s already; a job claims one snapshot", c.job, c.claimed.dir)
	}
	c.claimed = cl
	return out, r, nil
}

// adopt returns a deep copy of m, whose paths are relative to base, in which the paths of the
// incremental handles' shared files are rewritten relative to the job's directory (the job's
// own files as they are, "shared/...", all others adopted), and the Reader of the copy's
// paths: the rewritten ones where they now point, the others relative to base as before.
// Only shared files are rewritten: they alone outlive a checkpoint and may be referenced by
// later ones; the other files keep the paths the validation of their handles expects.
func (c *Checkpoints) adopt(m *snapshot.Metadata, base string) (*snapshot.Metadata, snapshot.Reader, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	var out snapshot.Metadata
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, nil, err
	}
	r := claimReader{st: c.st, base: base, moved: map[string]string{}}
	for _, o := range out.Operators {
		for _, h := range o.Keyed {
			if h.Incremental == nil {
				continue
			}
			for i := range h.Incremental.Shared {
				p := &h.Incremental.Shared[i].Path
				root, err := storagePath(base, *p)
				if err != nil {
					return nil, nil, err
				}
				if own, ok := strings.CutPrefix(root, c.jobDir()); ok {
					*p = own
				} else {
					*p = snapshot.AdoptedPath(root)
				}
				r.moved[*p] = root
			}
		}
	}
	return &out, r, nil
}

// claimReader reads the metadata adopt returns: the rewritten paths at their place in
// storage, the others relative to the claimed snapshot's base.
type claimReader struct {
	st    Storage
	base  string
	moved map[string]string // rewritten path -> name in storage
}

func (r claimReader) ReadRange(ctx context.Context, p string, off, n int64) ([]byte, error) {
	name, ok := r.moved[p]
	if !ok {
		var err error
		if name, err = storagePath(r.base, p); err != nil {
			return nil, err
		}
	}
	return readParallel(ctx, r.st, name, off, n)
}

// storagePath returns the name in storage of p, a path of metadata whose paths are relative
// to base (a job's directory "<job>/", or a savepoint's directory, or "" for a savepoint at
// the root): base+p, or for an adopted path (snapshot.AdoptedPrefix) its path relative to the
// storage root, which only a checkpoint's metadata (base a job's directory) may hold. An
// adopted path whose elements could leave the storage root is corrupt.
func storagePath(base, p string) (string, error) {
	root, ok := snapshot.AdoptedRoot(p)
	if !ok {
		return base + p, nil
	}
	if base == "" || strings.Count(base, "/") != 1 || !strings.HasSuffix(base, "/") {
		return "", snapshot.Corrupt(base+p, "a path outside the snapshot's directory, which only a checkpoint's metadata may hold")
	}
	if err := snapshotValidDir(root); err != nil {
		return "", snapshot.Corrupt(p, "adopted path: %v", err)
	}
	return root, nil
}

// sharedRef reports whether a path of a checkpoint's metadata names a file that outlives
// the checkpoint: one of the job's shared files or an adopted one. Retention deletes those
// only when no retained checkpoint references them.
func sharedRef(p string) bool {
	return strings.HasPrefix(p, snapshot.SharedDir) || snapshot.IsAdopted(p)
}

// Claimed returns the directory (relative to the storage root) of the snapshot this job
// claimed and has not deleted yet, or "".
func (c *Checkpoints) Claimed() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed == nil {
		return ""
	}
	return c.claimed.dir
}

// retainClaimed deletes the claimed snapshot once it is subsumed: it counts as one retained
// checkpoint older than all of the job's, so it goes when the job has NumRetained complete
// checkpoints. Its metadata goes first, so a half-deleted snapshot never looks complete; then
// every file in its directory, and every file its metadata references elsewhere (a
// checkpoint's shared files), that no retained checkpoint of the job references. A retained
// checkpoint whose metadata cannot be read for a reason other than corruption (an outage)
// stops it: nothing is deleted, and the next Retain retries.
func (c *Checkpoints) retainClaimed(ctx context.Context) error {
	c.mu.Lock()
	cl := c.claimed
	n := len(c.completed)
	var keep []int64
	if n >= c.opts.NumRetained {
		keep = append(keep, c.completed[n-c.opts.NumRetained:]...)
	}
	c.mu.Unlock()
	if cl == nil || keep == nil {
		return nil
	}
	referenced := map[string]bool{}
	for _, id := range keep {
		m, err := readMetadata(ctx, c.st, c.jobDir(), chkDir(id))
		if unreadable(err) {
			continue
		}
		if err != nil {
			return err
		}
		for _, f := range m.Files() {
			if p, err := storagePath(c.jobDir(), f.Path); err == nil {
				referenced[p] = true
			}
		}
	}
	files, err := c.st.List(ctx, cl.dir)
	if err != nil {
		return err
	}
	meta := cl.dir + snapshot.MetadataName
	if err := c.st.Delete(ctx, meta); err != nil {
		return err
	}
	for _, f := range files {
		if f != meta && !referenced[f] {
			if err := c.st.Delete(ctx, f); err != nil {
				return err
			}
		}
	}
	for _, f := range cl.meta.Files() {
		p, err := storagePath(cl.base, f.Path)
		if err != nil || referenced[p] || strings.HasPrefix(p, cl.dir) || strings.HasPrefix(p, c.jobDir()) {
			continue // deleted above, still referenced, or the job's own (its retention decides)
		}
		if err := c.st.Delete(ctx, p); err != nil {
			return err
		}
	}
	c.opts.Logger.Info("deleted the claimed snapshot, subsumed by the job's checkpoints", "job", c.job, "snapshot", cl.dir, "checkpoint", cl.meta.CheckpointID)
	c.mu.Lock()
	c.claimed = nil
	c.mu.Unlock()
	return nil
}

// recoverClaim takes back the claimed snapshot of a job that stopped before deleting it: its
// latest complete checkpoint records it (snapshot.Metadata.Claimed). The snapshot's metadata is
// read again to know its files; if a crash came in the middle of its deletion (the metadata
// gone first), what is left in its directory is deleted all the same, while shared files of
// a claimed checkpoint outside its directory that only the lost metadata named stay. Nothing
// here fails Open: a snapshot that cannot be taken back is logged and left.
func (c *Checkpoints) recoverClaim(ctx context.Context) {
	if len(c.completed) == 0 {
		return
	}
	latest := c.completed[len(c.completed)-1]
	m, err := readMetadata(ctx, c.st, c.jobDir(), chkDir(latest))
	if err != nil || m.Claimed == "" {
		return
	}
	cl := &claimed{dir: m.Claimed, base: m.Claimed}
	dirIn := ""
	if job, chk, ok := strings.Cut(strings.TrimSuffix(m.Claimed, "/"), "/"); ok && validJobID(job) == nil {
		if id, ok := parseChkName(chk); ok && id > 0 {
			cl.base, dirIn = job+"/", chkDir(id)
		}
	}
	cm, err := readMetadata(ctx, c.st, cl.base, dirIn)
	switch {
	case err == nil:
		cl.meta = cm
	case errors.Is(err, snapshot.ErrMissing):
		cl.meta = &snapshot.Metadata{} // deleted halfway: the rest of its directory goes
	default:
		c.opts.Logger.Warn("cannot read the snapshot the job claimed; it is left in place", "job", c.job, "snapshot", m.Claimed, "error", err)
		return
	}
	c.claimed = cl
}

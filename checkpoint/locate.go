package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// LocationKind says what Locate found at a URL.
type LocationKind uint8

const (
	// AtSavepoint: the URL is a savepoint's directory, with its _metadata at the top.
	AtSavepoint LocationKind = iota + 1
	// AtCheckpoint: the URL is one checkpoint's directory, <root>/<job-id>/chk-<n>.
	AtCheckpoint
	// AtJob: the URL is one job's directory: chk-<n>/ directories right below it.
	AtJob
	// AtRoot: the URL is a checkpoint storage root (state.checkpoints.dir): <job-id>/chk-<n>/
	// below it, perhaps savepoint directories beside them, or nothing at all.
	AtRoot
)

// String names the kind for messages: "savepoint", "checkpoint", "job directory",
// "storage root".
func (k LocationKind) String() string {
	switch k {
	case AtSavepoint:
		return "savepoint"
	case AtCheckpoint:
		return "checkpoint"
	case AtJob:
		return "job directory"
	case AtRoot:
		return "storage root"
	}
	return fmt.Sprintf("LocationKind(%d)", uint8(k))
}

// OpenFunc opens the storage at a URL: blobstore.OpenURL, or a test's own. Locate takes it
// so that this package opens no storage driver itself.
type OpenFunc func(ctx context.Context, url string) (Storage, error)

// Location is what Locate found at a URL. The caller closes Storage.
type Location struct {
	Kind LocationKind
	// URL is where Storage was opened: the URL given to Locate, or for AtCheckpoint the
	// storage root two directories above it (its query kept), since a checkpoint's paths are
	// relative to its job's directory.
	URL     string
	Storage Storage
	// JobID and CheckpointID name the checkpoint (AtCheckpoint): JobID is the name of the
	// directory above chk-<n>, a valid job id.
	JobID        string
	CheckpointID int64
	// Metadata is the savepoint's metadata (AtSavepoint) and MetadataSize the size of its
	// _metadata file; when the file does not decode, Metadata is nil and MetadataErr says why
	// (wrapping snapshot.ErrCorrupt): a damaged savepoint is still a savepoint, to report on.
	Metadata     *snapshot.Metadata
	MetadataSize int64
	MetadataErr  error
	// Listing is what Scan found (AtJob, AtRoot), less what does not fit the layout: job
	// directories whose names are no valid job id, and savepoint directories named "." or
	// "..". At AtJob it holds the one job "" (chk-<n>/ at the top of Storage).
	Listing *Listing
}

// Locate says what is at url, reading and never writing: a savepoint, one checkpoint of a
// job, a job's checkpoints or a checkpoint storage root (see LocationKind), with the storage
// opened by open where the caller reads it next (Location.URL).
//
// A URL whose last directory is chk-<n> (n > 0) below a directory named like a job id is a
// checkpoint, whatever the storage holds: the checkpoint's metadata is the caller's to load
// (LoadCheckpoint with Location.JobID and CheckpointID) and to report missing. Otherwise the
// storage at url is read: a _metadata file at its top is a savepoint's (a checkpoint's
// metadata there, outside a chk-<n> directory, is an error: its paths are relative to a job's
// directory it is no longer in); without one, Scan tells a job's directory (chk-<n>/ at the
// top) from a storage root.
//
// Names read from the storage are untrusted: a job directory whose name is no valid job id
// (empty, ".", "..", with a slash or backslash) and savepoint directories "." and ".." are
// left out of the listing, so that no path built from a listing leaves the storage root.
// Errors name no URL (it may hold credentials): the caller adds the URL, redacted.
func Locate(ctx context.Context, url string, open OpenFunc) (*Location, error) {
	if url == "" {
		return nil, errors.New("checkpoint: empty URL")
	}
	if root, job, id, ok := checkpointURL(url); ok {
		st, err := open(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("open the storage root of checkpoint %d of job %s: %w", id, job, err)
		}
		return &Location{Kind: AtCheckpoint, URL: root, Storage: st, JobID: job, CheckpointID: id}, nil
	}
	st, err := open(ctx, url)
	if err != nil {
		return nil, err
	}
	loc := &Location{URL: url, Storage: st}
	b, err := st.ReadRange(ctx, snapshot.MetadataName, 0, snapshot.MaxMetadataSize+1)
	switch {
	case err == nil:
		m, derr := snapshot.DecodeMetadata(snapshot.MetadataName, b)
		if derr == nil && !m.Savepoint {
			st.Close()
			return nil, fmt.Errorf("checkpoint: %s holds the metadata of checkpoint %d of job %s, but is no chk-<n> directory of a job's directory, which its paths are relative to",
				snapshot.MetadataName, m.CheckpointID, m.JobID)
		}
		loc.Kind, loc.Metadata, loc.MetadataSize, loc.MetadataErr = AtSavepoint, m, int64(len(b)), derr
		return loc, nil
	case !errors.Is(err, snapshot.ErrMissing):
		st.Close()
		return nil, fmt.Errorf("read %s: %w", snapshot.MetadataName, err)
	}
	l, err := Scan(ctx, st)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("list: %w", err)
	}
	loc.Listing = trustedListing(l)
	loc.Kind = AtRoot
	if j := loc.Listing.Job(""); j != nil {
		loc.Kind = AtJob
		loc.Listing.Jobs = []JobListing{*j} // anything else is not in this layout
	}
	return loc, nil
}

// checkpointURL splits url = <root>/<job>/chk-<n>[/][?query] into the root (query kept),
// the job and n, if it has that shape with a valid job id and n > 0. A plain relative path
// "<job>/chk-<n>" has the root ".".
func checkpointURL(url string) (root, job string, id int64, ok bool) {
	base, query, hasQuery := strings.Cut(url, "?")
	base = strings.TrimSuffix(base, "/")
	i := strings.LastIndex(base, "/")
	if i < 0 {
		return "", "", 0, false
	}
	id, ok = parseChkName(base[i+1:])
	if !ok || id == 0 {
		return "", "", 0, false
	}
	jobDir := base[:i]
	j := strings.LastIndex(jobDir, "/")
	switch {
	case j >= 0:
		root, job = jobDir[:j], jobDir[j+1:]
		switch {
		case strings.HasSuffix(root, "://"): // scheme:///<job>/chk-<n>: the root is scheme:///
			root += "/"
		case strings.HasSuffix(root, ":/"): // scheme://<host>/chk-<n>: no directory above
			return "", "", 0, false
		}
	case strings.Contains(jobDir, ":"): // scheme://chk-<n> or similar: no job directory
		return "", "", 0, false
	default:
		root, job = ".", jobDir
	}
	if validJobID(job) != nil || root == "" {
		return "", "", 0, false
	}
	if hasQuery {
		root += "?" + query
	}
	return root, job, id, true
}

// trustedListing returns l without the entries whose names could lead out of the storage
// root when joined into a path.
func trustedListing(l *Listing) *Listing {
	out := &Listing{}
	for _, j := range l.Jobs {
		if j.JobID == "" || validJobID(j.JobID) == nil {
			out.Jobs = append(out.Jobs, j)
		}
	}
	for _, sp := range l.Savepoints {
		if sp != "./" && sp != "../" && !strings.Contains(sp, "\\") {
			out.Savepoints = append(out.Savepoints, sp)
		}
	}
	return out
}

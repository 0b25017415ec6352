package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// checkpointsCmd is `streamstate checkpoints`: look into checkpoint storage, as a Flink user
// looks into a checkpoint directory. Every subcommand is read-only: unlike a job restoring
// from the storage, it deletes nothing (not even the remains of checkpoints that never
// completed).
//
// The URL is one of
//
//   - a checkpoint storage root (state.checkpoints.dir): <job-id>/chk-<n>/_metadata below it;
//   - one job's directory: chk-<n>/_metadata below it;
//   - a savepoint's directory: _metadata at its top.
//
// What it is is detected from what the storage holds.
type checkpointsCmd struct {
	List     checkpointsListCmd     `cmd:"" help:"List the jobs under a checkpoint storage URL and, per job, the complete checkpoints (id, time, operators, files, size) and incomplete chk-<n> directories."`
	Inspect  checkpointsInspectCmd  `cmd:"" help:"Show one checkpoint or savepoint per operator: parallelism, keyed state handles (key groups, states, files, full or incremental), operator state handles, totals."`
	Validate checkpointsValidateCmd `cmd:"" help:"Verify checkpoints: metadata decodes, every file exists with its recorded size and is read in full to verify its SHA-256 checksum (the lsm backend's MANIFEST, OPTIONS and SST files included), every key-group block and operator state section reads and its CRC verifies. Exits non-zero on any problem."`
}

// ckLocation is what a URL given to the checkpoints commands points at.
type ckLocation struct {
	url string // as given, for messages
	st  checkpoint.Storage

	// savepoint: the URL is a savepoint's directory; spMeta is its metadata, or spErr why
	// it does not decode.
	savepoint bool
	spMeta    *snapshot.Metadata
	spSize    int64
	spErr     error

	// Otherwise listing is what the storage holds; jobDir reports that the URL is one job's
	// directory (its listing has the one job "", called jobName).
	listing *checkpoint.Listing
	jobDir  bool
	jobName string
}

// ckTarget is one checkpoint or savepoint to inspect or validate.
type ckTarget struct {
	desc   string // "checkpoint 3 of job demo", "savepoint"
	base   string // the directory its metadata's paths are relative to
	mdName string // the name of its _metadata in the storage
	jobID  string // the job it must belong to, if known
	id     int64  // the checkpoint id it must have (checkpoints only)
	isChk  bool
}

// openCheckpointLocation opens the storage at raw (without creating a directory) and
// detects what it holds.
func openCheckpointLocation(ctx context.Context, raw string) (*ckLocation, error) {
	if raw == "" {
		return nil, errors.New("empty checkpoint storage URL")
	}
	// Messages show the URL without credentials; loc.url is that form.
	shown := blobstore.RedactURL(raw)
	if dir, ok := localDir(raw); ok {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w; give the checkpoint directory (state.checkpoints.dir), a job's directory in it, or a savepoint's directory", shown, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is a file, not a directory; give the directory that holds it", shown)
		}
	}
	l, err := checkpoint.Locate(ctx, raw, openStorage)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	loc := &ckLocation{url: shown, st: l.Storage}
	switch l.Kind {
	case checkpoint.AtCheckpoint:
		l.Storage.Close()
		up := strings.TrimSuffix(urlDir(shown), "/")
		return nil, fmt.Errorf("%s is the directory of checkpoint %d of job %s, whose paths are relative to the job's directory; give that directory and the id: %s --id %d",
			shown, l.CheckpointID, l.JobID, up, l.CheckpointID)
	case checkpoint.AtSavepoint:
		loc.savepoint, loc.spMeta, loc.spSize, loc.spErr = true, l.Metadata, l.MetadataSize, l.MetadataErr
	case checkpoint.AtJob:
		loc.listing, loc.jobDir = l.Listing, true
		loc.jobName = loc.jobDirName(ctx, &l.Listing.Jobs[0])
	default:
		loc.listing = l.Listing
	}
	return loc, nil
}

// localDir returns the directory of a file:// URL or plain path, as openStorage resolves it.
func localDir(raw string) (string, bool) {
	if raw == "jobmanager" {
		return "", false
	}
	dir := raw
	if rest, ok := strings.CutPrefix(raw, "file://"); ok {
		dir, _, _ = strings.Cut(rest, "?")
	} else if strings.Contains(raw, "://") {
		return "", false
	}
	return filepath.FromSlash(dir), true
}

// joinURL returns raw with rel appended to its path (the query kept).
func joinURL(raw, rel string) string {
	base, query, hasQuery := strings.Cut(raw, "?")
	base = strings.TrimSuffix(base, "/") + "/" + rel
	if hasQuery {
		return base + "?" + query
	}
	return base
}

// urlDir returns raw with its last path element removed (the query kept).
func urlDir(raw string) string {
	base, query, hasQuery := strings.Cut(raw, "?")
	base = strings.TrimSuffix(base, "/")
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[:i]
	}
	if hasQuery {
		return base + "?" + query
	}
	return base
}

// jobDirName names the job whose directory the URL is: the job id recorded in its latest
// complete checkpoint, else the directory's name.
func (l *ckLocation) jobDirName(ctx context.Context, j *checkpoint.JobListing) string {
	ids := j.Completed()
	for i := len(ids) - 1; i >= 0; i-- {
		b, err := l.st.ReadRange(ctx, checkpoint.CheckpointDir{ID: ids[i]}.MetadataPath(), 0, snapshot.MaxMetadataSize+1)
		if err != nil {
			continue
		}
		if m, err := snapshot.DecodeMetadata("", b); err == nil && m.JobID != "" {
			return m.JobID
		}
	}
	p := strings.TrimSuffix(strings.SplitN(l.url, "?", 2)[0], "/")
	if u, err := url.Parse(p); err == nil && u.Path != "" {
		p = u.Path
	}
	return path.Base(p)
}

func (l *ckLocation) close() { _ = l.st.Close() }

// name returns the display name of a job of the listing.
func (l *ckLocation) name(j *checkpoint.JobListing) string {
	if j.JobID == "" {
		return l.jobName
	}
	return j.JobID
}

// jobs returns the jobs to look at: every job, or the one named job.
func (l *ckLocation) jobs(job string) ([]*checkpoint.JobListing, error) {
	var all []*checkpoint.JobListing
	for i := range l.listing.Jobs {
		all = append(all, &l.listing.Jobs[i])
	}
	if len(all) == 0 {
		return nil, l.nothingHere()
	}
	if job == "" {
		return all, nil
	}
	for _, j := range all {
		if l.name(j) == job {
			return []*checkpoint.JobListing{j}, nil
		}
	}
	if l.jobDir {
		return nil, fmt.Errorf("%s is the directory of job %s, not of job %s; drop --job or give the storage root", l.url, l.jobName, job)
	}
	return nil, fmt.Errorf("no checkpoints of job %s under %s; is the job id right? jobs found: %s", job, l.url, l.jobNames())
}

func (l *ckLocation) jobNames() string {
	var names []string
	for i := range l.listing.Jobs {
		names = append(names, l.name(&l.listing.Jobs[i]))
	}
	return strings.Join(names, ", ")
}

// nothingHere is the error for a storage without checkpoints, with the likeliest fix.
func (l *ckLocation) nothingHere() error {
	switch {
	case strings.HasPrefix(l.url, "mem://") || l.url == "jobmanager":
		return fmt.Errorf("no checkpoints under %s: this storage lives in the memory of the process that wrote it and is empty in any other; give the file:// or s3:// URL the job checkpoints to", l.url)
	case len(l.listing.Savepoints) > 0:
		var sps []string
		for _, s := range l.listing.Savepoints {
			sps = append(sps, joinURL(l.url, strings.TrimSuffix(s, "/")))
		}
		return fmt.Errorf("no checkpoints under %s, only savepoints; give a savepoint's directory: %s", l.url, strings.Join(sps, ", "))
	}
	return fmt.Errorf("no checkpoints under %s: expected <job-id>/chk-<n>/_metadata below it; is it the checkpoint directory (state.checkpoints.dir) of the job?", l.url)
}

// targets returns the checkpoints to look at: of each job (or the one named), checkpoint id
// if given, else every complete checkpoint if all, else the latest complete one. For a
// savepoint it is the savepoint.
func (l *ckLocation) targets(job string, id *int64, all bool) ([]ckTarget, error) {
	if l.savepoint {
		if id != nil || all {
			return nil, fmt.Errorf("%s is a savepoint's directory; --id and --all select checkpoints of a job's directory", l.url)
		}
		if job != "" && l.spMeta != nil && l.spMeta.JobID != job {
			return nil, fmt.Errorf("%s is a savepoint of job %s, not of job %s", l.url, l.spMeta.JobID, job)
		}
		return []ckTarget{{desc: "savepoint " + l.url, mdName: snapshot.MetadataName}}, nil
	}
	jobs, err := l.jobs(job)
	if err != nil {
		return nil, err
	}
	if id != nil && len(jobs) > 1 {
		return nil, fmt.Errorf("%s holds the checkpoints of several jobs (%s); pick one with --job", l.url, l.jobNames())
	}
	var out []ckTarget
	for _, j := range jobs {
		name := l.name(j)
		completed := j.Completed()
		var ids []int64
		switch {
		case id != nil:
			i := slices.IndexFunc(j.Checkpoints, func(c checkpoint.CheckpointDir) bool { return c.ID == *id })
			if i < 0 {
				return nil, fmt.Errorf("no checkpoint %d of job %s under %s; complete checkpoints: %s", *id, name, l.url, idList(completed))
			}
			if !j.Checkpoints[i].Complete {
				return nil, fmt.Errorf("checkpoint %d of job %s under %s is incomplete (chk-%d has no _metadata); complete checkpoints: %s",
					*id, name, l.url, *id, idList(completed))
			}
			ids = []int64{*id}
		case len(completed) == 0:
			return nil, fmt.Errorf("job %s under %s has no complete checkpoint (incomplete: %s): it has not completed one yet, or failed before it did",
				name, l.url, idList(incompleteIDs(j)))
		case all:
			ids = completed
		default:
			ids = completed[len(completed)-1:]
		}
		for _, id := range ids {
			out = append(out, ckTarget{
				desc:   fmt.Sprintf("checkpoint %d of job %s", id, name),
				base:   j.Dir(),
				mdName: j.Dir() + checkpoint.CheckpointDir{ID: id}.MetadataPath(),
				jobID:  name,
				id:     id,
				isChk:  true,
			})
		}
	}
	return out, nil
}

func incompleteIDs(j *checkpoint.JobListing) []int64 {
	var ids []int64
	for _, c := range j.Checkpoints {
		if !c.Complete {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

func idList(ids []int64) string {
	if len(ids) == 0 {
		return "none"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ", ")
}

// load reads and decodes the metadata of t, checks that it is the checkpoint its directory
// says, and returns it with the size of the _metadata file. Problems are errors naming the
// file (wrapping ErrCorrupt or ErrMissing).
func (l *ckLocation) load(ctx context.Context, t ckTarget) (*snapshot.Metadata, int64, error) {
	if !t.isChk {
		if l.spErr != nil {
			return nil, 0, l.spErr
		}
		return l.spMeta, l.spSize, nil
	}
	b, err := l.st.ReadRange(ctx, t.mdName, 0, snapshot.MaxMetadataSize+1)
	if err != nil {
		return nil, 0, err
	}
	m, err := snapshot.DecodeMetadata(t.mdName, b)
	if err != nil {
		return nil, 0, err
	}
	if m.CheckpointID != t.id || (t.jobID != "" && m.JobID != t.jobID) || m.Savepoint {
		return nil, 0, &snapshot.FileError{Path: t.mdName, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf(
			"it holds the metadata of %s %d of job %s, where checkpoint %d of job %s belongs", kindName(m), m.CheckpointID, m.JobID, t.id, t.jobID)}
	}
	return m, int64(len(b)), nil
}

func kindName(m *snapshot.Metadata) string {
	if m.Savepoint {
		return "savepoint"
	}
	return "checkpoint"
}

// metadataFiles returns the number of distinct files m references and their total size.
func metadataFiles(m *snapshot.Metadata) (int, int64) {
	seen := map[string]bool{}
	var n int64
	for _, f := range m.Files() {
		if !seen[f.Path] {
			seen[f.Path] = true
			n += f.Size
		}
	}
	return len(seen), n
}

// problemText describes a problem with a file as "<file>: <what>: <detail>".
func problemText(err error) string {
	var fe *snapshot.FileError
	if !errors.As(err, &fe) {
		return err.Error()
	}
	what := fe.Err.Error()
	switch {
	case errors.Is(fe.Err, snapshot.ErrCorrupt):
		what = "corrupt"
	case errors.Is(fe.Err, snapshot.ErrMissing) && (fe.Detail == "" || strings.HasPrefix(fe.Detail, "in ")):
		what = "does not exist"
	case errors.Is(fe.Err, snapshot.ErrMissing):
		what = "missing bytes"
	}
	if fe.Detail == "" {
		return fe.Path + ": " + what
	}
	return fe.Path + ": " + what + ": " + fe.Detail
}

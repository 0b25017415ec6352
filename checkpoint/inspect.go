package checkpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// Read-only inspection of checkpoint storage, for tools: what Scan finds in a storage and
// what Check verifies of one checkpoint or savepoint. Neither writes or deletes anything
// (unlike Open, which deletes the directories of checkpoints that never completed).

// Listing is what Scan found in a storage.
type Listing struct {
	// Jobs are the jobs with at least one chk-<n> directory, by job id.
	Jobs []JobListing
	// Savepoints are the directories, other than checkpoint directories, that hold a
	// _metadata file at their top: "" for the storage's root, else a name ending in "/".
	// Only the root and its direct subdirectories are considered.
	Savepoints []string
}

// Job returns the listing of the job with the given id, or nil.
func (l *Listing) Job(id string) *JobListing {
	for i := range l.Jobs {
		if l.Jobs[i].JobID == id {
			return &l.Jobs[i]
		}
	}
	return nil
}

// JobListing is one job's checkpoint directories.
type JobListing struct {
	// JobID is the name of the job's directory, or "" for checkpoint directories at the
	// root of the storage (the storage is then a job's directory).
	JobID string
	// Checkpoints are the job's chk-<n> directories by ascending id.
	Checkpoints []CheckpointDir
}

// Dir returns the job's directory relative to the storage root: "<job-id>/", or "".
func (j *JobListing) Dir() string {
	if j.JobID == "" {
		return ""
	}
	return j.JobID + "/"
}

// Completed returns the ids of the complete checkpoints, ascending.
func (j *JobListing) Completed() []int64 {
	var ids []int64
	for _, c := range j.Checkpoints {
		if c.Complete {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// CheckpointDir is one chk-<n> directory of a job.
type CheckpointDir struct {
	ID int64
	// Complete reports whether the directory holds its _metadata: only then does the
	// checkpoint exist. An incomplete directory is a checkpoint in progress, or the remains of
	// one that failed before its metadata was written (Open deletes those).
	Complete bool
	// Files is the number of objects in the directory, the _metadata included.
	Files int
}

// MetadataPath returns the name of the checkpoint's _metadata file relative to its job's
// directory.
func (c CheckpointDir) MetadataPath() string { return chkDir(c.ID) + snapshot.MetadataName }

// Scan lists the checkpoint layout of st without changing anything: every
// <job-id>/chk-<n>/ directory (or chk-<n>/ at the root, when st is a job's directory) and
// whether it holds its _metadata, and the directories that hold a savepoint. It lists every
// object of the storage once.
func Scan(ctx context.Context, st Storage) (*Listing, error) {
	names, err := st.List(ctx, "")
	if err != nil {
		return nil, err
	}
	type key struct {
		job string
		id  int64
	}
	dirs := map[key]*CheckpointDir{}
	savepoints := map[string]bool{}
	for _, n := range names {
		parts := strings.Split(n, "/")
		job, rest := "", parts
		if _, ok := parseChkName(parts[0]); !ok && len(parts) > 2 {
			if _, ok := parseChkName(parts[1]); ok {
				job, rest = parts[0], parts[1:]
			}
		}
		id, ok := parseChkName(rest[0])
		if !ok || len(rest) < 2 {
			switch {
			case len(parts) == 1 && parts[0] == snapshot.MetadataName:
				savepoints[""] = true
			case len(parts) == 2 && parts[1] == snapshot.MetadataName:
				savepoints[parts[0]+"/"] = true
			}
			continue
		}
		d := dirs[key{job, id}]
		if d == nil {
			d = &CheckpointDir{ID: id}
			dirs[key{job, id}] = d
		}
		d.Files++
		if len(rest) == 2 && rest[1] == snapshot.MetadataName {
			d.Complete = true
		}
	}
	l := &Listing{Savepoints: slices.Sorted(maps.Keys(savepoints))}
	jobs := map[string][]CheckpointDir{}
	for k, d := range dirs {
		jobs[k.job] = append(jobs[k.job], *d)
	}
	for job, cs := range jobs {
		slices.SortFunc(cs, func(a, b CheckpointDir) int { return cmp.Compare(a.ID, b.ID) })
		l.Jobs = append(l.Jobs, JobListing{JobID: job, Checkpoints: cs})
	}
	slices.SortFunc(l.Jobs, func(a, b JobListing) int { return strings.Compare(a.JobID, b.JobID) })
	return l, nil
}

// parseChkName returns n for a directory name "chk-<n>" in its canonical spelling.
func parseChkName(s string) (int64, bool) {
	num, ok := strings.CutPrefix(s, "chk-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != num {
		return 0, false
	}
	return id, true
}

// CheckReport is what Check verified and found wrong.
type CheckReport struct {
	// Files is the number of distinct files the metadata references, Bytes the sum of
	// their recorded sizes.
	Files int
	Bytes int64
	// Unverified is the number of those files that have no checksum (metadata format 1,
	// snapshot.MetadataVersionNoChecksums): they were checked by size and, in streamstate's own
	// formats, by the CRC-32C of every block or section, but database files of incremental
	// handles by size only.
	Unverified int
	// Problems holds one error per bad file: a *snapshot.FileError naming the file by its name in
	// the storage and wrapping snapshot.ErrCorrupt (bad bytes, a size larger than recorded),
	// snapshot.ErrMissing (absent, or shorter than recorded) or the storage's error.
	Problems []error
}

// OK reports whether Check found no problem.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// checkChunk bounds the bytes of one full snapshot file Check holds in memory at once.
const checkChunk = 32 << 20

// Check verifies, without changing anything, the files of the checkpoint or savepoint m,
// whose paths are relative to base in st (a job's directory "<job-id>/" for a checkpoint, the
// savepoint's directory for a savepoint): every file exists with its recorded size and is read
// in full to verify its recorded checksum (SHA-256); every block of every keyed state handle
// in the full format (and of the extra records of incremental handles) reads and its CRC-32C
// verifies; every section of every operator state handle reads and verifies. Files of
// metadata format 1 have no checksum (counted in CheckReport.Unverified): the database files
// of its incremental handles are checked for existence and size only. A bad file is reported
// once, in the report, and Check goes on with the next; the error is only that of ctx.
func Check(ctx context.Context, st Storage, base string, m *snapshot.Metadata) (*CheckReport, error) {
	rep := &CheckReport{}
	bad := map[string]bool{} // files with a problem already reported
	report := func(ref snapshot.FileRef, err error) {
		if !bad[ref.Path] {
			bad[ref.Path] = true
			rep.Problems = append(rep.Problems, fileProblem(base, ref.Path, err))
		}
	}

	// Every file: exists, with its recorded size.
	sizes := map[string]int64{}
	for _, f := range m.Files() {
		if s, seen := sizes[f.Path]; seen {
			if s != f.Size {
				report(f, snapshot.Corrupt(f.Path, "the metadata records it with sizes %d and %d", s, f.Size))
			}
			continue
		}
		sizes[f.Path] = f.Size
		rep.Files++
		rep.Bytes += f.Size
		name, err := storagePath(base, f.Path)
		size := int64(0)
		if err == nil {
			size, err = st.Size(ctx, name)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		switch {
		case err != nil:
			report(f, err)
		case size < f.Size:
			report(f, &snapshot.FileError{Path: f.Path, Err: snapshot.ErrMissing, Detail: fmt.Sprintf("truncated: has %d bytes, the metadata says %d", size, f.Size)})
		case size > f.Size:
			report(f, snapshot.Corrupt(f.Path, "has %d bytes, the metadata says %d", size, f.Size))
		}
	}

	// The contents of the files in streamstate's own formats.
	r := NewReader(st, base)
	for _, o := range m.Operators {
		for _, h := range o.Keyed {
			fulls := []*snapshot.KeyedStateHandle{h}
			if h.Incremental != nil { // the extra records, or a hashmap chain's base and deltas
				fulls = append([]*snapshot.KeyedStateHandle{h.Incremental.Extra}, h.Incremental.Chain...)
			}
			for _, full := range fulls {
				if full == nil || bad[full.File.Path] {
					continue
				}
				if err := checkFull(ctx, r, full); err != nil {
					if ctx.Err() != nil {
						return rep, ctx.Err()
					}
					report(full.File, err)
				}
			}
		}
		for _, h := range o.Operator {
			if bad[h.File.Path] {
				continue
			}
			if _, err := snapshot.ReadOperatorSections(ctx, r, h, nil); err != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				report(h.File, err)
			}
		}
	}

	// Every file in full, against its checksum: the database files of incremental handles,
	// and the files above whose blocks and sections all verified (a file of the same layout
	// from another checkpoint passes those).
	verified := map[string]bool{}
	for _, f := range m.Files() {
		if verified[f.Path] {
			continue
		}
		verified[f.Path] = true
		if f.SHA256 == "" {
			rep.Unverified++
			continue
		}
		if bad[f.Path] {
			continue
		}
		if err := verifyFile(ctx, r, f); err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			report(f, err)
		}
	}

	return rep, nil
}

// checkFull reads every key group of h, in chunks of at most checkChunk bytes.
func checkFull(ctx context.Context, r snapshot.Reader, h *snapshot.KeyedStateHandle) error {
	rng := h.KeyGroupRange
	noop := func(int, *snapshot.Record) error { return nil }
	if len(h.Blocks) != rng.Len() {
		return snapshot.ReadKeyGroups(ctx, r, h, rng, noop) // reports the mismatch
	}
	for start := rng.Start; start <= rng.End; {
		end, first := start, h.Blocks[start-rng.Start].Offset
		for end < rng.End {
			b := h.Blocks[end+1-rng.Start]
			if b.Offset+b.Length-first > checkChunk {
				break
			}
			end++
		}
		if err := snapshot.ReadKeyGroups(ctx, r, h, keygroup.Range{Start: start, End: end}, noop); err != nil {
			return err
		}
		start = end + 1
	}
	return nil
}

// verifyFile reads the file f in chunks of at most checkChunk bytes and verifies its size and
// checksum.
func verifyFile(ctx context.Context, r snapshot.Reader, f snapshot.FileRef) error {
	h := snapshot.NewFileHasher()
	for off := int64(0); off < f.Size; {
		n := min(int64(checkChunk), f.Size-off)
		b, err := r.ReadRange(ctx, f.Path, off, n)
		if err != nil {
			return err
		}
		_, _ = h.Write(b)
		if int64(len(b)) != n {
			break // Verify reports the missing bytes
		}
		off += n
	}
	return h.Verify(f)
}

// fileProblem returns err as a *snapshot.FileError that names the file base+rel.
func fileProblem(base, rel string, err error) error {
	var fe *snapshot.FileError
	if errors.As(err, &fe) {
		if fe.Path == rel && base != "" {
			return &snapshot.FileError{Path: base + rel, Err: fe.Err, Detail: fe.Detail}
		}
		return fe
	}
	return &snapshot.FileError{Path: base + rel, Err: err}
}

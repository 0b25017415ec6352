package main

import (
	"fmt"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// checkpointsValidateCmd is `streamstate checkpoints validate`.
type checkpointsValidateCmd struct {
	URL string `arg:"" name:"url" help:"Checkpoint storage root (file://DIR, a directory, s3://bucket/prefix?...), one job's directory, or a savepoint's directory."`
	Job string `name:"job" placeholder:"ID" help:"Only the checkpoints of this job. Default: every job."`
	ID  *int64 `name:"id" placeholder:"N" xor:"which" help:"The checkpoint to verify. Default: the latest complete checkpoint of each job (or the savepoint at the URL)."`
	All bool   `name:"all" xor:"which" help:"Verify every complete checkpoint."`
}

// Run implements `checkpoints validate`.
func (c *checkpointsValidateCmd) Run(e *env) error {
	loc, err := openCheckpointLocation(e.Ctx, c.URL)
	if err != nil {
		return err
	}
	defer loc.close()
	ts, err := loc.targets(c.Job, c.ID, c.All)
	if err != nil {
		return err
	}
	out := e.Out
	var files, badTargets, problems int
	var bytes int64
	for _, t := range ts {
		var ps []error
		m, mdSize, err := loc.load(e.Ctx, t)
		if err != nil {
			ps = []error{err}
		} else {
			rep, err := checkpoint.Check(e.Ctx, loc.st, t.base, m)
			if err != nil {
				return err
			}
			ps = rep.Problems
			files += rep.Files + 1 // and the _metadata
			bytes += rep.Bytes + mdSize
			if len(ps) == 0 {
				fmt.Fprintf(out, "%s: ok, _metadata and %d file%s, %s%s\n", t.desc, rep.Files, plural(rep.Files), formatBytes(rep.Bytes+mdSize), unverifiedNote(rep))
				continue
			}
		}
		badTargets++
		problems += len(ps)
		fmt.Fprintf(out, "%s: %d problem%s\n", t.desc, len(ps), plural(len(ps)))
		for _, p := range ps {
			fmt.Fprintf(out, "  %s\n", problemText(p))
		}
	}
	what := "checkpoint" + plural(len(ts))
	if loc.savepoint {
		what = "savepoint"
	}
	if problems > 0 {
		return fmt.Errorf("%d problem%s in %d of %d %s under %s (listed above)",
			problems, plural(problems), badTargets, len(ts), what, loc.url)
	}
	_, err = fmt.Fprintf(out, "OK: %d %s valid under %s: %d files, %s (%d bytes) checked\n",
		len(ts), what, loc.url, files, formatBytes(bytes), bytes)
	return err
}

// unverifiedNote says how many files of a report have no checksum to verify (metadata format
// 1), or nothing.
func unverifiedNote(rep *checkpoint.CheckReport) string {
	if rep.Unverified == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d file%s without a checksum, metadata format %d: checked by size and block checksums only)",
		rep.Unverified, plural(rep.Unverified), snapshot.MetadataVersionNoChecksums)
}

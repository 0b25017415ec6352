package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// checkpointsListCmd is `streamstate checkpoints list`.
type checkpointsListCmd struct {
	URL string `arg:"" name:"url" help:"Checkpoint storage root (file://DIR, a directory, s3://bucket/prefix?...), one job's directory, or a savepoint's directory."`
	Job string `name:"job" placeholder:"ID" help:"Only the checkpoints of this job."`
}

// Run implements `checkpoints list`.
func (c *checkpointsListCmd) Run(e *env) error {
	loc, err := openCheckpointLocation(e.Ctx, c.URL)
	if err != nil {
		return err
	}
	defer loc.close()
	out := e.Out
	if loc.savepoint {
		if c.Job != "" && loc.spMeta != nil && loc.spMeta.JobID != c.Job {
			return fmt.Errorf("%s is a savepoint of job %s, not of job %s", loc.url, loc.spMeta.JobID, c.Job)
		}
		fmt.Fprintf(out, "%s is a savepoint\n", loc.url)
		tw := newTable(out)
		fmt.Fprintln(tw, "  \tID\tTIME\tTYPE\tJOB\tOPERATORS\tFILES\tSIZE\t")
		fmt.Fprint(tw, " ")
		listRow(tw, "", loc.spMeta, loc.spErr)
		return tw.Flush()
	}
	var jobs []*checkpoint.JobListing
	if len(loc.listing.Jobs) > 0 || c.Job != "" || len(loc.listing.Savepoints) == 0 {
		if jobs, err = loc.jobs(c.Job); err != nil {
			return err
		}
	}
	if loc.jobDir {
		fmt.Fprintf(out, "%s is the directory of job %s\n", loc.url, loc.jobName)
	}
	for i, j := range jobs {
		if i > 0 || loc.jobDir {
			fmt.Fprintln(out)
		}
		completed, incomplete := len(j.Completed()), len(j.Checkpoints)-len(j.Completed())
		fmt.Fprintf(out, "job %s: %d complete checkpoint%s", loc.name(j), completed, plural(completed))
		if incomplete > 0 {
			fmt.Fprintf(out, ", %d incomplete", incomplete)
		}
		fmt.Fprintln(out)
		tw := newTable(out)
		fmt.Fprintln(tw, "  ID\tTIME\tTYPE\tOPERATORS\tFILES\tSIZE\t")
		for _, cd := range j.Checkpoints {
			if !cd.Complete {
				fmt.Fprintf(tw, "  %d\t-\tINCOMPLETE\t-\t%d\t-\tchk-%d has no _metadata: in progress, or failed before completing\n", cd.ID, cd.Files, cd.ID)
				continue
			}
			m, _, err := loc.load(e.Ctx, ckTarget{mdName: j.Dir() + cd.MetadataPath(), jobID: loc.name(j), id: cd.ID, isChk: true})
			listRow(tw, strconv.FormatInt(cd.ID, 10), m, err)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if c.Job == "" && len(loc.listing.Savepoints) > 0 {
		if len(jobs) > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintln(out, "savepoints:")
		tw := newTable(out)
		fmt.Fprintln(tw, "  DIRECTORY \tID\tTIME\tTYPE\tJOB\tOPERATORS\tFILES\tSIZE\t")
		for _, sp := range loc.listing.Savepoints {
			name := sp + snapshot.MetadataName
			var m *snapshot.Metadata
			b, err := loc.st.ReadRange(e.Ctx, name, 0, snapshot.MaxMetadataSize+1)
			if err == nil {
				m, err = snapshot.DecodeMetadata(name, b)
			}
			fmt.Fprintf(tw, "  %s", sp)
			listRow(tw, "", m, err)
		}
		return tw.Flush()
	}
	return nil
}

// listRow writes the table row of a complete checkpoint (id given) or, after the first cell,
// of a savepoint (id "").
func listRow(tw io.Writer, id string, m *snapshot.Metadata, err error) {
	if err != nil {
		if id == "" {
			fmt.Fprintf(tw, " \t-\t-\tUNREADABLE\t-\t-\t-\t-\t%s\n", problemText(err))
		} else {
			fmt.Fprintf(tw, "  %s\t-\tUNREADABLE\t-\t-\t-\t%s\n", id, problemText(err))
		}
		return
	}
	files, bytes := metadataFiles(m)
	if id == "" {
		fmt.Fprintf(tw, " \t%d\t%s\t%s\t%s\t%d\t%d\t%s\t\n", m.CheckpointID, formatTimestamp(m.TimestampMs), kindName(m), orDash(m.JobID), len(m.Operators), files, formatBytes(bytes))
		return
	}
	fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%s\t\n", id, formatTimestamp(m.TimestampMs), kindName(m), len(m.Operators), files, formatBytes(bytes))
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// checkpointsInspectCmd is `streamstate checkpoints inspect`.
type checkpointsInspectCmd struct {
	URL  string `arg:"" name:"url" help:"Checkpoint storage root (file://DIR, a directory, s3://bucket/prefix?...), one job's directory, or a savepoint's directory."`
	Job  string `name:"job" placeholder:"ID" help:"The job whose checkpoint to show; needed when the storage holds several."`
	ID   *int64 `name:"id" placeholder:"N" help:"The checkpoint to show. Default: the latest complete checkpoint (or the savepoint at the URL)."`
	JSON bool   `name:"json" help:"Print the checkpoint's metadata as JSON."`
}

// Run implements `checkpoints inspect`.
func (c *checkpointsInspectCmd) Run(e *env) error {
	loc, err := openCheckpointLocation(e.Ctx, c.URL)
	if err != nil {
		return err
	}
	defer loc.close()
	ts, err := loc.targets(c.Job, c.ID, false)
	if err != nil {
		return err
	}
	if len(ts) > 1 {
		return fmt.Errorf("%s holds the checkpoints of several jobs (%s); pick one with --job", loc.url, loc.jobNames())
	}
	t := ts[0]
	m, _, err := loc.load(e.Ctx, t)
	if err != nil {
		return fmt.Errorf("%s under %s: %w; `streamstate checkpoints validate` checks it in full", t.desc, loc.url, err)
	}
	if c.JSON {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.Out, "%s\n", b)
		return err
	}
	printMetadata(e.Out, loc.url, t, m)
	return nil
}

// printMetadata writes the human-readable description of m.
func printMetadata(out io.Writer, root string, t ckTarget, m *snapshot.Metadata) {
	what := fmt.Sprintf("checkpoint %d of job %s", m.CheckpointID, orDash(m.JobID))
	if m.Savepoint {
		what = fmt.Sprintf("savepoint of job %s (checkpoint id %d)", orDash(m.JobID), m.CheckpointID)
	}
	fmt.Fprintf(out, "%s, taken %s; metadata %s (format version %d)\n", what, formatTimestamp(m.TimestampMs), joinURL(root, t.mdName), m.Version)
	fmt.Fprintf(out, "file paths are relative to %s\n", joinURL(root, t.base))
	fmt.Fprintf(out, "keyed state format: %s\n", keyedFormat(m))
	var keyed, full, incremental, opHandles int
	for _, o := range m.Operators {
		fmt.Fprintf(out, "\noperator %s: parallelism %d, max parallelism %d, %d keyed state handle%s, %d operator state handle%s\n",
			o.ID, o.Parallelism, o.MaxParallelism, len(o.Keyed), plural(len(o.Keyed)), len(o.Operator), plural(len(o.Operator)))
		for i, h := range o.Keyed {
			keyed++
			fmt.Fprintf(out, "  keyed state handle %d: key groups %v (%d), key serializer %s\n", i, h.KeyGroupRange, h.KeyGroupRange.Len(), orDash(h.KeySerializer))
			printStates(out, "    ", h.States)
			if h.Incremental == nil {
				full++
				fmt.Fprintf(out, "    full snapshot: %s, %s, %d key-group blocks, compression %s\n", h.File.Path, formatBytes(h.File.Size), len(h.Blocks), compressionName(h.Compression))
				continue
			}
			incremental++
			ih := h.Incremental
			if len(ih.Chain) > 0 {
				fmt.Fprintf(out, "    incremental (%s): a base and %d delta%s\n", ih.Backend, len(ih.Chain)-1, plural(len(ih.Chain)-1))
				tw := newTable(out)
				for j, c := range ih.Chain {
					kind := "base"
					if c.Delta {
						kind = fmt.Sprintf("delta %d", j)
					}
					fmt.Fprintf(tw, "      %s\t%s\t%s\t%d key-group blocks\n", kind, formatBytes(c.File.Size), c.File.Path, len(c.Blocks))
				}
				_ = tw.Flush()
				continue
			}
			fmt.Fprintf(out, "    incremental (%s): %d shared file%s (%s), %d private file%s (%s)\n", ih.Backend,
				len(ih.Shared), plural(len(ih.Shared)), formatBytes(incrementalSize(ih.Shared)),
				len(ih.Private), plural(len(ih.Private)), formatBytes(incrementalSize(ih.Private)))
			tw := newTable(out)
			for _, f := range ih.Shared {
				fmt.Fprintf(tw, "      shared\t%s\t%s\t%s\n", f.Name, formatBytes(f.Size), f.Path)
			}
			for _, f := range ih.Private {
				fmt.Fprintf(tw, "      private\t%s\t%s\t%s\n", f.Name, formatBytes(f.Size), f.Path)
			}
			_ = tw.Flush()
			if x := ih.Extra; x != nil {
				fmt.Fprintf(out, "    extra records (full format): %s, %s, %d key-group blocks, compression %s\n", x.File.Path, formatBytes(x.File.Size), len(x.Blocks), compressionName(x.Compression))
				printStates(out, "      ", x.States)
			}
		}
		for _, h := range o.Operator {
			opHandles++
			fmt.Fprintf(out, "  operator state of subtask %d of %d: %s, %s\n", h.Subtask, h.Parallelism, h.File.Path, formatBytes(h.File.Size))
			for _, s := range h.States {
				ser := s.Value
				if s.UserKey != "" {
					ser = s.UserKey + " -> " + s.Value
				}
				items := "elements"
				if s.Mode == snapshot.ModeBroadcast {
					items = "entries"
				}
				fmt.Fprintf(out, "    %s: %s, %d %s, serializer %s, %s\n", s.Name, s.Mode, s.Count, items, ser, formatBytes(s.Length))
			}
		}
	}
	files, bytes := metadataFiles(m)
	fmt.Fprintf(out, "\ntotal: %d operator%s, %d keyed state handle%s (%d full, %d incremental), %d operator state handle%s, %d file%s, %s (%d bytes)\n",
		len(m.Operators), plural(len(m.Operators)), keyed, plural(keyed), full, incremental, opHandles, plural(opHandles),
		files, plural(files), formatBytes(bytes), bytes)
}

func printStates(out io.Writer, indent string, states []snapshot.StateMeta) {
	if len(states) == 0 {
		fmt.Fprintf(out, "%sstates: none\n", indent)
		return
	}
	fmt.Fprintf(out, "%sstates:\n", indent)
	for _, s := range states {
		ser := orDash(s.Value)
		if s.UserKey != "" {
			ser = s.UserKey + " -> " + ser
		}
		fmt.Fprintf(out, "%s  %s: %s, serializer %s\n", indent, s.Name, s.Kind, ser)
	}
}

func compressionName(c snapshot.Compression) string {
	if c == snapshot.CompressionNone {
		return "none"
	}
	return string(c)
}

// keyedFormat says in which format m holds its keyed state, in Flink's terms: canonical
// (full snapshots, which any backend restores) or native (incremental handles, which only the
// backend that wrote them restores); for a savepoint, its type and what restores it.
func keyedFormat(m *snapshot.Metadata) string {
	var canonical, native int
	backends := map[string]bool{}
	for _, o := range m.Operators {
		for _, h := range o.Keyed {
			if h.Incremental == nil {
				canonical++
				continue
			}
			native++
			backends[h.Incremental.Backend] = true
		}
	}
	names := strings.Join(slices.Sorted(maps.Keys(backends)), ", ")
	switch {
	case canonical == 0 && native == 0:
		return "none (no keyed state)"
	case native == 0 && m.Savepoint:
		return "canonical savepoint (full snapshots; any backend restores it)"
	case native == 0:
		return "canonical (full snapshots)"
	case canonical == 0 && m.Savepoint:
		return fmt.Sprintf("native savepoint (incremental handles of %s; only that backend restores it: take a canonical savepoint to change backends)", names)
	case canonical == 0:
		return fmt.Sprintf("native (incremental handles of %s)", names)
	}
	return fmt.Sprintf("mixed: %d canonical (full) and %d native (incremental handles of %s)", canonical, native, names)
}

func incrementalSize(fs []snapshot.IncrementalFile) int64 {
	var n int64
	for _, f := range fs {
		n += f.Size
	}
	return n
}

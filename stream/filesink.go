package stream

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/streamstate/streamstate/state"
)

// SinkToFiles writes s as lines into files in dir, exactly once (Flink's FileSink with
// two-phase commit): each subtask writes a hidden in-progress file; a checkpoint's snapshot
// closes it as a hidden pending file recorded in the sink's state; when the checkpoint
// completes, its pending files are renamed to their final, visible names
// part-<uid>-<checkpoint>-<subtask>-<run>. A restore commits the pending files its
// checkpoint recorded, deletes what a failed run left in progress, and hides (renames to
// .part-...retracted) the files published by checkpoints after the restored one, whose
// records it replays (and publishes again those a later restore brings back into the
// history); so the visible files after any number of crashes hold exactly the lines of an
// uninterrupted run. Without checkpointing, files are published at the end of the input.
//
// format appends one record's line, without the newline, to dst. CommittedLines reads the
// published output back.
func SinkToFiles[T any](s *Stream[T], uid, dir string, format func(dst []byte, v T) []byte) {
	s.g.claimUID(uid)
	if strings.ContainsAny(uid, "-/\\") {
		panic(fmt.Sprintf("stream: file sink name %q must not contain '-' or path separators", uid))
	}
	s.addConsumer(func(t *task) (output[T], error) {
		m, err := t.addMember(t.job.ctx, uid, "")
		if err != nil {
			return nil, err
		}
		fs := &fileSink[T]{t: t, uid: uid, dir: dir, format: format, run: t.job.runID}
		if err := m.initializeFunction(fs); err != nil {
			return nil, fmt.Errorf("file sink %q subtask %d: %w", uid, t.index, err)
		}
		m.endInput = fs.endInput
		m.close = fs.close
		return fs, nil
	})
}

// pendingFile is a closed part file waiting for its checkpoint to complete.
type pendingFile struct {
	Checkpoint int64  `json:"checkpoint"`
	Pending    string `json:"pending"` // hidden name while pending
	Final      string `json:"final"`   // visible name once committed
}

var pendingDescriptor = state.ListDescriptor[pendingFile]{Name: "pending-files"}

// lineageRun is one run in the history of a snapshot: the files run published up to
// checkpoint Upto are part of the snapshot's output. Checkpoint ids alone do not tell, as
// they may repeat across runs: a savepoint's id is not in the checkpoint storage, so a run
// that resumes from an earlier checkpoint reuses it.
type lineageRun struct {
	Run  string `json:"run"`
	Upto int64  `json:"upto"`
}

// lineageDescriptor is a union list state that subtask 0 writes: every subtask of a restored
// run reads all of it.
var lineageDescriptor = state.ListDescriptor[lineageRun]{Name: "lineage"}

type fileSink[T any] struct {
	t       *task
	uid     string
	dir     string
	format  func([]byte, T) []byte
	run     string
	state   state.OperatorListState[pendingFile]
	pending []pendingFile
	// lineage is the restored snapshot's history (the runs before this one), and its state.
	lineage      []lineageRun
	lineageState state.OperatorListState[lineageRun]
	f            *os.File
	w            *bufio.Writer
	buf          []byte
	seq          int
}

func (s *fileSink[T]) collect(v T, _ int64) error {
	if s.f == nil {
		s.seq++
		name := filepath.Join(s.dir, fmt.Sprintf(".part-%s-%d-%s-%d.inprogress", s.uid, s.t.index, s.run, s.seq))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("file sink %q: %w", s.uid, err)
		}
		s.f = f
		if s.w == nil {
			s.w = bufio.NewWriterSize(f, 256<<10)
		} else {
			s.w.Reset(f)
		}
	}
	s.buf = append(s.format(s.buf[:0], v), '\n')
	_, err := s.w.Write(s.buf)
	return err
}

func (s *fileSink[T]) watermark(int64) error { return nil }

// closeInProgress closes the in-progress file, durably, and returns its name ("" if none).
func (s *fileSink[T]) closeInProgress() (string, error) {
	if s.f == nil {
		return "", nil
	}
	f := s.f
	s.f = nil
	err := errors.Join(s.w.Flush(), f.Sync(), f.Close())
	if err != nil {
		return "", fmt.Errorf("file sink %q: close %s: %w", s.uid, f.Name(), err)
	}
	return f.Name(), nil
}

// InitializeState implements state.CheckpointedFunction: it commits what the restored
// checkpoint recorded and removes the leftovers of failed runs.
func (s *fileSink[T]) InitializeState(ctx state.FunctionInitializationContext) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("file sink %q: %w", s.uid, err)
	}
	st, err := state.GetOperatorListState(ctx.OperatorStateStore(), pendingDescriptor)
	if err != nil {
		return err
	}
	s.state = st
	for p, err := range st.Get() {
		if err != nil {
			return err
		}
		s.pending = append(s.pending, p)
	}
	if s.lineageState, err = state.GetUnionListState(ctx.OperatorStateStore(), lineageDescriptor); err != nil {
		return err
	}
	seen := map[lineageRun]bool{}
	for r, err := range s.lineageState.Get() {
		if err != nil {
			return err
		}
		if !seen[r] {
			seen[r] = true
			s.lineage = append(s.lineage, r)
		}
	}
	if err := s.commit(MaxWatermark); err != nil {
		return err
	}
	if s.t.index == 0 {
		return s.removeLeftovers()
	}
	return nil
}

// removeLeftovers deletes the in-progress files of other runs, and their pending files of
// checkpoints after the restored one (which never completed, or the job would have restored
// them). On a restore it also retracts the published files that are not in the restored
// snapshot's lineage: those of checkpoints and savepoints after it, whose records the
// restored job replays, and those of runs on abandoned branches. That happens when the
// restore falls back past a corrupt latest checkpoint, resumes from a checkpoint older than
// a savepoint that published files, or restores an older savepoint. It runs before any
// subtask of this run writes.
func (s *fileSink[T]) removeLeftovers() error {
	var restored int64
	m := s.t.job.restore
	if m != nil {
		restored = m.CheckpointID
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("file sink %q: %w", s.uid, err)
	}
	prefix := ".part-" + s.uid + "-"
	for _, e := range entries {
		name := e.Name()
		if m != nil && strings.HasPrefix(name, prefix[1:]) {
			// part-<uid>-<checkpoint>-<subtask>-<run>; "end" files have no checkpoint.
			fields := strings.Split(strings.TrimPrefix(name, prefix[1:]), "-")
			if id, err := strconv.ParseInt(fields[0], 10, 64); err == nil && len(fields) == 3 && !s.inLineage(fields[2], id, restored) {
				if err := os.Rename(filepath.Join(s.dir, name), filepath.Join(s.dir, retracted(name))); err != nil {
					return fmt.Errorf("file sink %q: retract %s: %w", s.uid, name, err)
				}
				s.t.job.log.Warn("retracted a part file that is not in the restored snapshot's history; its records are replayed",
					"file", name, "checkpoint", id, "restored", restored, "hidden as", retracted(name))
			}
			continue
		}
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if final, ok := strings.CutSuffix(name[1:], ".retracted"); ok && m != nil {
			// Retracted by an earlier restore, and part of this snapshot's history again
			// (a restore of a later checkpoint of that run): publish it again.
			fields := strings.Split(strings.TrimPrefix(final, prefix[1:]), "-")
			if id, err := strconv.ParseInt(fields[0], 10, 64); err == nil && len(fields) == 3 && s.inLineage(fields[2], id, restored) {
				if err := os.Rename(filepath.Join(s.dir, name), filepath.Join(s.dir, final)); err != nil {
					return fmt.Errorf("file sink %q: restore retracted %s: %w", s.uid, final, err)
				}
			}
			continue
		}
		remove := strings.HasSuffix(name, ".inprogress")
		if strings.HasSuffix(name, ".pending") {
			// .part-<uid>-<checkpoint>-<subtask>-<run>.pending
			fields := strings.Split(strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".pending"), "-")
			id, err := strconv.ParseInt(fields[0], 10, 64)
			remove = err != nil || id > restored
		}
		if remove {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("file sink %q: remove leftover: %w", s.uid, err)
			}
		}
	}
	return nil
}

// inLineage reports whether the file that run published with checkpoint id is part of the
// output of the restored snapshot (checkpoint restored).
func (s *fileSink[T]) inLineage(run string, id, restored int64) bool {
	if len(s.lineage) == 0 { // a snapshot of a version without lineage: ids must do
		return id <= restored
	}
	for _, r := range s.lineage {
		if r.Run == run {
			return id <= r.Upto
		}
	}
	return false
}

// SnapshotState implements state.CheckpointedFunction: the in-progress file becomes a
// pending file of this checkpoint.
func (s *fileSink[T]) SnapshotState(ctx state.FunctionSnapshotContext) error {
	name, err := s.closeInProgress()
	if err != nil {
		return err
	}
	if name != "" {
		id := ctx.CheckpointID()
		base := fmt.Sprintf("%s-%d-%d-%s", s.uid, id, s.t.index, s.run)
		p := pendingFile{Checkpoint: id, Pending: ".part-" + base + ".pending", Final: "part-" + base}
		if err := os.Rename(name, filepath.Join(s.dir, p.Pending)); err != nil {
			return fmt.Errorf("file sink %q: %w", s.uid, err)
		}
		s.pending = append(s.pending, p)
	}
	if s.t.index == 0 {
		lineage := append(slices.Clone(s.lineage), lineageRun{Run: s.run, Upto: ctx.CheckpointID()})
		if err := s.lineageState.Update(lineage); err != nil {
			return err
		}
	}
	return s.state.Update(s.pending)
}

// NotifyCheckpointComplete implements state.CheckpointListener: it publishes the files of
// checkpoint id and of earlier ones whose notification was lost.
func (s *fileSink[T]) NotifyCheckpointComplete(id int64) error { return s.commit(id) }

// NotifyCheckpointAborted implements state.CheckpointListener. The pending files of an
// aborted checkpoint stay pending and are published with the next completed one, whose
// state also records them.
func (s *fileSink[T]) NotifyCheckpointAborted(int64) error { return nil }

// commit publishes the pending files of checkpoints up to id. It is idempotent: a file
// already published is skipped.
func (s *fileSink[T]) commit(id int64) error {
	kept := s.pending[:0]
	committed := false
	for _, p := range s.pending {
		if p.Checkpoint > id {
			kept = append(kept, p)
			continue
		}
		from, to := filepath.Join(s.dir, p.Pending), filepath.Join(s.dir, p.Final)
		if err := os.Rename(from, to); err != nil {
			// Published already, or published and then retracted by a restore of an
			// earlier checkpoint (and now restored again).
			if _, statErr := os.Stat(to); statErr != nil {
				if os.Rename(filepath.Join(s.dir, retracted(p.Final)), to) != nil {
					return fmt.Errorf("file sink %q: publish %s of checkpoint %d: %w; the part file is lost", s.uid, p.Final, p.Checkpoint, err)
				}
			}
		}
		committed = true
	}
	s.pending = kept
	if committed {
		return syncDir(s.dir)
	}
	return nil
}

// endInput publishes everything: the input has ended and, with checkpointing, the final
// checkpoint has completed.
func (s *fileSink[T]) endInput() error {
	name, err := s.closeInProgress()
	if err != nil {
		return err
	}
	if name != "" {
		final := filepath.Join(s.dir, fmt.Sprintf("part-%s-end-%d-%s", s.uid, s.t.index, s.run))
		if err := os.Rename(name, final); err != nil {
			return fmt.Errorf("file sink %q: %w", s.uid, err)
		}
	}
	return s.commit(MaxWatermark)
}

func (s *fileSink[T]) close() error {
	if s.f != nil {
		return s.f.Close() // an unfinished run: the next run deletes the file
	}
	return nil
}

// retracted is the hidden name of a retracted part file.
func retracted(final string) string { return "." + final + ".retracted" }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CommittedLines returns the lines SinkToFiles has published in dir (the visible part-*
// files, in name order; hidden in-progress, pending and retracted files are not output). A
// published file always ends with a newline; one that does not is reported as an error.
func CommittedLines(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			return nil, fmt.Errorf("stream: %s: the last line is incomplete", f)
		}
		for l := range strings.Lines(string(b)) {
			lines = append(lines, strings.TrimSuffix(l, "\n"))
		}
	}
	return lines, nil
}

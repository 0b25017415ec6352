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

	"github.com/streamstate/streamstate/serde"
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
// history); so the visible files after any number of crashes hold the same multiset of lines
// as an uninterrupted run (how they fall into part files differs: the names carry a run id). Without checkpointing, files are published at the end of the input.
//
// A run that restores no snapshot refuses to start (ErrOutputExists) if dir already holds
// part files this sink published: it would publish their lines again. Names read from a
// snapshot's state are checked against the exact shapes above; anything else fails the
// restore with snapshot.ErrCorrupt naming the operator state file. A snapshot's part files
// must be in dir: restoring into another directory fails, naming the one that holds them
// (moving the directory with all its hidden files is fine).
//
// format appends one record's line, without the newline, to dst. CommittedLines reads the
// published output back.
func SinkToFiles[T any](s *Stream[T], uid, dir string, format func(dst []byte, v T) []byte) {
	s.g.claimUID(uid)
	if strings.ContainsAny(uid, "-/\\") {
		panic(fmt.Sprintf("stream: file sink name %q must not contain '-' or path separators", uid))
	}
	s.addConsumer(func(t *task) (output[T], error) {
		m, err := t.addMember(t.job.ctx, uid, "", nil)
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
	// Dir is the absolute output directory the file was written in, to say where it is when
	// a restore does not find it. Snapshots of versions before it have none.
	Dir string `json:"dir,omitempty"`
}

// pendingDescriptor's serializer has a fixed name (the alias is its earlier, Go-type ID).
var pendingDescriptor = state.ListDescriptor[pendingFile]{Name: "pending-files",
	Serializer: serde.JSON[pendingFile]{Name: "streamstate.filesink-pending-file", Aliases: []string{"stream.pendingFile"}}}

// lineageRun is one run in the history of a snapshot: the files run published up to
// checkpoint Upto are part of the snapshot's output. Checkpoint ids alone do not tell, as
// they may repeat across runs: a savepoint's id is not in the checkpoint storage, so a run
// that resumes from an earlier checkpoint reuses it.
type lineageRun struct {
	Run  string `json:"run"`
	Upto int64  `json:"upto"`
	// Dir is the absolute output directory run wrote to (none in snapshots of versions
	// before it).
	Dir string `json:"dir,omitempty"`
}

// lineageDescriptor is a union list state that subtask 0 writes: every subtask of a restored
// run reads all of it. Its serializer has a fixed name (the alias is its earlier, Go-type ID).
var lineageDescriptor = state.ListDescriptor[lineageRun]{Name: "lineage",
	Serializer: serde.JSON[lineageRun]{Name: "streamstate.filesink-lineage-run", Aliases: []string{"stream.lineageRun"}}}

type fileSink[T any] struct {
	t   *task
	uid string
	dir string
	// absDir is dir made absolute when the sink starts, recorded with its pending files.
	absDir  string
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
	abs, err := filepath.Abs(s.dir)
	if err != nil {
		return fmt.Errorf("file sink %q: %w", s.uid, err)
	}
	s.absDir = abs
	st, err := state.GetOperatorListState(ctx.OperatorStateStore(), pendingDescriptor)
	if err != nil {
		return err
	}
	s.state = st
	// Everything read from the snapshot is untrusted: a name that is not exactly one the sink
	// writes could make the commit below rename any file on the machine.
	for p, err := range st.Get() {
		if err != nil {
			return err
		}
		if err := s.validPending(p); err != nil {
			return s.corruptState(pendingDescriptor.Name, "pending file %+v: %v", p, err)
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
		if !validRunID(r.Run) || r.Upto < 0 || !validDir(r.Dir) {
			return s.corruptState(lineageDescriptor.Name, "run %+v: not a run id of 8 lowercase hex digits, a checkpoint id and an absolute, clean directory", r)
		}
		if !seen[r] {
			seen[r] = true
			s.lineage = append(s.lineage, r)
		}
	}
	if s.t.index == 0 {
		// Before any subtask publishes anything.
		if err := s.checkHistoryDirs(); err != nil {
			return err
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

// validPending checks that p is exactly what SnapshotState records: the pending and final
// names of one part file of this sink, of a checkpoint the restored snapshot may hold, and
// an absolute, clean directory if any.
func (s *fileSink[T]) validPending(p pendingFile) error {
	base, ok := strings.CutPrefix(p.Final, "part-")
	if !ok {
		return fmt.Errorf("final name %q does not start with part-", p.Final)
	}
	id, _, ok := parsePartBase(s.uid, base)
	switch {
	case !ok:
		return fmt.Errorf("final name %q is not part-%s-<checkpoint>-<subtask>-<run>", p.Final, s.uid)
	case p.Pending != ".part-"+base+".pending":
		return fmt.Errorf("pending name %q is not .%s.pending", p.Pending, p.Final)
	case id != p.Checkpoint:
		return fmt.Errorf("final name %q is not of checkpoint %d", p.Final, p.Checkpoint)
	case s.t.job.restore != nil && p.Checkpoint > s.t.job.restore.CheckpointID:
		return fmt.Errorf("checkpoint %d is after the snapshot's own, %d", p.Checkpoint, s.t.job.restore.CheckpointID)
	case !validDir(p.Dir):
		return fmt.Errorf("directory %q is not an absolute, clean path", p.Dir)
	}
	return nil
}

// validDir reports whether dir is a directory as the sink records it: none, or absolute and
// clean.
func validDir(dir string) bool {
	return dir == "" || filepath.IsAbs(dir) && filepath.Clean(dir) == dir
}

// checkHistoryDirs fails a restore into another directory than the one an earlier run of
// the snapshot's history published its files in, while that directory still holds them:
// the output would be split over two directories, and the files of that run after the
// restored checkpoint, which the restore must retract, would stay published there. (A
// directory moved as a whole holds nothing any more and is fine.)
func (s *fileSink[T]) checkHistoryDirs() error {
	for _, r := range s.lineage {
		if r.Dir == "" || sameDir(r.Dir, s.absDir) {
			continue
		}
		entries, err := os.ReadDir(r.Dir)
		if err != nil {
			continue // gone, or moved: nothing left there to split from
		}
		prefix := "part-" + s.uid + "-"
		for _, e := range entries {
			base, ok := strings.CutPrefix(e.Name(), prefix)
			if !ok || !strings.HasSuffix(base, "-"+r.Run) {
				continue
			}
			return fmt.Errorf("file sink %q: the restored snapshot's output was published in %s (run %s wrote %s there), not in %s: "+
				"restore with the output directory it was written to (--output %s), or move that directory's files (including the hidden .part-* ones) to %s first; "+
				"restoring into another directory would split the output and leave files there that the restore must retract",
				s.uid, r.Dir, r.Run, e.Name(), s.absDir, r.Dir, s.absDir)
		}
	}
	return nil
}

// sameDir reports whether the absolute paths a and b name one directory: equal, or the same
// directory reached through a symbolic link (or another mount of it), as when the output
// directory is named from a working directory reached through a link.
func sameDir(a, b string) bool {
	if a == b {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// parsePartBase parses <uid>-<checkpoint>-<subtask>-<run>, the base of a part file's name
// (after part- or .part-, before any suffix), as SnapshotState writes it: decimal numbers
// without sign or leading zeros, a checkpoint id of at least 1, and an 8-digit run id. It
// returns the checkpoint id and the run id. The files of the end of the input
// (part-<uid>-end-<subtask>-<run>) have no checkpoint and do not parse.
func parsePartBase(uid, base string) (id int64, run string, ok bool) {
	rest, ok := strings.CutPrefix(base, uid+"-")
	if !ok {
		return 0, "", false
	}
	fields := strings.Split(rest, "-")
	if len(fields) != 3 || !validRunID(fields[2]) {
		return 0, "", false
	}
	id, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != fields[0] {
		return 0, "", false
	}
	subtask, err := strconv.Atoi(fields[1])
	if err != nil || subtask < 0 || strconv.Itoa(subtask) != fields[1] {
		return 0, "", false
	}
	return id, fields[2], true
}

// validRunID reports whether run has the shape of Job.runID: 8 lowercase hex digits.
func validRunID(run string) bool {
	if len(run) != 8 {
		return false
	}
	for _, c := range []byte(run) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// corruptState is the error for a bad element of the sink's operator state name.
func (s *fileSink[T]) corruptState(name, format string, args ...any) error {
	return s.t.job.corruptOperatorState(s.uid, name, fmt.Sprintf("file sink %q: ", s.uid)+format, args...)
}

// removeLeftovers deletes the in-progress files of other runs, and their pending files that
// are not in the restored snapshot's history: of checkpoints after the restored one (which
// never completed, or the job would have restored them), or of runs on abandoned branches. On a restore it also retracts the published files that are not in the restored
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
	if m == nil {
		if err := s.refusePublished(entries, prefix[1:]); err != nil {
			return err
		}
	}
	for _, e := range entries {
		name := e.Name()
		if m != nil && strings.HasPrefix(name, prefix[1:]) {
			// part-<uid>-<checkpoint>-<subtask>-<run>; "end" files have no checkpoint.
			if id, run, ok := parsePartBase(s.uid, name[len("part-"):]); ok && !s.inLineage(run, id, restored) {
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
			if id, run, ok := parsePartBase(s.uid, final[len("part-"):]); ok && s.inLineage(run, id, restored) {
				if err := os.Rename(filepath.Join(s.dir, name), filepath.Join(s.dir, final)); err != nil {
					return fmt.Errorf("file sink %q: restore retracted %s: %w", s.uid, final, err)
				}
			}
			continue
		}
		remove := strings.HasSuffix(name, ".inprogress")
		if strings.HasSuffix(name, ".pending") {
			// .part-<uid>-<checkpoint>-<subtask>-<run>.pending. The restored state holds
			// only pending files of its own history (inLineage); others (of checkpoints
			// after it, or of a run on an abandoned branch) are never committed.
			id, run, ok := parsePartBase(s.uid, strings.TrimSuffix(name[len(".part-"):], ".pending"))
			remove = !ok || id > restored || !s.inLineage(run, id, restored)
		}
		if remove {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("file sink %q: remove leftover: %w", s.uid, err)
			}
		}
	}
	return nil
}

// ErrOutputExists is wrapped by the error of a file sink that starts fresh (restores no
// snapshot) in a directory that holds part files published by earlier runs: their lines
// would be published twice.
var ErrOutputExists = errors.New("stream: the output directory holds part files of earlier runs")

// refusePublished fails a fresh start if the directory holds files this sink published
// (visible names starting with published): a fresh run writes all of its output again, so
// the directory would hold it twice. Nothing is touched then.
func (s *fileSink[T]) refusePublished(entries []os.DirEntry, published string) error {
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), published) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil
	}
	example := strings.Join(names[:min(len(names), 3)], ", ")
	if len(names) > 3 {
		example += ", ..."
	}
	return fmt.Errorf("file sink %q: %w: %s holds %d (%s), and this run starts fresh, so it would publish their lines again; "+
		"write to another directory (--output), move or delete those files, or continue the run that wrote them (--resume, --from)",
		s.uid, ErrOutputExists, s.dir, len(names), example)
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
		p := pendingFile{Checkpoint: id, Pending: ".part-" + base + ".pending", Final: "part-" + base, Dir: s.absDir}
		if err := os.Rename(name, filepath.Join(s.dir, p.Pending)); err != nil {
			return fmt.Errorf("file sink %q: %w", s.uid, err)
		}
		s.pending = append(s.pending, p)
	}
	if s.t.index == 0 {
		lineage := append(slices.Clone(s.lineage), lineageRun{Run: s.run, Upto: ctx.CheckpointID(), Dir: s.absDir})
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
					return s.notFound(p, err)
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

// notFound is the error for a pending file of the restored snapshot that is in the output
// directory neither pending, published nor retracted (renameErr says why its rename failed).
// Most often the job was restored with another output directory than the one it wrote to;
// that is not supported, as the part files of one snapshot's history must be in one
// directory to be published and retracted together.
func (s *fileSink[T]) notFound(p pendingFile, renameErr error) error {
	if !errors.Is(renameErr, fs.ErrNotExist) {
		return fmt.Errorf("file sink %q: publish %s of checkpoint %d: %w", s.uid, p.Final, p.Checkpoint, renameErr)
	}
	if p.Dir != "" && !sameDir(p.Dir, s.absDir) {
		for _, name := range []string{p.Pending, p.Final, retracted(p.Final)} {
			if _, err := os.Stat(filepath.Join(p.Dir, name)); err == nil {
				return fmt.Errorf("file sink %q: the snapshot's part file %s of checkpoint %d is in %s, the output directory the job wrote to, not in %s: "+
					"restore with the output directory it was written to (--output %s), or move that directory's files (including the hidden .part-* ones) to %s first",
					s.uid, name, p.Checkpoint, p.Dir, s.absDir, p.Dir, s.absDir)
			}
		}
		return fmt.Errorf("file sink %q: the snapshot's part file %s of checkpoint %d is neither in %s nor in %s, where the job wrote it, "+
			"as %s, %s or %s: it was deleted or moved; restore with the output directory that holds it (--output), or restore an earlier snapshot",
			s.uid, p.Final, p.Checkpoint, s.absDir, p.Dir, p.Pending, p.Final, retracted(p.Final))
	}
	return fmt.Errorf("file sink %q: the snapshot's part file %s of checkpoint %d is not in %s (as %s, %s or %s): "+
		"it was deleted or moved, or the job wrote to another output directory; restore with the output directory that holds it (--output)",
		s.uid, p.Final, p.Checkpoint, s.absDir, p.Pending, p.Final, retracted(p.Final))
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

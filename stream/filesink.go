package stream

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/streamstate/streamstate/state"
)

// SinkToFiles writes s as lines into files in dir, exactly once (Flink's FileSink with
// two-phase commit): each subtask writes a hidden in-progress file; a checkpoint's snapshot
// closes it as a hidden pending file recorded in the sink's state; when the checkpoint
// completes, its pending files are renamed to their final, visible names
// part-<uid>-<checkpoint>-<subtask>-<run>. A restore commits the pending files its
// checkpoint recorded and deletes what a failed run left in progress, so the visible files
// after any number of crashes hold exactly the lines of an uninterrupted run. Without
// checkpointing, files are published at the end of the input.
//
// format appends one record's line, without the newline, to dst.
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

type fileSink[T any] struct {
	t       *task
	uid     string
	dir     string
	format  func([]byte, T) []byte
	run     string
	state   state.OperatorListState[pendingFile]
	pending []pendingFile
	f       *os.File
	w       *bufio.Writer
	buf     []byte
	seq     int
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
// them). It runs before any subtask of this run writes.
func (s *fileSink[T]) removeLeftovers() error {
	var restored int64
	if m := s.t.job.restore; m != nil {
		restored = m.CheckpointID
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("file sink %q: %w", s.uid, err)
	}
	prefix := ".part-" + s.uid + "-"
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
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
			if _, statErr := os.Stat(to); statErr != nil {
				return fmt.Errorf("file sink %q: publish %s of checkpoint %d: %w; the part file is lost", s.uid, p.Final, p.Checkpoint, err)
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package stream

import (
	"errors"
	"fmt"
	"time"

	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// Source is a replayable source split into a fixed number of splits (partitions), as Flink's
// FLIP-27 sources. Each split is read in order from a position; the positions are kept in
// the source operator's state, so a restored job rewinds every split to where its checkpoint
// was taken. The number of splits is part of the job's state and must not change.
type Source[T any] interface {
	NumSplits() int
	// OpenSplit returns a reader of split that starts at pos (0 on a fresh start). split is in
	// [0, NumSplits()) and pos is not negative: the runtime checks restored positions.
	OpenSplit(split int, pos int64) (SplitReader[T], error)
}

// ReadStatus is what SplitReader.Next found.
type ReadStatus uint8

const (
	// Record: a record was returned.
	Record ReadStatus = iota
	// NoData: nothing now; ask again later (the split may become idle).
	NoData
	// Done: the split has ended.
	Done
)

// SplitReader reads one split.
type SplitReader[T any] interface {
	// Next returns the next record with its event timestamp.
	Next() (v T, ts int64, st ReadStatus, err error)
	// Position is where the split resumes after the last record returned.
	Position() int64
}

// WatermarkStrategy is how a source makes watermarks: per split, the largest timestamp seen
// minus OutOfOrderness minus 1 ms (Flink's bounded out-of-orderness); a subtask's watermark
// is the minimum over its splits. A split that has had no data for Idleness (0: never) is
// idle and holds no one back.
type WatermarkStrategy struct {
	OutOfOrderness time.Duration
	Idleness       time.Duration
}

// splitState is the checkpointed position of one split.
type splitState struct {
	Split int   `json:"split"`
	Pos   int64 `json:"pos"`
	MaxTS int64 `json:"maxTs"`
	Done  bool  `json:"done"`
}

// splitsDescriptor's serializer has a fixed name, not the Go type's, so renaming splitState
// keeps checkpoints readable; the alias is the ID it was recorded under before it was named.
var splitsDescriptor = state.ListDescriptor[splitState]{Name: "splits",
	Serializer: serde.JSON[splitState]{Name: "streamstate.source-split", Aliases: []string{"stream.splitState"}}}

// FromSource adds a source named uid. Its splits are dealt out round robin over its subtasks
// on a fresh start, and redistributed evenly from its state on restore.
func FromSource[T any](g *Graph, uid string, src Source[T], ws WatermarkStrategy) *Stream[T] {
	g.claimUID(uid)
	v := g.addVertex(uid, nil)
	out := newStream[T](g, v)
	v.instantiate = func(t *task) error {
		m, err := t.addMember(t.job.ctx, uid, "", nil)
		if err != nil {
			return err
		}
		next, err := out.outputFor(t)
		if err != nil {
			return err
		}
		s := &sourceTask[T]{t: t, uid: uid, src: src, ws: ws, out: next}
		if err := m.initializeFunction(s); err != nil {
			return fmt.Errorf("source %q subtask %d: %w", uid, t.index, err)
		}
		t.run = s.run
		return nil
	}
	return out
}

type sourceSplit[T any] struct {
	splitState
	r    SplitReader[T]
	idle bool
	// active says the split had data since the last periodic watermark; inactiveSince is the
	// first periodic watermark after its last data (zero while active).
	active        bool
	inactiveSince time.Time
}

// sourceTask is the head of a source vertex and the CheckpointedFunction holding its splits.
type sourceTask[T any] struct {
	t      *task
	uid    string
	src    Source[T]
	ws     WatermarkStrategy
	out    output[T]
	state  state.OperatorListState[splitState]
	splits []*sourceSplit[T]
	wm     int64
	idle   bool
	// records counts the records emitted, for the job's throughput.
	records int64
}

// InitializeState implements state.CheckpointedFunction.
func (s *sourceTask[T]) InitializeState(ctx state.FunctionInitializationContext) error {
	st, err := state.GetOperatorListState(ctx.OperatorStateStore(), splitsDescriptor)
	if err != nil {
		return err
	}
	s.state = st
	var restored []splitState
	if ctx.IsRestored() {
		// Untrusted: a split listed twice would be read twice, a negative position is no
		// position a reader returns.
		seen := map[int]bool{}
		for sp, err := range st.Get() {
			if err != nil {
				return err
			}
			if sp.Pos < 0 || seen[sp.Split] {
				return s.t.job.corruptOperatorState(s.uid, splitsDescriptor.Name,
					"split %d at position %d: a negative position, or a split listed twice", sp.Split, sp.Pos)
			}
			seen[sp.Split] = true
			restored = append(restored, sp)
		}
	} else {
		for i := s.t.index; i < s.src.NumSplits(); i += s.t.parallelism {
			restored = append(restored, splitState{Split: i, MaxTS: MinWatermark})
		}
	}
	for _, sp := range restored {
		if sp.Split < 0 || sp.Split >= s.src.NumSplits() {
			return fmt.Errorf("restored split %d, but the source has %d splits; the number of splits must not change", sp.Split, s.src.NumSplits())
		}
		ss := &sourceSplit[T]{splitState: sp}
		if !sp.Done {
			r, err := s.src.OpenSplit(sp.Split, sp.Pos)
			if err != nil {
				return fmt.Errorf("open split %d at %d: %w", sp.Split, sp.Pos, err)
			}
			ss.r = r
		}
		s.splits = append(s.splits, ss)
	}
	return nil
}

// SnapshotState implements state.CheckpointedFunction.
func (s *sourceTask[T]) SnapshotState(state.FunctionSnapshotContext) error {
	sps := make([]splitState, len(s.splits))
	for i, sp := range s.splits {
		sps[i] = sp.splitState
	}
	return s.state.Update(sps)
}

// watermark returns the subtask's watermark and whether every split is idle.
func (s *sourceTask[T]) watermark() (wm int64, idle bool) {
	wm, idle = MaxWatermark, true
	for _, sp := range s.splits {
		if sp.Done || sp.idle {
			continue
		}
		idle = false
		w := int64(MinWatermark)
		if sp.MaxTS != MinWatermark {
			w = sp.MaxTS - s.ws.OutOfOrderness.Milliseconds() - 1
		}
		wm = min(wm, w)
	}
	for _, sp := range s.splits {
		if !sp.Done {
			return wm, idle
		}
	}
	return MaxWatermark, false // every split done: event time has ended
}

func (s *sourceTask[T]) emitWatermark() error {
	wm, idle := s.watermark()
	if idle != s.idle {
		s.idle = idle
		kind := kindActive
		if idle {
			kind = kindIdle
		}
		if err := s.t.broadcast(kind, 0); err != nil {
			return err
		}
	}
	if !idle && wm > s.wm {
		s.wm = wm
		s.t.watermark.Store(wm)
		return s.out.watermark(wm)
	}
	return nil
}

// markIdleSplits runs at every periodic watermark: a split without data since the first
// periodic watermark after its last record, for at least Idleness, becomes idle. As Flink's
// WatermarksWithIdleness, inactivity is measured from periodic watermark to periodic
// watermark, so splits that stop at different times go idle in that order, and the watermark
// of the last active split is emitted before the whole source turns idle.
func (s *sourceTask[T]) markIdleSplits(now time.Time) {
	if s.ws.Idleness <= 0 {
		return
	}
	for _, sp := range s.splits {
		switch {
		case sp.active:
			sp.active, sp.inactiveSince = false, time.Time{}
		case sp.inactiveSince.IsZero():
			sp.inactiveSince = now
		case !sp.idle && now.Sub(sp.inactiveSince) >= s.ws.Idleness:
			sp.idle = true
		}
	}
}

// readBurst is how many records a source reads from one split before it looks at the next
// split and at its control messages.
const readBurst = 256

// read reads a burst from every split; it reports whether any split had data.
func (s *sourceTask[T]) read() (bool, error) {
	any := false
	for _, sp := range s.splits {
		if sp.Done {
			continue
		}
		for range readBurst {
			if len(s.t.ctrl) > 0 {
				break // a checkpoint trigger waits: barriers must not queue behind a burst
			}
			v, ts, st, err := sp.r.Next()
			if err != nil {
				return any, fmt.Errorf("split %d: %w", sp.Split, err)
			}
			if st == Done {
				sp.Done, sp.Pos = true, sp.r.Position()
				break
			}
			if st == NoData {
				break
			}
			any, sp.idle, sp.active = true, false, true
			s.records++
			if ts != NoTimestamp && ts > sp.MaxTS {
				sp.MaxTS = ts
			}
			if err := s.out.collect(v, ts); err != nil {
				return any, err
			}
		}
		if !sp.Done {
			sp.Pos = sp.r.Position()
		}
	}
	return any, nil
}

func (s *sourceTask[T]) allDone() bool {
	for _, sp := range s.splits {
		if !sp.Done {
			return false
		}
	}
	return true
}

// handle applies a coordinator message; it reports whether the source must end its streams.
func (s *sourceTask[T]) handle(c control) (finish bool, err error) {
	switch c.kind {
	case ctrlTrigger:
		if err := s.t.flush(); err != nil {
			return false, err
		}
		return false, s.t.snapshot(c.barrier, 0)
	case ctrlFinish:
		return true, nil
	}
	return false, s.t.notify(c)
}

// errEndStreams is how awaitControl tells run that the coordinator asked the source to end
// its streams.
var errEndStreams = errors.New("stream: end of the sources' streams")

// awaitControl applies one coordinator message: the next queued one when poll is set (handled
// is false when there is none), else the next to arrive before timeout fires (nil: no
// timeout).
func (s *sourceTask[T]) awaitControl(poll bool, timeout <-chan time.Time) (handled bool, err error) {
	var c control
	if poll {
		select {
		case c = <-s.t.ctrl:
		case <-s.t.job.done:
			return false, errJobStopped
		default:
			return false, nil
		}
	} else {
		select {
		case c = <-s.t.ctrl:
		case <-s.t.job.done:
			return false, errJobStopped
		case <-timeout:
			return false, nil
		}
	}
	finish, err := s.handle(c)
	if err == nil && finish {
		err = errEndStreams
	}
	return true, err
}

func (s *sourceTask[T]) run() error {
	err := s.loop()
	if errors.Is(err, errEndStreams) {
		return s.t.endInput()
	}
	return err
}

func (s *sourceTask[T]) loop() error {
	t := s.t
	s.wm = MinWatermark
	lastWM := time.Now()
	reported := false
	for {
		// Control messages first, without blocking while there is data to read.
		for {
			handled, err := s.awaitControl(true, nil)
			if err != nil {
				return err
			}
			if !handled {
				break
			}
		}
		if t.paused || s.allDone() {
			if !reported {
				if err := s.emitWatermark(); err != nil { // MaxWatermark once every split is done
					return err
				}
				if err := t.flush(); err != nil {
					return err
				}
				if !t.paused {
					reported = true
					t.job.coord.sourceFinished(t)
				}
			}
			if _, err := s.awaitControl(false, nil); err != nil {
				return err
			}
			continue
		}
		before := s.records
		got, err := s.read()
		if err != nil {
			return err
		}
		t.job.countRecords(t, s.records-before)
		if time.Since(lastWM) >= t.job.opts.AutoWatermarkInterval || s.allDone() {
			lastWM = time.Now()
			s.markIdleSplits(lastWM)
			if err := s.emitWatermark(); err != nil {
				return err
			}
		}
		if !got && !s.allDone() {
			if err := s.emitWatermark(); err != nil {
				return err
			}
			if err := t.flush(); err != nil {
				return err
			}
			// Wait a little for data, or for a control message.
			if _, err := s.awaitControl(false, time.After(10*time.Millisecond)); err != nil {
				return err
			}
		}
	}
}

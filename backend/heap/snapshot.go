package heap

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// Snapshot implements backend.Keyed. The synchronous phase freezes every state's
// key-group tables: O(states x key groups), independent of the amount of state. The backend
// has one format, the canonical one: a savepoint of either SavepointFormat is canonical (as
// Flink's hashmap backend's native savepoint is).
func (b *Backend) Snapshot(checkpointID int64, opts backend.SnapshotOptions) (backend.AsyncSnapshot, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	s := &asyncSnapshot{id: checkpointID, opID: b.opID, rng: b.rng, keySer: b.keySer, comp: opts.Compression,
		workers: opts.Workers, running: &b.running, watermark: b.clock.SnapshotWatermark()}
	b.running.Add(1)
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	for _, name := range b.order {
		t := b.states[name]
		s.metas = append(s.metas, t.meta())
		s.states = append(s.states, t.freeze())
	}
	if b.inc != nil && !opts.Savepoint {
		s.inc = b.beginIncremental(checkpointID)
	}
	return s, nil
}

// empty reports whether no state of the snapshot has a record.
func (s *asyncSnapshot) empty() bool {
	for _, st := range s.states {
		if !st.empty(s.rng.Len()) {
			return false
		}
	}
	return true
}

type asyncSnapshot struct {
	id     int64
	opID   string
	rng    keygroup.Range
	keySer string
	comp   snapshot.Compression
	// workers serialize key groups in parallel in the asynchronous phase.
	workers int
	metas   []snapshot.StateMeta
	states  []frozen
	// watermark is the TTL clock's at the synchronous phase (KeyedStateHandle.TTLWatermark).
	watermark *int64
	// running is the backend's count of running snapshots, decremented once by end.
	running *atomic.Int32
	// claimed is set by the first of Run and Release; the other then does nothing.
	claimed atomic.Bool
	// inc is set for an incremental checkpoint (chain.go).
	inc *incSnap
}

// Release drops a snapshot that will not be run: its frozen tables may be modified in place
// again. After Run has started it does nothing (Run ends the snapshot itself).
func (s *asyncSnapshot) Release() {
	if s.claimed.CompareAndSwap(false, true) {
		s.end()
	}
}

func (s *asyncSnapshot) end() {
	s.states = nil
	s.running.Add(-1)
}

// Run implements backend.AsyncSnapshot. A snapshot without any record (no state holds an entry
// and no timer is set) writes no file and returns a nil handle, as Flink does: a restore
// without a handle for some key groups starts them empty.
func (s *asyncSnapshot) Run(ctx context.Context, out snapshot.StreamFactory) (*snapshot.KeyedStateHandle, error) {
	if !s.claimed.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("heap backend: snapshot %d was released or already run", s.id)
	}
	defer s.end()
	if s.inc != nil {
		if sf, ok := out.(snapshot.SharedStreamFactory); ok {
			return s.runIncremental(ctx, sf)
		}
	}
	if s.empty() {
		return nil, nil
	}
	f, err := out.Create(ctx, fmt.Sprintf("%s-keyed-%d-%d", s.opID, s.rng.Start, s.rng.End))
	if err != nil {
		return nil, err
	}
	build := func(kg int, w *snapshot.BlockBuilder) error {
		var scratch []byte
		for i, st := range s.states {
			var err error
			if scratch, err = st.write(w, i, kg-s.rng.Start, scratch); err != nil {
				return fmt.Errorf("heap backend: snapshot %d of state %q: %w", s.id, s.metas[i].Name, err)
			}
		}
		return nil
	}
	h, err := snapshot.WriteFull(ctx, f, s.rng, s.keySer, s.metas, s.comp, s.workers, build)
	if h != nil {
		h.TTLWatermark = s.watermark
	}
	return h, err
}

// NotifyCheckpointComplete implements backend.Keyed. With incremental checkpoints, the next
// deltas build on checkpoint id's chain (if its asynchronous phase finished here and no later
// checkpoint was confirmed before it), and the changes it holds are forgotten. A full hashmap
// snapshot shares nothing with later ones: there is nothing to do.
func (b *Backend) NotifyCheckpointComplete(id int64) error {
	if b.inc != nil && !b.closed {
		b.inc.confirm(id)
	}
	return nil
}

// NotifyCheckpointAborted implements backend.Keyed; there is nothing to do: the changes an
// aborted incremental checkpoint held are written by the next one, since they are only
// forgotten when a checkpoint holding them is confirmed.
func (b *Backend) NotifyCheckpointAborted(int64) error { return nil }

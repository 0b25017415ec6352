package operator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

// frozen is one state as a snapshot holds it: registered lists and maps as captured by
// freeze, or the serialized items of a restored state that was never registered.
type frozen struct {
	meta    snapshot.OperatorStateMeta
	val     serde.Erased
	list    []any
	entries map[string]entry
	// rawKeys and rawValues hold a restored, unregistered state's items.
	rawKeys, rawValues [][]byte
	raw                bool
}

// Snapshot implements backend.Operator. The synchronous phase captures every
// state, O(number of states); states are written in name order.
func (b *Backend) Snapshot(checkpointID int64) (backend.OperatorAsyncSnapshot, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	s := &asyncSnapshot{id: checkpointID, opID: b.opts.OperatorID, subtask: b.opts.SubtaskIndex, parallelism: b.opts.Parallelism}
	for _, st := range b.states {
		s.states = append(s.states, st.freeze())
	}
	for _, r := range b.raw {
		s.states = append(s.states, frozen{meta: r.meta, rawKeys: r.keys, rawValues: r.values, raw: true})
	}
	slices.SortFunc(s.states, func(a, b frozen) int { return strings.Compare(a.meta.Name, b.meta.Name) })
	return s, nil
}

type asyncSnapshot struct {
	id          int64
	opID        string
	subtask     int
	parallelism int

	mu       sync.Mutex
	states   []frozen
	released bool
}

// Release implements backend.OperatorAsyncSnapshot.
func (s *asyncSnapshot) Release() {
	s.mu.Lock()
	s.states, s.released = nil, true
	s.mu.Unlock()
}

// Run implements backend.OperatorAsyncSnapshot: it serializes every state into one file. A
// backend without any state (none registered, none restored) writes no file and returns a
// nil handle, as Flink does. A registered state, even empty, is written: a restore then
// reports IsRestored.
func (s *asyncSnapshot) Run(ctx context.Context, out snapshot.StreamFactory) (*snapshot.OperatorStateHandle, error) {
	s.mu.Lock()
	states, released := s.states, s.released
	s.states, s.released = nil, true
	s.mu.Unlock()
	if released {
		return nil, fmt.Errorf("operator %s subtask %d: operator state snapshot %d was already run or released", s.opID, s.subtask, s.id)
	}
	if len(states) == 0 {
		return nil, nil
	}
	f, err := out.Create(ctx, fmt.Sprintf("%s-operator-%d", s.opID, s.subtask))
	if err != nil {
		return nil, err
	}
	w := snapshot.NewOperatorWriter(f, s.subtask, s.parallelism)
	fail := func(err error) (*snapshot.OperatorStateHandle, error) {
		w.Abort()
		return nil, fmt.Errorf("operator %s subtask %d: snapshot %d: %w", s.opID, s.subtask, s.id, err)
	}
	var buf []byte
	for _, st := range states {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := w.BeginState(st.meta, st.items()); err != nil {
			return fail(err)
		}
		if buf, err = st.write(w, buf); err != nil {
			return fail(fmt.Errorf("operator state %q: %w", st.meta.Name, err))
		}
	}
	h, err := w.Finish()
	if err != nil {
		return nil, fmt.Errorf("operator %s subtask %d: snapshot %d: %w", s.opID, s.subtask, s.id, err)
	}
	return h, nil
}

// items is the number of items write adds.
func (st *frozen) items() int {
	switch {
	case st.raw:
		return len(st.rawValues)
	case st.meta.Mode == snapshot.ModeBroadcast:
		return len(st.entries)
	default:
		return len(st.list)
	}
}

// write adds the state's items to w; buf is scratch space, returned for reuse.
func (st *frozen) write(w *snapshot.OperatorWriter, buf []byte) ([]byte, error) {
	var err error
	switch {
	case st.raw && st.meta.Mode == snapshot.ModeBroadcast:
		for i := range st.rawKeys {
			w.Entry(st.rawKeys[i], st.rawValues[i])
		}
	case st.raw:
		for _, v := range st.rawValues {
			w.Element(v)
		}
	case st.meta.Mode == snapshot.ModeBroadcast:
		// Entries in key-byte order, so equal state gives equal files.
		keys := slices.Sorted(maps.Keys(st.entries))
		for _, k := range keys {
			if buf, err = st.val.AppendAny(buf[:0], st.entries[k].value); err != nil {
				return buf, err
			}
			w.Entry([]byte(k), buf)
		}
	default:
		for _, v := range st.list {
			if buf, err = st.val.AppendAny(buf[:0], v); err != nil {
				return buf, err
			}
			w.Element(buf)
		}
	}
	return buf, nil
}

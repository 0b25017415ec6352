package heap

import (
	"context"
	"fmt"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/state"
)

// Snapshot implements state.KeyedStateBackend. The synchronous phase freezes every state's
// key-group tables: O(states x key groups), independent of the amount of state.
func (b *Backend) Snapshot(checkpointID int64, opts state.SnapshotOptions) (state.AsyncSnapshot, error) {
	if b.closed {
		return nil, state.ErrClosed
	}
	s := &snapshot{id: checkpointID, opID: b.opID, rng: b.rng, keySer: b.keySer, comp: opts.Compression}
	for _, name := range b.order {
		t := b.states[name]
		s.metas = append(s.metas, t.meta())
		s.states = append(s.states, t.freeze())
	}
	return s, nil
}

type snapshot struct {
	id     int64
	opID   string
	rng    keygroup.Range
	keySer string
	comp   checkpoint.Compression
	metas  []checkpoint.StateMeta
	states []frozen
}

func (s *snapshot) Release() { s.states = nil }

func (s *snapshot) Run(ctx context.Context, out checkpoint.StreamFactory) (*checkpoint.KeyedStateHandle, error) {
	if s.states == nil && len(s.metas) > 0 {
		return nil, fmt.Errorf("heap backend: snapshot %d was released", s.id)
	}
	defer s.Release()
	f, err := out.Create(ctx, fmt.Sprintf("%s-keyed-%d-%d", s.opID, s.rng.Start, s.rng.End))
	if err != nil {
		return nil, err
	}
	w := checkpoint.NewFullWriter(f, s.rng, s.keySer, s.metas, s.comp)
	var scratch []byte
	for kg := range s.rng.All() {
		if err := ctx.Err(); err != nil {
			w.Abort()
			return nil, err
		}
		if err := w.BeginKeyGroup(kg); err != nil {
			w.Abort()
			return nil, err
		}
		for i, st := range s.states {
			if scratch, err = st.write(w, i, kg-s.rng.Start, scratch); err != nil {
				w.Abort()
				return nil, fmt.Errorf("heap backend: snapshot %d of state %q: %w", s.id, s.metas[i].Name, err)
			}
		}
	}
	return w.Finish()
}

package heap

import (
	"context"
	"fmt"
	"slices"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// runIncremental is Run of an incremental checkpoint: a base (the full format) or a delta on
// the chain of the last confirmed checkpoint, as a shared file, and the handle of the chain.
// A delta without any change writes no file: the checkpoint's chain is its predecessor's.
func (s *asyncSnapshot) runIncremental(ctx context.Context, out snapshot.SharedStreamFactory) (*snapshot.KeyedStateHandle, error) {
	inc := s.inc
	var hs []*snapshot.KeyedStateHandle
	switch {
	case inc.base && s.empty():
		// Nothing to write, as a full snapshot: the next delta has no chain to build on.
		inc.finished(s.id, newChain(nil))
		return nil, nil
	case inc.base:
		h, err := s.writeShared(ctx, out, s.writeFullKG)
		if err != nil {
			return nil, err
		}
		hs = []*snapshot.KeyedStateHandle{h}
	default:
		hs = slices.Clone(inc.prev.handles)
		if s.anyDirty() {
			h, err := s.writeShared(ctx, out, s.writeDeltaKG)
			if err != nil {
				return nil, err
			}
			h.Delta = true
			hs = append(hs, h)
		}
	}
	inc.finished(s.id, newChain(hs))
	return &snapshot.KeyedStateHandle{KeyGroupRange: s.rng, KeySerializer: s.keySer, States: s.metas,
		Incremental:  &snapshot.IncrementalHandle{Backend: snapshot.HashmapChainBackend, Chain: hs},
		TTLWatermark: s.watermark}, nil
}

// writeShared writes one handle of a chain under shared/, building each key group with build.
func (s *asyncSnapshot) writeShared(ctx context.Context, out snapshot.SharedStreamFactory,
	build func(kg int, w *snapshot.BlockBuilder) error) (*snapshot.KeyedStateHandle, error) {
	f, err := out.CreateShared(ctx, fmt.Sprintf("%s-keyed-%d-%d", s.opID, s.rng.Start, s.rng.End))
	if err != nil {
		return nil, err
	}
	return snapshot.WriteFull(ctx, f, s.rng, s.keySer, s.metas, s.comp, s.workers, build)
}

// writeFullKG writes every record of key group kg (a full snapshot's block).
func (s *asyncSnapshot) writeFullKG(kg int, w *snapshot.BlockBuilder) error {
	var scratch []byte
	for i, st := range s.states {
		var err error
		if scratch, err = st.write(w, i, kg-s.rng.Start, scratch); err != nil {
			return fmt.Errorf("heap backend: snapshot %d of state %q: %w", s.id, s.metas[i].Name, err)
		}
	}
	return nil
}

// writeDeltaKG writes key group kg's block of a delta: the changed cells of every state, each
// after its tombstone.
func (s *asyncSnapshot) writeDeltaKG(kg int, w *snapshot.BlockBuilder) error {
	var scratch []byte
	kgIdx := kg - s.rng.Start
	for i, st := range s.states {
		dirty := s.inc.dirtyAt(i, kgIdx)
		if len(dirty) == 0 {
			continue
		}
		d, ok := st.(deltaWriter)
		if !ok { // a restored state nobody registered is never written to
			return fmt.Errorf("heap backend: snapshot %d: state %q changed but cannot write a delta", s.id, s.metas[i].Name)
		}
		var err error
		if scratch, err = d.writeDelta(w, len(s.states), i, kgIdx, dirty, scratch); err != nil {
			return fmt.Errorf("heap backend: snapshot %d of state %q: %w", s.id, s.metas[i].Name, err)
		}
	}
	return nil
}

// anyDirty reports whether any state changed since the chain's checkpoint.
func (s *asyncSnapshot) anyDirty() bool {
	for i := range s.states {
		for kgIdx := range s.rng.Len() {
			if len(s.inc.dirtyAt(i, kgIdx)) > 0 {
				return true
			}
		}
	}
	return false
}

// restoreChain restores a chain's handles: base, then deltas. It reads them newest first, so
// that a cell that a later handle replaced or removed is never copied from an earlier one:
// the cells each delta mentions (by a tombstone or a record) are remembered with the index of
// the newest handle mentioning them, and an older handle's records of them are skipped; a
// key-group tombstone hides all of its state's records of the key group in older handles.
// Only the base's records are not remembered, so a restore of a chain holds the keys of its
// deltas twice at most, never those of the base.
func (b *Backend) restoreChain(ctx context.Context, r snapshot.Reader, hs []*snapshot.KeyedStateHandle) error {
	type kgKey struct {
		t  *restored
		kg int
	}
	cells := map[kgKey]map[string]int{}
	groups := map[kgKey]int{}
	var buf []byte
	for j := len(hs) - 1; j >= 0; j-- {
		keep := func(t *restored, kg int, rec *snapshot.Record) bool {
			g := kgKey{t, kg}
			if n, ok := groups[g]; ok && n > j {
				return false
			}
			if rec.Tombstone == snapshot.TombstoneKeyGroup {
				groups[g] = j
				return false
			}
			if j == len(hs)-1 && j == 0 {
				return true // a chain of a base alone
			}
			m := cells[g]
			if m == nil && j == 0 {
				return true
			}
			buf = appendMapKey(buf[:0], rec.Key, rec.Namespace)
			if n, ok := m[string(buf)]; ok {
				return n == j
			}
			if j > 0 {
				if m == nil {
					m = map[string]int{}
					cells[g] = m
				}
				m[string(buf)] = j
			}
			return true
		}
		if err := b.restoreHandle(ctx, r, hs[j], keep); err != nil {
			return err
		}
	}
	return nil
}

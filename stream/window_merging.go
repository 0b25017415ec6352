package stream

import (
	"fmt"
	"slices"

	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// windowMapping maps an in-flight window of a merging assigner to the window whose
// namespace holds its state, as an entry of Flink's MergingWindowSet.
type windowMapping struct {
	Window, State TimeWindow
}

// mergingWindowSet is Flink's MergingWindowSet for the current key: the in-flight windows
// and their state windows. When windows merge, the merge result keeps the state window of
// one of them, so that only the others' state moves. It is kept in keyed state (so it is
// checkpointed and rescaled with the key), loaded and persisted around each use.
type mergingWindowSet struct {
	assigner MergingWindowAssigner
	st       state.ValueState[[]windowMapping]
	m        []windowMapping
	dirty    bool
	scratch  []TimeWindow
	groups   []mergeGroup
}

type mergeGroup struct {
	result TimeWindow
	merged []TimeWindow
}

func (s *mergingWindowSet) load() error {
	v, _, err := s.st.Value()
	if err != nil {
		return err
	}
	s.m = append(s.m[:0], v...) // the backend may keep v: never modify it
	s.dirty = false
	return nil
}

func (s *mergingWindowSet) persist() error {
	if !s.dirty {
		return nil
	}
	s.dirty = false
	if len(s.m) == 0 {
		return s.st.Clear()
	}
	return s.st.Update(slices.Clone(s.m))
}

func (s *mergingWindowSet) index(w TimeWindow) int {
	for i, m := range s.m {
		if m.Window == w {
			return i
		}
	}
	return -1
}

func (s *mergingWindowSet) stateWindow(w TimeWindow) (TimeWindow, bool) {
	if i := s.index(w); i >= 0 {
		return s.m[i].State, true
	}
	return TimeWindow{}, false
}

// remove removes w and returns its state window.
func (s *mergingWindowSet) remove(w TimeWindow) (TimeWindow, bool) {
	i := s.index(w)
	if i < 0 {
		return TimeWindow{}, false
	}
	sw := s.m[i].State
	s.m = slices.Delete(s.m, i, i+1)
	s.dirty = true
	return sw, true
}

func (s *mergingWindowSet) put(w, sw TimeWindow) {
	if i := s.index(w); i >= 0 {
		s.m[i].State = sw
	} else {
		s.m = append(s.m, windowMapping{Window: w, State: sw})
	}
	s.dirty = true
}

// retire removes w, whose state has been cleared.
func (s *mergingWindowSet) retire(w TimeWindow) { s.remove(w) }

// addWindow adds w, merging it with in-flight windows as the assigner says, and returns the
// window it ended up in. merge is called for every merge, before the set changes further,
// with the result, the windows merged into it, the result's state window and the state
// windows to fold into it.
func (s *mergingWindowSet) addWindow(w TimeWindow, merge func(result TimeWindow, merged []TimeWindow, stateResult TimeWindow, mergedState []TimeWindow) error) (TimeWindow, error) {
	s.scratch = s.scratch[:0]
	for _, m := range s.m {
		s.scratch = append(s.scratch, m.Window)
	}
	s.scratch = append(s.scratch, w)
	s.groups = s.groups[:0]
	s.assigner.MergeWindows(s.scratch, func(merged []TimeWindow, result TimeWindow) {
		s.groups = append(s.groups, mergeGroup{result: result, merged: slices.Clone(merged)})
	})
	result, mergedNew := w, false
	for _, g := range s.groups {
		merged := g.merged
		if i := slices.Index(merged, w); i >= 0 {
			merged = slices.Delete(merged, i, i+1)
			mergedNew, result = true, g.result
		}
		if len(merged) == 0 {
			continue
		}
		target, ok := s.stateWindow(merged[0])
		if !ok {
			return TimeWindow{}, fmt.Errorf("stream: merging window %v is not in the merging window set", merged[0])
		}
		var mergedState []TimeWindow
		for _, m := range merged {
			if sw, ok := s.remove(m); ok && sw != target {
				mergedState = append(mergedState, sw)
			}
		}
		s.put(g.result, target)
		// A window merged into itself without growing has nothing to merge.
		if len(merged) == 1 && merged[0] == g.result {
			continue
		}
		if err := merge(g.result, merged, target, mergedState); err != nil {
			return TimeWindow{}, err
		}
	}
	if !mergedNew && s.index(w) < 0 {
		s.put(w, w) // a new, self-contained window
	}
	return result, nil
}

// windowMappingSerializer encodes a merging window set as 32 bytes per mapping.
type windowMappingSerializer struct{}

func (windowMappingSerializer) ID() string { return "stream.merging-window-set-v1" }

func (windowMappingSerializer) Append(dst []byte, v []windowMapping) ([]byte, error) {
	for _, m := range v {
		dst = m.State.AppendNamespace(m.Window.AppendNamespace(dst))
	}
	return dst, nil
}

func (s windowMappingSerializer) Decode(src []byte) ([]windowMapping, error) {
	const n = 2 * timeWindowNamespaceSize
	if len(src)%n != 0 {
		return nil, fmt.Errorf("%w %s: %d bytes is not a multiple of %d", serde.ErrDecode, s.ID(), len(src), n)
	}
	out := make([]windowMapping, 0, len(src)/n)
	for ; len(src) > 0; src = src[n:] {
		w, _ := DecodeTimeWindow(src[:timeWindowNamespaceSize])
		sw, _ := DecodeTimeWindow(src[timeWindowNamespaceSize:n])
		out = append(out, windowMapping{Window: w, State: sw})
	}
	return out, nil
}

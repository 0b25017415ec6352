package backendtest

import (
	"errors"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

func testErrors(t *testing.T, f Factory) {
	e := newEnv(t, f)
	s := e.open(2, nil)[0] // owns half the key groups
	v, err := state.GetValueState(s.kb, valueDesc)
	must(t, err)
	if _, _, err := v.Value(); !errors.Is(err, state.ErrNoCurrentKey) {
		t.Fatalf("Value without key: %v", err)
	}
	if err := v.Update("x"); !errors.Is(err, state.ErrNoCurrentKey) {
		t.Fatalf("Update without key: %v", err)
	}
	var foreign int64
	for k := int64(0); ; k++ {
		kg, err := s.kb.KeyGroupOf(k)
		must(t, err)
		if !s.b.KeyGroupRange().Contains(kg) {
			foreign = k
			break
		}
	}
	setKey(t, s, 0)
	must(t, v.Update("owned"))
	if err := s.kb.SetCurrentKey(foreign); !errors.Is(err, backend.ErrKeyGroupNotOwned) {
		t.Fatalf("SetCurrentKey(foreign) = %v", err)
	}
	// A failed SetCurrentKey leaves no current key, not the previous one.
	if err := v.Update("x"); !errors.Is(err, state.ErrNoCurrentKey) {
		t.Fatalf("Update after a failed SetCurrentKey: %v", err)
	}
	if _, err := state.GetListState(s.kb, state.ListDescriptor[string]{Name: valueDesc.Name}); !errors.Is(err, state.ErrStateConflict) {
		t.Fatalf("re-register as list: %v", err)
	}
	if _, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: valueDesc.Name}); !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("re-register with another serializer: %v", err)
	}
	if _, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{}); err == nil {
		t.Fatal("empty state name accepted")
	}
	if _, err := state.NewKeyedBackend[string](s.b, serde.String{}); !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("wrong key serializer: %v", err)
	}
}

// testClosed: after Close, the backend and every state still held fail with backend.ErrClosed
// rather than reading or writing state that is gone, whatever key is set afterwards.
func testClosed(t *testing.T, f Factory) {
	_, s := single(t, f)
	h := states(t, s)
	setKey(t, s, 1)
	must(t, h.v.Update("a"))
	must(t, h.l.Update([]int64{1}))
	must(t, h.m.Put("k", 1))
	must(t, h.w.Put(1, 1))
	must(t, h.r.Add(1))
	must(t, s.b.Close())
	if err := s.kb.SetCurrentKey(1); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("SetCurrentKey after Close = %v, want ErrClosed", err)
	}
	if err := s.kb.SetCurrentKeyBytes(mustAppendKey(t, 1)); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("SetCurrentKeyBytes after Close = %v, want ErrClosed", err)
	}
	checks := map[string]error{
		"ValueState.Value":  func() error { _, _, err := h.v.Value(); return err }(),
		"ValueState.Update": h.v.Update("b"),
		"ListState.Add":     h.l.Add(2),
		"ListState.Update":  h.l.Update([]int64{2}),
		"MapState.Get":      func() error { _, _, err := h.m.Get("k"); return err }(),
		"MapState.Put":      h.m.Put("k", 2),
		"word MapState.Get": func() error { _, _, err := h.w.Get(1); return err }(),
		"word MapState.Put": h.w.Put(1, 2),
		"ReducingState.Add": h.r.Add(2),
		"ReducingState.Get": func() error { _, _, err := h.r.Get(); return err }(),
	}
	for name, err := range checks {
		if !errors.Is(err, backend.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if _, err := s.b.Snapshot(1, backend.SnapshotOptions{}); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Snapshot after Close = %v, want ErrClosed", err)
	}
	if _, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "new"}); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("registering a state after Close = %v, want ErrClosed", err)
	}
}

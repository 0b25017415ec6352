package backendtest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

func testKeys(t *testing.T, f Factory) {
	_, s := single(t, f)
	v, err := state.GetValueState(s.kb, valueDesc)
	must(t, err)
	want := map[string][]int64{}
	for k := int64(-50); k < 50; k++ {
		setKey(t, s, k)
		ns := "a"
		if k%3 == 0 {
			ns = "b"
		}
		v.SetNamespace(nsBytes(ns))
		must(t, v.Update(fmt.Sprint(k)))
		want[ns] = append(want[ns], k)
	}
	setKey(t, s, 1000)
	v.SetNamespace(nsBytes("a"))
	must(t, v.Update("x"))
	must(t, v.Clear()) // a cleared key has no state
	for ns, keys := range want {
		got := sorted(collect(t, s.kb.Keys(valueDesc.Name, nsBytes(ns))))
		if !slices.Equal(got, sorted(keys)) {
			t.Fatalf("Keys(%s) = %v, want %v", ns, got, keys)
		}
	}
	if got := collect(t, s.kb.Keys(valueDesc.Name, nil)); len(got) != 0 {
		t.Fatalf("Keys(void) = %v", got)
	}
	for _, err := range s.kb.Keys("no-such-state", nil) {
		if !errors.Is(err, backend.ErrUnknownState) {
			t.Fatalf("Keys of unknown state: %v", err)
		}
	}
}

// testCurrentKey checks what the KeyedBackend reports of the current key, whichever way the
// backend takes it (bytes or, for 8-byte keys, a word): its bytes and key group, unchanged by
// computing another key's group, and no current key after a failed SetCurrentKey.
func testCurrentKey(t *testing.T, f Factory) {
	e := newEnv(t, f)
	s := e.open(2, nil)[0]
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	var owned, foreign []int64
	for k := int64(-5); len(owned) < 5 || len(foreign) < 1; k++ {
		kg, err := s.kb.KeyGroupOf(k)
		must(t, err)
		if want := keygroup.Of(mustAppendKey(t, k), s.b.MaxParallelism()); kg != want {
			t.Fatalf("KeyGroupOf(%d) = %d, keygroup.Of says %d", k, kg, want)
		}
		if s.b.KeyGroupRange().Contains(kg) {
			owned = append(owned, k)
		} else {
			foreign = append(foreign, k)
		}
	}
	for _, k := range owned {
		setKey(t, s, k)
		must(t, v.Update(k))
		if _, err := s.kb.KeyGroupOf(foreign[0]); err != nil {
			t.Fatal(err)
		}
		raw, kg, ok := s.kb.CurrentKeyBytes()
		want := mustAppendKey(t, k)
		if !ok || string(raw) != string(want) || kg != keygroup.Of(want, s.b.MaxParallelism()) {
			t.Fatalf("key %d: CurrentKeyBytes = %x, %d, %v; want %x, %d", k, raw, kg, ok, want, keygroup.Of(want, s.b.MaxParallelism()))
		}
		if got, ok := s.kb.CurrentKey(); !ok || got != k {
			t.Fatalf("CurrentKey = %d, %v; want %d", got, ok, k)
		}
	}
	for _, k := range owned {
		must(t, s.kb.SetCurrentKeyBytes(mustAppendKey(t, k)))
		if got, ok := get[int64](t, v); !ok || got != k {
			t.Fatalf("key %d set from bytes: value %d, %v", k, got, ok)
		}
	}
	// SetCurrentKeyRouted, given what a keyed edge carries (the word key's bytes or none,
	// and its key group), scopes state as SetCurrentKey does.
	maxP := s.b.MaxParallelism()
	for _, k := range owned {
		want := mustAppendKey(t, k)
		for _, raw := range [][]byte{want, nil} {
			must(t, s.kb.SetCurrentKeyRouted(k, raw, keygroup.Of(want, maxP)))
			if got, ok := get[int64](t, v); !ok || got != k {
				t.Fatalf("key %d routed with bytes %x: value %d, %v", k, raw, got, ok)
			}
			got, kg, ok := s.kb.CurrentKeyBytes()
			if !ok || string(got) != string(want) || kg != keygroup.Of(want, maxP) {
				t.Fatalf("key %d routed: CurrentKeyBytes = %x, %d, %v; want %x", k, got, kg, ok, want)
			}
			if got, ok := s.kb.CurrentKey(); !ok || got != k {
				t.Fatalf("key %d routed: CurrentKey = %d, %v", k, got, ok)
			}
		}
	}
	// A misrouted record fails loudly and leaves no current key.
	raw := mustAppendKey(t, foreign[0])
	if err := s.kb.SetCurrentKeyRouted(foreign[0], raw, keygroup.Of(raw, maxP)); !errors.Is(err, backend.ErrKeyGroupNotOwned) {
		t.Fatalf("SetCurrentKeyRouted(%d) outside the range = %v", foreign[0], err)
	}
	if err := v.Update(1); !errors.Is(err, state.ErrNoCurrentKey) {
		t.Fatalf("Update after a misrouted key: %v", err)
	}
	setKey(t, s, owned[0])
	if err := s.kb.SetCurrentKey(foreign[0]); !errors.Is(err, backend.ErrKeyGroupNotOwned) {
		t.Fatalf("SetCurrentKey(%d) outside the range = %v", foreign[0], err)
	}
	if _, _, ok := s.kb.CurrentKeyBytes(); ok {
		t.Fatal("CurrentKeyBytes reports a key after a failed SetCurrentKey")
	}
}

func mustAppendKey(t testing.TB, k int64) []byte {
	t.Helper()
	b, err := serde.AppendKey(serde.Int64{}, nil, k)
	must(t, err)
	return b
}

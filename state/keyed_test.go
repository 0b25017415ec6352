package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// TestSetCurrentKeyRouted sets random string keys through SetCurrentKey, through
// SetCurrentKeyRouted with the key group only, and through SetCurrentKeyRouted with the
// key's bytes too (as a keyed edge does), appended to one shared arena, and checks against a
// map that all three scope state the same way, that CurrentKeyBytes reports the key's bytes
// and group even when the caller overwrites the bytes it gave after the call, that no call
// writes into bytes given to it, and that a key group outside the range fails and leaves
// no current key.
func TestSetCurrentKeyRouted(t *testing.T) {
	const maxP = 128
	b, err := heap.New(context.Background(), backend.Options{OperatorID: "routed", MaxParallelism: maxP,
		KeyGroupRange: keygroup.RangeFor(maxP, 1, 0), KeySerializerID: serde.String{}.ID()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kb, err := state.NewKeyedBackend(b, serde.String{})
	if err != nil {
		t.Fatal(err)
	}
	count, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "count"})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	model := map[string]int64{}
	var arena []byte
	type routed struct{ raw, want []byte }
	var given []routed
	for i := range 2000 {
		key := fmt.Sprintf("k%d\x00%d", rng.IntN(50), rng.IntN(3)) // zero bytes are escaped
		switch i % 3 {
		case 0:
			if err := kb.SetCurrentKey(key); err != nil {
				t.Fatal(err)
			}
		case 1: // the key group is known, the bytes are not
			raw, err := serde.AppendKey(serde.String{}, nil, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := kb.SetCurrentKeyRouted(key, nil, keygroup.Of(raw, maxP)); err != nil {
				t.Fatal(err)
			}
			if got, kg, ok := kb.CurrentKeyBytes(); !ok || !bytes.Equal(got, raw) || kg != keygroup.Of(raw, maxP) {
				t.Fatalf("routed %q without bytes: CurrentKeyBytes = %x, %d, %v; want %x", key, got, kg, ok, raw)
			}
		default:
			start := len(arena)
			if arena, err = serde.AppendKey(serde.String{}, arena, key); err != nil {
				t.Fatal(err)
			}
			raw := arena[start:len(arena):len(arena)]
			given = append(given, routed{raw, bytes.Clone(raw)})
			if err := kb.SetCurrentKeyRouted(key, raw, keygroup.Of(raw, maxP)); err != nil {
				t.Fatal(err)
			}
			// The caller may reuse raw once the call returns (a batch's keys are recycled).
			want := bytes.Clone(raw)
			for j := range raw {
				raw[j] ^= 0xff
			}
			if got, kg, ok := kb.CurrentKeyBytes(); !ok || !bytes.Equal(got, want) || kg != keygroup.Of(want, maxP) {
				t.Fatalf("routed %q: CurrentKeyBytes = %x, %d, %v; want %x", key, got, kg, ok, want)
			}
			copy(raw, want)
		}
		if got, ok := kb.CurrentKey(); !ok || got != key {
			t.Fatalf("CurrentKey = %q, %v; want %q", got, ok, key)
		}
		n, _, err := count.Value()
		if err != nil {
			t.Fatal(err)
		}
		if n != model[key] {
			t.Fatalf("step %d, key %q: count %d, model %d", i, key, n, model[key])
		}
		model[key]++
		if err := count.Update(n + 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range given {
		if !bytes.Equal(g.raw, g.want) {
			t.Fatalf("a routed key's bytes were overwritten: %x, want %x", g.raw, g.want)
		}
	}
	if err := kb.SetCurrentKeyRouted("a", nil, maxP); !errors.Is(err, backend.ErrKeyGroupNotOwned) {
		t.Fatalf("key group outside the range: %v", err)
	}
	if _, ok := kb.CurrentKey(); ok {
		t.Fatal("a misrouted key left a current key")
	}
}

package stream

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// TestKeyRouterKeyGroup: the key group a keyed edge computes once, for word keys (hashed as
// words) and serialized keys alike, is keygroup.Of of the key's encoding, the one the keyed
// task's state is scoped by; a key that is not a word comes with that encoding.
func TestKeyRouterKeyGroup(t *testing.T) {
	const maxP = 4096
	words := newKeyRouter(func(e event) int64 { return e.Val }, serde.Of[int64](), maxP)
	if words.word == nil {
		t.Fatal("int64 keys are not routed as words")
	}
	strs := newKeyRouter(func(e event) string { return e.Key }, serde.Of[string](), maxP)
	for i := range int64(2000) {
		e := event{Key: fmt.Sprintf("k\x00%d", i), Val: i*7919 - 1000}
		for _, c := range []struct {
			got   func() ([]byte, int, error)
			want  func() ([]byte, error)
			bytes bool // the key's bytes are carried (not a word key)
		}{
			{func() ([]byte, int, error) { return words.keyGroup(e) }, func() ([]byte, error) { return serde.AppendKey(serde.Of[int64](), nil, e.Val) }, false},
			{func() ([]byte, int, error) { return strs.keyGroup(e) }, func() ([]byte, error) { return serde.AppendKey(serde.Of[string](), nil, e.Key) }, true},
		} {
			raw, kg, err := c.got()
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.want()
			if err != nil {
				t.Fatal(err)
			}
			if wantKG := keygroup.Of(want, maxP); kg != wantKG {
				t.Fatalf("event %+v: key group %d, want %d", e, kg, wantKG)
			}
			if c.bytes != (raw != nil) || c.bytes && string(raw) != string(want) {
				t.Fatalf("event %+v: serialized key %x, want %x (carried: %v)", e, raw, want, c.bytes)
			}
		}
	}
}

// TestKeyedOpRejectsMisroutedRecord: a record that reaches a subtask with a key group
// outside its range fails with backend.ErrKeyGroupNotOwned, for word and serialized keys,
// and reaches neither state nor the function.
func TestKeyedOpRejectsMisroutedRecord(t *testing.T) {
	const maxP = 128
	rng := keygroup.RangeFor(maxP, 2, 0)
	t.Run("string", func(t *testing.T) {
		testMisrouted(t, maxP, rng, func(e event) string { return e.Key }, serde.Of[string]())
	})
	t.Run("int64", func(t *testing.T) {
		testMisrouted(t, maxP, rng, func(e event) int64 { return e.Val }, serde.Of[int64]())
	})
}

// countingLogic counts the records it is given.
type countingLogic[K any] struct{ n int }

func (c *countingLogic[K]) processElement(event, int64) error { c.n++; return nil }
func (c *countingLogic[K]) onTimer(FiredTimer[K]) error       { return nil }

func testMisrouted[K any](t *testing.T, maxP int, rng keygroup.Range, key func(event) K, ser serde.Serializer[K]) {
	b, err := heap.New(context.Background(), backend.Options{OperatorID: "misrouted", MaxParallelism: maxP,
		KeyGroupRange: rng, KeySerializerID: ser.ID()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kb, err := state.NewKeyedBackend(b, ser)
	if err != nil {
		t.Fatal(err)
	}
	logic := &countingLogic[K]{}
	op := &keyedOp[K, event, string]{kb: kb, key: key, logic: logic}
	r := newKeyRouter(key, ser, maxP)
	owned, foreign := 0, 0
	for i := int64(0); owned < 10 || foreign < 10; i++ {
		e := event{Key: fmt.Sprint("k", i), Val: i}
		raw, kg, err := r.keyGroup(e)
		if err != nil {
			t.Fatal(err)
		}
		err = op.processRecord(e, 0, raw, kg)
		if rng.Contains(kg) {
			owned++
			if err != nil {
				t.Fatalf("owned key group %d: %v", kg, err)
			}
		} else {
			foreign++
			if !errors.Is(err, backend.ErrKeyGroupNotOwned) {
				t.Fatalf("key group %d outside %v: %v, want ErrKeyGroupNotOwned", kg, rng, err)
			}
		}
	}
	if logic.n != owned {
		t.Fatalf("the function saw %d records, want the %d owned ones", logic.n, owned)
	}
}

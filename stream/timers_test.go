package stream_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/stream"
)

func newKeyed(t testing.TB) *state.KeyedBackend[string] {
	b, err := heap.New(context.Background(), backend.Options{MaxParallelism: 128,
		KeyGroupRange: keygroup.RangeFor(128, 1, 0), KeySerializerID: serde.String{}.ID()})
	if err != nil {
		t.Fatal(err)
	}
	kb, err := state.NewKeyedBackend[string](b, serde.String{})
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

func TestTimerServiceFiresInOrderWithKeySet(t *testing.T) {
	kb := newKeyed(t)
	clock := &stream.ManualClock{T: 1000}
	var fired []string
	var svc *stream.InternalTimerService[string]
	count, _ := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "count"})
	svc, err := stream.NewInternalTimerService("op", kb, clock, stream.TriggerFunc[string](func(ft stream.FiredTimer[string]) error {
		cur, _ := kb.CurrentKey()
		if cur != ft.Key {
			return fmt.Errorf("current key %q during timer of %q", cur, ft.Key)
		}
		n, _, err := count.Value() // the key's state is readable
		if err != nil {
			return err
		}
		fired = append(fired, fmt.Sprintf("%s:%s@%d/%s=%d", ft.Domain, ft.Key, ft.Timestamp, ft.Namespace, n))
		if ft.Key == "b" && ft.Timestamp == 20 {
			// A timer registered during firing at or before the watermark fires in the same advance.
			return svc.RegisterEventTimeTimer(nil, 25)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		key string
		ts  int64
	}{{"a", 30}, {"b", 20}, {"c", 10}, {"a", 30}, {"c", 40}} {
		if err := kb.SetCurrentKey(r.key); err != nil {
			t.Fatal(err)
		}
		_ = count.Update(int64(len(r.key)))
		if err := svc.RegisterEventTimeTimer(nil, r.ts); err != nil {
			t.Fatal(err)
		}
	}
	_ = kb.SetCurrentKey("c")
	_ = svc.DeleteEventTimeTimer(nil, 40)
	_ = svc.RegisterProcessingTimeTimer([]byte("w"), 1500)
	if ev, pr := svc.NumTimers(); ev != 3 || pr != 1 {
		t.Fatalf("timers = %d event, %d processing", ev, pr)
	}
	if err := svc.AdvanceWatermark(29); err != nil {
		t.Fatal(err)
	}
	if err := svc.AdvanceWatermark(5); err != nil { // watermarks never go back
		t.Fatal(err)
	}
	if svc.CurrentWatermark() != 29 {
		t.Fatalf("watermark = %d", svc.CurrentWatermark())
	}
	want := []string{"event time:c@10/=1", "event time:b@20/=1", "event time:b@25/=1"}
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %q, want %q", fired, want)
	}
	if err := svc.AdvanceProcessingTime(); err != nil || len(fired) != 3 {
		t.Fatalf("processing timer fired early: %v %v", fired, err)
	}
	if next, ok, _ := svc.NextProcessingTime(); !ok || next != 1500 {
		t.Fatalf("NextProcessingTime = %d %v", next, ok)
	}
	clock.T = 1500
	_ = svc.AdvanceProcessingTime()
	_ = svc.AdvanceWatermark(100)
	want = append(want, "processing time:c@1500/w=1", "event time:a@30/=1")
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %q, want %q", fired, want)
	}
}

func TestTimerServiceWithoutKey(t *testing.T) {
	kb := newKeyed(t)
	svc, err := stream.NewInternalTimerService("op", kb, &stream.ManualClock{}, stream.TriggerFunc[string](func(stream.FiredTimer[string]) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RegisterEventTimeTimer(nil, 1); err == nil {
		t.Fatal("timer without a current key accepted")
	}
}

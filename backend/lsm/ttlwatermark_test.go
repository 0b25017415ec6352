package lsm_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// TestEventTimeTTLWatermarkAcrossRestore: an entry stamped at event time 0 with a TTL of 10 s
// has expired at watermark 20 s; a checkpoint records that watermark on its handle, and a
// backend restored from it on a fresh clock (no watermark yet, as a new run starts) does not
// return the entry. Without the recorded watermark the restored run judged the entry by no
// time at all and returned it.
func TestEventTimeTTLWatermarkAcrossRestore(t *testing.T) {
	for _, incremental := range []bool{true, false} {
		t.Run(fmt.Sprintf("incremental=%v", incremental), func(t *testing.T) {
			e := newTTLEnv(t, incremental)
			e.clock = &backend.Clock{ProcessingTime: e.now.Load}
			cfg := ttl.Config{TTL: 10 * time.Second, Time: ttl.EventTime}
			b, kb := e.open(nil, lsm.Options{})
			v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
			must(t, err)
			e.clock.SetTimestamp(0)
			must(t, kb.SetCurrentKey(1))
			must(t, v.Update(42))
			e.clock.AdvanceWatermark(20_000)
			h := e.checkpoint(b)
			if h == nil {
				t.Fatal("no handle")
			}
			if h.TTLWatermark == nil || *h.TTLWatermark != 20_000 {
				t.Fatalf("handle's TTLWatermark = %v; want 20000", h.TTLWatermark)
			}
			must(t, b.Close())

			e.clock = &backend.Clock{ProcessingTime: e.now.Load} // a new run: no watermark yet
			_, kb = e.open(h, lsm.Options{})
			v, err = state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
			must(t, err)
			must(t, kb.SetCurrentKey(1))
			got, ok, err := v.Value()
			must(t, err)
			if ok {
				t.Fatalf("restored value = %d; want none: it expired at the snapshot's watermark", got)
			}
			if wm := e.clock.Watermark(); wm != 20_000 {
				t.Fatalf("restored clock's watermark = %d; want 20000", wm)
			}
		})
	}
}

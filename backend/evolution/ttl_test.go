package evolution_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// The TTL golden set pins the TTL format: the 8-byte stamp before every value, list element
// and map value, the states' recorded TTL time, and the handle's TTL watermark. Written once
// (STREAMSTATE_WRITE_GOLDEN=1 go test -run TestWriteGoldenTTL ./backend/evolution/), it must
// restore, with the same stamps, for as long as the format is supported.
const (
	ttlGoldenDir = "testdata/golden-ttl-v1"
	ttlKeys      = 20
	ttlT0        = 1_000_000 // processing time (ms) of key 0's first write
	ttlE0        = 5_000_000 // event time (ms) of key 0's write
	ttlSnapAt    = 15_000    // the snapshot's time and watermark, after T0 / E0
)

var ttlCfg = ttl.Config{TTL: 10 * time.Second}

// ttlGoldenStates registers the TTL states of the golden set on kb.
func ttlGoldenStates(t *testing.T, kb *state.KeyedBackend[int64]) (state.ValueState[int64], state.ListState[string], state.MapState[string, int64], state.ValueState[string]) {
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "pt-value", TTL: ttlCfg})
	must(t, err)
	l, err := state.GetListState(kb, state.ListDescriptor[string]{Name: "pt-list", TTL: ttlCfg})
	must(t, err)
	m, err := state.GetMapState(kb, state.MapDescriptor[string, int64]{Name: "pt-map", TTL: ttlCfg})
	must(t, err)
	ev := ttlCfg
	ev.Time = ttl.EventTime
	e, err := state.GetValueState(kb, state.ValueDescriptor[string]{Name: "et-value", TTL: ev})
	must(t, err)
	return v, l, m, e
}

// TestWriteGoldenTTL writes the TTL golden set when STREAMSTATE_WRITE_GOLDEN is set and it
// does not exist: key k's value, first list element and map entry "a" written at T0+k s,
// its second element and entry "b" at T0+15 s (the snapshot's time), its event-time value
// by a record at E0+k s; the watermark is E0+15 s at the snapshot.
func TestWriteGoldenTTL(t *testing.T) {
	if os.Getenv("STREAMSTATE_WRITE_GOLDEN") == "" {
		t.Skip("set STREAMSTATE_WRITE_GOLDEN=1 to write the TTL golden checkpoints")
	}
	root, err := filepath.Abs(ttlGoldenDir)
	must(t, err)
	if _, err := os.Stat(root); err == nil {
		t.Fatalf("%s exists; a golden checkpoint is never rewritten", root)
	}
	for _, k := range kinds {
		ctx := context.Background()
		st, err := blobstore.OpenURL(ctx, "file://"+filepath.ToSlash(filepath.Join(root, k.name)))
		must(t, err)
		now := int64(ttlT0)
		clock := &backend.Clock{ProcessingTime: func() int64 { return now }}
		opts := keyedOptions()
		opts.Clock = clock
		b, err := k.writer(ctx, opts, t.TempDir(), nil)
		must(t, err)
		kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
		must(t, err)
		v, l, m, e := ttlGoldenStates(t, kb)
		for key := range int64(ttlKeys) {
			now = ttlT0 + key*1000
			clock.SetTimestamp(ttlE0 + key*1000)
			must(t, kb.SetCurrentKey(key))
			must(t, v.Update(key))
			must(t, l.Add(fmt.Sprintf("first-%d", key)))
			must(t, m.Put("a", key))
			must(t, e.Update(fmt.Sprintf("event-%d", key)))
		}
		now = ttlT0 + ttlSnapAt
		clock.SetTimestamp(ttlE0 + ttlSnapAt)
		for key := range int64(ttlKeys) {
			must(t, kb.SetCurrentKey(key))
			must(t, l.Add(fmt.Sprintf("second-%d", key)))
			must(t, m.Put("b", key))
		}
		clock.AdvanceWatermark(ttlE0 + ttlSnapAt)
		ob, err := operator.New(ctx, operatorOptions())
		must(t, err)
		ol, err := state.GetOperatorListState(ob, state.ListDescriptor[orderV1]{Name: opListName, Serializer: jsonOf[orderV1]()})
		must(t, err)
		must(t, ol.Update(opListWant())) // snapshotInto wants an operator handle
		snapshotInto(t, st, k.savepoint, b, ob)
		must(t, ob.Close())
		must(t, b.Close())
		must(t, st.Close())
	}
}

// TestGoldenTTL restores the TTL golden set into each backend with the processing time at the
// snapshot's and a fresh event-time clock: keys 0..5 expired at the snapshot (stamp + 10 s
// <= 15 s), in every state but the late list elements and map entries; whether a full
// snapshot dropped them or an incremental one kept them, none is returned. The recorded
// metadata carries the TTL times and the watermark.
func TestGoldenTTL(t *testing.T) {
	for _, k := range kinds {
		for _, restorer := range k.restorers {
			t.Run(k.name+"/into-"+restorer, func(t *testing.T) {
				dir := t.TempDir()
				must(t, os.CopyFS(dir, os.DirFS(filepath.Join(ttlGoldenDir, k.name))))
				g := loadDir(t, dir, k.savepoint, restorer)
				h := g.m.Operators[0].Keyed[0]
				if h.TTLWatermark == nil || *h.TTLWatermark != ttlE0+ttlSnapAt {
					t.Fatalf("recorded TTL watermark %v, want %d", h.TTLWatermark, ttlE0+ttlSnapAt)
				}
				want := map[string]string{"pt-value": "processing", "pt-list": "processing", "pt-map": "processing", "et-value": "event"}
				for _, s := range h.States {
					if s.TTL != want[s.Name] {
						t.Errorf("state %q records TTL %q, want %q", s.Name, s.TTL, want[s.Name])
					}
				}
				opts := keyedOptions()
				opts.Restore, opts.Reader = g.m.Operators[0].Keyed, g.r
				opts.Clock = &backend.Clock{ProcessingTime: func() int64 { return ttlT0 + ttlSnapAt }}
				b, err := g.restore(context.Background(), opts, t.TempDir(), slog.New(slog.DiscardHandler))
				must(t, err)
				defer b.Close()
				kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
				must(t, err)
				v, l, m, e := ttlGoldenStates(t, kb)
				for key := range int64(ttlKeys) {
					live := key > 5
					must(t, kb.SetCurrentKey(key))
					got, ok, err := v.Value()
					must(t, err)
					if ok != live || (ok && got != key) {
						t.Errorf("key %d: value %d, %v; want live=%v", key, got, ok, live)
					}
					var elems []string
					for s, err := range l.Get() {
						must(t, err)
						elems = append(elems, s)
					}
					wantElems := []string{fmt.Sprintf("second-%d", key)}
					if live {
						wantElems = append([]string{fmt.Sprintf("first-%d", key)}, wantElems...)
					}
					if !slices.Equal(elems, wantElems) {
						t.Errorf("key %d: list %v, want %v", key, elems, wantElems)
					}
					a, okA, err := m.Get("a")
					must(t, err)
					bv, okB, err := m.Get("b")
					must(t, err)
					if okA != live || (okA && a != key) || !okB || bv != key {
						t.Errorf("key %d: map a=%d,%v b=%d,%v; want a live=%v", key, a, okA, bv, okB, live)
					}
					ev, ok, err := e.Value()
					must(t, err)
					if ok != live || (ok && ev != fmt.Sprintf("event-%d", key)) {
						t.Errorf("key %d: event-time value %q, %v; want live=%v", key, ev, ok, live)
					}
				}
			})
		}
	}
}

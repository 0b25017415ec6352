package lsm_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// valueSpy is a block-property collector that counts the point keys it is given by kind, and
// how many of them came with their value.
type valueSpy struct {
	sets, setValues, merges, mergeValues *atomic.Int64
}

func (s valueSpy) Name() string { return "streamstate.test.value-spy" }
func (s valueSpy) AddPointKey(k sstable.InternalKey, v []byte) error {
	switch k.Kind() {
	case pebble.InternalKeyKindSet:
		s.sets.Add(1)
		if len(v) > 0 {
			s.setValues.Add(1)
		}
	case pebble.InternalKeyKindMerge:
		s.merges.Add(1)
		if len(v) > 0 {
			s.mergeValues.Add(1)
		}
	}
	return nil
}
func (valueSpy) AddRangeKeys(sstable.Span) error                        { return nil }
func (valueSpy) AddCollectedWithSuffixReplacement(_, _, _ []byte) error { return nil }
func (valueSpy) SupportsSuffixReplacement() bool                        { return false }
func (valueSpy) FinishDataBlock(buf []byte) ([]byte, error)             { return buf, nil }
func (valueSpy) AddPrevDataBlockToIndexBlock()                          {}
func (valueSpy) FinishIndexBlock(buf []byte) ([]byte, error)            { return buf, nil }
func (valueSpy) FinishTable(buf []byte) ([]byte, error)                 { return buf, nil }

// TestPebbleHidesSetValuesFromCollectors pins the fact the TTL cleanup's design rests on
// (docs/design.md, "TTL cleanup on lsm"): Pebble hands block-property collectors no value for
// SET keys (values and map entries), only for MERGE operands (list adds), so a collector
// cannot record the stamps of a TTL state's values per block. Should a Pebble upgrade start
// passing them, this test fails, and a block-interval property over stamps (sweeping only the
// blocks that may hold expired entries) becomes possible.
func TestPebbleHidesSetValuesFromCollectors(t *testing.T) {
	spy := valueSpy{new(atomic.Int64), new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)}
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{TTLCleanupRate: -1, OptionsHook: func(o *pebble.Options) {
		o.BlockPropertyCollectors = append(o.BlockPropertyCollectors, func() pebble.BlockPropertyCollector { return spy })
	}})
	cfg := ttl.Config{TTL: time.Hour}
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: cfg})
	must(t, err)
	l, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "l", TTL: cfg})
	must(t, err)
	for k := range int64(1000) {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
		must(t, l.Add(k))
	}
	must(t, committed(t, b).Flush())
	if spy.sets.Load() < 1000 || spy.merges.Load() < 1000 {
		t.Fatalf("the collector saw %d sets and %d merges; want 1000 of each", spy.sets.Load(), spy.merges.Load())
	}
	if spy.setValues.Load() != 0 {
		t.Errorf("Pebble passed the value of %d of %d SET keys to a block-property collector: "+
			"a per-block stamp interval has become possible (see docs/design.md, TTL cleanup on lsm)", spy.setValues.Load(), spy.sets.Load())
	}
	if spy.mergeValues.Load() != spy.merges.Load() {
		t.Errorf("Pebble passed the value of %d of %d MERGE keys", spy.mergeValues.Load(), spy.merges.Load())
	}
}

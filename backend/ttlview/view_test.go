package ttlview_test

import (
	"iter"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/state/ttl"
)

// memValue, memList and memMap are raw states of one key and namespace, as a backend holds
// a TTL state's Stamped values.
type memValue struct {
	v  any
	ok bool
}

func (m *memValue) SetNamespace([]byte)       {}
func (m *memValue) Clear() error              { m.v, m.ok = nil, false; return nil }
func (m *memValue) Value() (any, bool, error) { return m.v, m.ok, nil }
func (m *memValue) Update(v any) error        { m.v, m.ok = v, true; return nil }

type memList struct{ vs []any }

func (m *memList) SetNamespace([]byte)   {}
func (m *memList) Clear() error          { m.vs = nil; return nil }
func (m *memList) Get() ([]any, error)   { return m.vs, nil }
func (m *memList) Add(v any) error       { m.vs = append(m.vs, v); return nil }
func (m *memList) AddAll(vs []any) error { m.vs = append(m.vs, vs...); return nil }
func (m *memList) Update(vs []any) error { m.vs = append([]any(nil), vs...); return nil }

type memMap struct{ m map[any]any }

func (m *memMap) SetNamespace([]byte)    {}
func (m *memMap) Clear() error           { clear(m.m); return nil }
func (m *memMap) Put(uk, v any) error    { m.m[uk] = v; return nil }
func (m *memMap) Remove(uk any) error    { delete(m.m, uk); return nil }
func (m *memMap) IsEmpty() (bool, error) { return len(m.m) == 0, nil }
func (m *memMap) Contains(uk any) (bool, error) {
	_, ok := m.m[uk]
	return ok, nil
}

func (m *memMap) Get(uk any) (any, bool, error) {
	v, ok := m.m[uk]
	return v, ok, nil
}

func (m *memMap) All() iter.Seq2[backend.MapEntry, error] {
	return func(yield func(backend.MapEntry, error) bool) {
		for k, v := range m.m {
			if !yield(backend.MapEntry{Key: k, Value: v}, nil) {
				return
			}
		}
	}
}

// TestTTLReadNeverMovesStampBack: under event time with OnReadAndWrite, a read for a late
// record (a timestamp before the entry's stamp) keeps the entry's stamp: a read restarts an
// entry's TTL, it never shortens it (nor expires a live entry it returns). Value, list
// element and map entry (Get and All) alike.
func TestTTLReadNeverMovesStampBack(t *testing.T) {
	cfg := ttl.Config{TTL: 10 * time.Millisecond, Update: ttl.OnReadAndWrite, Time: ttl.EventTime}
	clock := &backend.Clock{}
	wrap := func(raw backend.State) backend.State {
		s, err := ttlview.With(raw, backend.Spec{Name: "s", TTL: &cfg}, clock, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rv, rl, rm := &memValue{}, &memList{}, &memMap{m: map[any]any{}}
	v, l, m := wrap(rv).(backend.Value), wrap(rl).(backend.List), wrap(rm).(backend.Map)
	clock.SetTimestamp(100)
	clock.AdvanceWatermark(100)
	if err := v.Update("v"); err != nil {
		t.Fatal(err)
	}
	if err := l.Add("l"); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("a", "m"); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("b", "m"); err != nil {
		t.Fatal(err)
	}
	// stamps returns the stored stamps of the four entries, -1 for one no longer stored.
	stamps := func() []int64 {
		out := []int64{-1, -1, -1, -1}
		for i, st := range []any{rv.v, nil, rm.m["a"], rm.m["b"]} {
			if i == 1 && len(rl.vs) > 0 {
				st = rl.vs[0]
			}
			if s, ok := st.(ttlview.Stamped); ok {
				out[i] = s.At
			}
		}
		return out
	}
	clock.SetTimestamp(92) // a late record: 92 + 10 <= 105, the watermark below
	clock.AdvanceWatermark(105)
	if got, ok, err := v.Value(); err != nil || !ok || got != "v" {
		t.Fatalf("value = %v, %v, %v", got, ok, err)
	}
	if got, err := l.Get(); err != nil || len(got) != 1 {
		t.Fatalf("list = %v, %v", got, err)
	}
	if _, ok, err := m.Get("a"); err != nil || !ok {
		t.Fatalf("map a: %v, %v", ok, err)
	}
	for e, err := range m.All() {
		if err != nil || e.Value != "m" {
			t.Fatalf("map entry %v, %v", e, err)
		}
	}
	for i, at := range stamps() {
		if at != 100 {
			t.Fatalf("stamps after reads for a late record = %v, want every one kept at 100 (entry %d)", stamps(), i)
		}
	}
	// A read for a later record restamps.
	clock.SetTimestamp(107)
	if _, _, err := v.Value(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(); err != nil {
		t.Fatal(err)
	}
	for range m.All() {
	}
	for i, at := range stamps() {
		if at != 107 {
			t.Fatalf("stamps after reads at 107 = %v, want 107 (entry %d)", stamps(), i)
		}
	}
}

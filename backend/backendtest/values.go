package backendtest

import (
	"bytes"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
)

func testEmptyValues(t *testing.T, f Factory) {
	e, s := single(t, f)
	v, err := state.GetValueState(s.kb, state.ValueDescriptor[[]byte]{Name: "bytes"})
	must(t, err)
	l, err := state.GetListState(s.kb, state.ListDescriptor[string]{Name: "strings"})
	must(t, err)
	m, err := state.GetMapState(s.kb, state.MapDescriptor[string, string]{Name: "smap"})
	must(t, err)
	setKey(t, s, 0)
	must(t, v.Update([]byte{}))
	must(t, l.AddAll([]string{"", "", "x"}))
	must(t, m.Put("", ""))
	check := func(s *subtask, v state.ValueState[[]byte], l state.ListState[string], m state.MapState[string, string]) {
		t.Helper()
		setKey(t, s, 0)
		if got, ok := get[[]byte](t, v); !ok || len(got) != 0 {
			t.Fatalf("empty value: %v %v", got, ok)
		}
		if got := collect(t, l.Get()); !slices.Equal(got, []string{"", "", "x"}) {
			t.Fatalf("list of empties = %q", got)
		}
		if got, ok, _ := m.Get(""); !ok || got != "" {
			t.Fatal("empty map entry lost")
		}
	}
	check(s, v, l, m)
	h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{})
	r := e.open(1, h)[0]
	v2, _ := state.GetValueState(r.kb, state.ValueDescriptor[[]byte]{Name: "bytes"})
	l2, _ := state.GetListState(r.kb, state.ListDescriptor[string]{Name: "strings"})
	m2, _ := state.GetMapState(r.kb, state.MapDescriptor[string, string]{Name: "smap"})
	check(r, v2, l2, m2)
}

func testLargeValue(t *testing.T, f Factory) {
	if testing.Short() {
		t.Skip("64 MiB value")
	}
	e, s := single(t, f)
	d := state.ValueDescriptor[[]byte]{Name: "big"}
	v, err := state.GetValueState(s.kb, d)
	must(t, err)
	pattern := make([]byte, 4093) // odd size, so blocks do not repeat at power-of-two offsets
	for i := range pattern {
		pattern[i] = byte(i * 7 >> 3)
	}
	big := make([]byte, 0, 64<<20+3)
	for len(big) < cap(big) {
		big = append(big, pattern[:min(len(pattern), cap(big)-len(big))]...)
	}
	setKey(t, s, 42)
	must(t, v.Update(big))
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionSnappy} {
		h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Compression: comp})
		r := e.open(1, h)[0]
		v2, err := state.GetValueState(r.kb, d)
		must(t, err)
		setKey(t, r, 42)
		if got, _ := get[[]byte](t, v2); !bytes.Equal(got, big) {
			t.Fatalf("64 MiB value differs after restore (compression %q): len %d", comp, len(got))
		}
		r.b.Close()
	}
}

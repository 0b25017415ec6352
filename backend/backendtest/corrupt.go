package backendtest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/state"
)

func testIncompatibleSerializer(t *testing.T, f Factory) {
	e, s := single(t, f)
	fill(t, []*subtask{s}, 10)
	h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{})
	r := e.open(1, h)[0]
	_, err := state.GetValueState(r.kb, state.ValueDescriptor[int64]{Name: valueDesc.Name})
	if !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("restored with int64 serializer: %v", err)
	}
	for _, want := range []string{valueDesc.Name, "string", "int64"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
	_, err = state.GetMapState(r.kb, state.MapDescriptor[int64, int64]{Name: mapDesc.Name})
	if !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("map restored with another user key serializer: %v", err)
	}
	// The right descriptor still works after the failed attempt.
	v, err := state.GetValueState(r.kb, valueDesc)
	must(t, err)
	setKey(t, r, 3)
	if got, _ := get[string](t, v); got != "v3" {
		t.Fatalf("value = %q", got)
	}
	// Another key serializer is refused at restore.
	wrong := *h[0]
	wrong.KeySerializer = "string"
	err = e.restoreErr([]*snapshot.KeyedStateHandle{&wrong}, keygroup.Range{Start: 0, End: MaxP - 1})
	if !errors.Is(err, state.ErrIncompatibleSerializer) {
		t.Fatalf("restore with another key serializer: %v", err)
	}
}

func testCorrupt(t *testing.T, f Factory) {
	e, s := single(t, f)
	fill(t, []*subtask{s}, 300)
	h := e.checkpoint([]*subtask{s}, backend.SnapshotOptions{Savepoint: true})[0]
	st := e.cps.Storage()
	name := e.cps.JobID() + "/" + h.File.Path
	orig, err := st.ReadRange(e.ctx, name, 0, -1)
	must(t, err)
	all := keygroup.Range{Start: 0, End: MaxP - 1}
	rewrite := func(b []byte) {
		w, err := st.Create(e.ctx, name, false)
		must(t, err)
		_, err = w.Write(b)
		must(t, err)
		_, err = w.Commit()
		must(t, err)
	}
	cases := map[string]func([]byte) []byte{
		"flipped byte in a block": func(b []byte) []byte {
			c := slices.Clone(b)
			blk := h.Blocks[len(h.Blocks)/2]
			c[blk.Offset+blk.Length/2] ^= 0x40
			return c
		},
		"bad magic": func(b []byte) []byte { c := slices.Clone(b); c[0] = 'X'; return c },
		"truncated": func(b []byte) []byte { return b[:len(b)*2/3] },
		"empty":     func(b []byte) []byte { return nil },
	}
	for name, mutate := range cases {
		rewrite(mutate(orig))
		err := e.restoreErr([]*snapshot.KeyedStateHandle{h}, all)
		if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrMissing) {
			t.Fatalf("%s: restore error %v, want ErrCorrupt or ErrMissing", name, err)
		}
		if !strings.Contains(err.Error(), h.File.Path) {
			t.Fatalf("%s: error %q does not name the file", name, err)
		}
	}
	must(t, st.Delete(e.ctx, name))
	if err := e.restoreErr([]*snapshot.KeyedStateHandle{h}, all); !errors.Is(err, snapshot.ErrMissing) {
		t.Fatalf("missing file: %v", err)
	}
	rewrite(orig)
	verify(t, e.open(1, []*snapshot.KeyedStateHandle{h}), 300)
}

package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// pinnedBytes is a serializer of raw bytes under a given identity: it writes operator state
// exactly as an older build wrote it, without going through the code under test.
type pinnedBytes struct{ id string }

func (p pinnedBytes) ID() string                                  { return p.id }
func (p pinnedBytes) Append(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (p pinnedBytes) Decode(src []byte) ([]byte, error)           { return bytes.Clone(src), nil }

// pinnedMiniPair encodes a checkpointed mini-batch pair by hand, in the layout of format
// mini-batch-pair/v1: uvarint length and key, window start and end, timestamp and fired
// watermark (8 bytes each, big-endian), uvarint length and value.
func pinnedMiniPair(key []byte, w TimeWindow, ts, fired int64, value []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(key)))
	b = append(b, key...)
	for _, x := range []int64{w.Start, w.End, ts, fired} {
		b = binary.BigEndian.AppendUint64(b, uint64(x))
	}
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// TestMiniBatchRestoresPinnedFormat: the mini-batch's operator state in checkpoints keeps its
// names ("mini-batch-pairs", "mini-batch-stateful-windows"), its serializer identity and its
// byte layout, written here by hand as an older build wrote them: the encoder produces those
// bytes, and a job restored from a checkpoint holding them fires the restored values, in a
// window that also has new records and in one that only the checkpoint knows.
func TestMiniBatchRestoresPinnedFormat(t *testing.T) {
	keySer, valSer := serde.Of[string](), serde.Of[event]()
	k0, err := serde.AppendKey(keySer, nil, "k0")
	if err != nil {
		t.Fatal(err)
	}
	k9, err := serde.AppendKey(keySer, nil, "k9")
	if err != nil {
		t.Fatal(err)
	}
	v0, err := valSer.Append(nil, event{Key: "k0", Val: 1000, TS: 40})
	if err != nil {
		t.Fatal(err)
	}
	v9, err := valSer.Append(nil, event{Key: "k9", Val: 5, TS: 120})
	if err != nil {
		t.Fatal(err)
	}
	// Tumbling windows of 50 ms at offset 7 (miniBatchKinds[0]).
	w0, w9 := TimeWindow{Start: 7, End: 57}, TimeWindow{Start: 107, End: 157}
	pairs := [][]byte{
		pinnedMiniPair(k0, w0, 40, math.MinInt64, v0),
		pinnedMiniPair(k9, w9, 120, math.MinInt64, v9),
	}
	enc, err := miniPairSerializer{value: valSer.ID()}.Append(nil, &miniPair{key: k0, w: w0, ts: 40, fired: math.MinInt64, value: v0})
	if err != nil || !bytes.Equal(enc, pairs[0]) {
		t.Fatalf("mini-batch pair encodes as %x, %v; checkpoints hold %x", enc, err, pairs[0])
	}

	cps := openCheckpoints(t, t.TempDir())
	craftOperatorState(t, cps, 1, "window", func(b state.OperatorStateStore) error {
		st, err := state.GetUnionListState(b, state.ListDescriptor[[]byte]{Name: "mini-batch-pairs",
			Serializer: pinnedBytes{id: "mini-batch-pair/v1(" + valSer.ID() + ")"}})
		if err != nil {
			return err
		}
		if err := st.Update(pairs); err != nil {
			return err
		}
		// A window that may have keyed state, long fired: it must restore and change nothing.
		ws, err := state.GetUnionListState(b, state.ListDescriptor[TimeWindow]{Name: "mini-batch-stateful-windows"})
		if err != nil {
			return err
		}
		return ws.Update([]TimeWindow{{Start: -1000, End: -950}})
	})
	m, err := cps.Load(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	evs := testEvents(100, 4)
	out := t.TempDir()
	g := NewGraph()
	s := FromSource(g, "source", &sliceSource{events: evs, splits: 2}, WatermarkStrategy{})
	SinkToFiles(miniBatchWindow(s, miniBatchKinds[0].assigner, 10_000, false), "out", out,
		func(dst []byte, v string) []byte { return append(dst, v...) })
	j, err := Execute(context.Background(), g, Options{StateBackend: heapBackend, Parallelism: 1, Restore: Restore{Metadata: m, Reader: cps.Reader()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	want := modelWindows(evs, miniBatchKinds[0].assigner, 0)
	found := false
	for i, line := range want {
		if line == windowLine("k0", w0, 4) { // k0's only record in [7,57) is i=4, value 4
			want[i], found = windowLine("k0", w0, 1004), true
		}
	}
	if !found {
		t.Fatalf("the model has no line %q: %v", windowLine("k0", w0, 4), want)
	}
	want = append(want, windowLine("k9", w9, 5))
	compareLines(t, readOutput(t, out), want)
}

// TestMiniBatchCorruptKeyFailsRestore: a checkpointed mini-batch key whose bytes do not decode
// fails the restore as corrupt operator state naming the file (so a restore of the latest
// checkpoint falls back to an earlier one), not the window that would fire it later.
func TestMiniBatchCorruptKeyFailsRestore(t *testing.T) {
	valSer := serde.Of[event]()
	v, err := valSer.Append(nil, event{Key: "k0", Val: 1, TS: 40})
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte("k0 without its terminator")
	if _, _, err := serde.DecodeKey(serde.Of[string](), bad); err == nil {
		t.Fatal("the crafted key decodes; the test would prove nothing")
	}
	cps := openCheckpoints(t, t.TempDir())
	craftOperatorState(t, cps, 1, "window", func(b state.OperatorStateStore) error {
		st, err := state.GetUnionListState(b, state.ListDescriptor[[]byte]{Name: "mini-batch-pairs",
			Serializer: pinnedBytes{id: "mini-batch-pair/v1(" + valSer.ID() + ")"}})
		if err != nil {
			return err
		}
		// Every key group is this subtask's at parallelism 1, whatever the bytes hash to.
		return st.Update([][]byte{pinnedMiniPair(bad, TimeWindow{Start: 7, End: 57}, 40, math.MinInt64, v)})
	})
	m, err := cps.Load(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph()
	s := FromSource(g, "source", &sliceSource{events: testEvents(10, 2), splits: 1}, WatermarkStrategy{})
	Sink(miniBatchWindow(s, miniBatchKinds[0].assigner, 10_000, false), func(string, int64) error { return nil })
	j, err := Execute(context.Background(), g, Options{StateBackend: heapBackend, Parallelism: 1, Restore: Restore{Metadata: m, Reader: cps.Reader()}})
	if err == nil {
		err = j.Wait()
		t.Fatalf("the restore took a key that does not decode; the job then ended with %v", err)
	}
	if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "mini-batch key") {
		t.Fatalf("restore error %v: want corrupt operator state naming the mini-batch key", err)
	}
}

package stream

import (
	"context"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// internalState is one of the runtime's own operator states: how it is registered now, and
// how it was registered before its serializer had a fixed name.
type internalState struct {
	name  string
	oldID string // the Go-type ID earlier versions recorded
	newID string
	// register registers the state on b, with the current descriptor (old=false) or as
	// earlier versions did (old=true), adds one element when add is set, and returns its
	// elements.
	register func(t *testing.T, b state.OperatorStateStore, old, add bool) int
}

func listCase[T any](name, oldID string, d state.ListDescriptor[T], union bool, v T) internalState {
	return internalState{name: d.Name, oldID: oldID, newID: d.Serializer.ID(), register: func(t *testing.T, b state.OperatorStateStore, old, add bool) int {
		t.Helper()
		desc := d
		if old {
			desc.Serializer = nil // serde.Of[T](): the JSON fallback, named by the Go type
		}
		get := state.GetOperatorListState[T]
		if union {
			get = state.GetUnionListState[T]
		}
		st, err := get(b, desc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if add {
			if err := st.Add(v); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		for _, err := range st.Get() {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}}
}

// TestInternalStatesHaveFixedNames: the runtime's own operator states are recorded under
// fixed serializer names, never Go type names, and state written by earlier versions, under
// the Go-type IDs, still restores (through the aliases) and is recorded under the fixed names
// from then on.
func TestInternalStatesHaveFixedNames(t *testing.T) {
	cases := []internalState{
		listCase("source splits", "json:stream.splitState", splitsDescriptor, false, splitState{Split: 1, Pos: 7}),
		listCase("file sink pending files", "json:stream.pendingFile", pendingDescriptor, false, pendingFile{Pending: "p", Final: "f"}),
		listCase("file sink lineage", "json:stream.lineageRun", lineageDescriptor, true, lineageRun{Run: "r", Upto: 3}),
		listCase("mini-batch windows", "json:stream.TimeWindow", miniWindowsDescriptor, true, TimeWindow{Start: 0, End: 10}),
	}
	ctx := context.Background()
	cps, err := checkpoint.Open(ctx, checkpointtest.NewMemStorage(), "job", checkpoint.Options{NumRetained: 3})
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	snap := func(b *operator.Backend) []*snapshot.OperatorStateHandle {
		id++
		p, err := cps.Begin(id)
		if err != nil {
			t.Fatal(err)
		}
		s, err := b.Snapshot(id)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Run(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		hs := []*snapshot.OperatorStateHandle{h}
		if err := p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128, Operator: hs}}}); err != nil {
			t.Fatal(err)
		}
		return hs
	}
	open := func(restore []*snapshot.OperatorStateHandle) *operator.Backend {
		b, err := operator.New(ctx, operator.Options{OperatorID: "op", Parallelism: 1, Restore: restore, Reader: cps.Reader()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	recorded := func(hs []*snapshot.OperatorStateHandle, name string) string {
		m, _, ok := hs[0].State(name)
		if !ok {
			t.Fatalf("state %q not in the snapshot", name)
		}
		return m.Value
	}

	old := open(nil)
	for _, c := range cases {
		if !strings.HasPrefix(c.newID, "json:streamstate.") || c.newID == c.oldID {
			t.Errorf("%s: serializer ID %q is not a fixed streamstate name", c.name, c.newID)
		}
		c.register(t, old, true, true)
	}
	hs := snap(old)
	for _, c := range cases {
		if got := recorded(hs, c.name); got != c.oldID {
			t.Fatalf("%s written as earlier versions did: recorded as %q, want %q", c.name, got, c.oldID)
		}
	}
	restored := open(hs)
	for _, c := range cases {
		if n := c.register(t, restored, false, false); n != 1 {
			t.Errorf("%s: %d elements restored from a checkpoint of an earlier version, want 1", c.name, n)
		}
	}
	hs = snap(restored)
	again := open(hs)
	for _, c := range cases {
		if got := recorded(hs, c.name); got != c.newID {
			t.Errorf("%s: recorded as %q after a restore, want %q", c.name, got, c.newID)
		}
		if n := c.register(t, again, false, false); n != 1 {
			t.Errorf("%s: %d elements after a second restore, want 1", c.name, n)
		}
	}
}

// TestMiniPairSerializerAliases: the mini-batch's pending pairs follow a renamed value
// serializer: its aliases, inside the pair's ID, are the pair serializer's aliases.
func TestMiniPairSerializerAliases(t *testing.T) {
	v := serde.CBOR[TimeWindow]{Name: "w", Aliases: []string{"old"}}
	s := miniPairSerializer{value: v.ID(), aliases: serde.AliasIDs(v)}
	if s.ID() != "mini-batch-pair/v1(cbor:w)" {
		t.Errorf("ID %q", s.ID())
	}
	for _, id := range []string{"mini-batch-pair/v1(cbor:stream.TimeWindow)", "mini-batch-pair/v1(cbor:old)"} {
		if !serde.Compatible(s, id) {
			t.Errorf("%s does not read %s", s.ID(), id)
		}
	}
	if serde.Compatible(s, "mini-batch-pair/v1(json:old)") {
		t.Error("a JSON value serializer's pairs accepted by a CBOR one")
	}
}

package operator_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// offsetV1 and offsetV2 are one state type before and after a rename (same fields, same bytes).
type offsetV1 struct{ Partition, Offset int64 }

type offsetV2 struct{ Partition, Offset int64 }

const (
	offsetOldID = "json:operator_test.offsetV1"
	offsetNewID = "json:kafka.offset"
)

var offsetRenamed = serde.JSON[offsetV2]{Name: "kafka.offset", Aliases: []string{"operator_test.offsetV1"}}

// TestRenamedTypeWithAlias: operator state follows the keyed backends' rule
// (backend.CheckSerializers): split, union and broadcast state written under a Go type's ID
// restore with a renamed type's serializer that declares that ID as an alias, and are
// recorded under the new ID from then on; without the alias the registration fails naming
// the state, both IDs and the fix.
func TestRenamedTypeWithAlias(t *testing.T) {
	j := newJob(t)
	old := fresh(t, 1)[0]
	split := mustGet[state.OperatorListState[offsetV1]](t)(state.GetOperatorListState(old, state.ListDescriptor[offsetV1]{Name: "split"}))
	union := mustGet[state.OperatorListState[offsetV1]](t)(state.GetUnionListState(old, state.ListDescriptor[offsetV1]{Name: "union"}))
	bc := mustGet[state.BroadcastState[offsetV1, offsetV1]](t)(state.GetBroadcastState(old, state.MapDescriptor[offsetV1, offsetV1]{Name: "bc"}))
	must(t, split.Add(offsetV1{1, 10}))
	must(t, union.Add(offsetV1{2, 20}))
	must(t, bc.Put(offsetV1{Partition: 3}, offsetV1{3, 30}))
	md := j.checkpoint([]*operator.Backend{old})
	b := mustGet[[]*operator.Backend](t)(j.restore(md, 1, operator.Options{}))[0]

	for name, err := range map[string]error{
		"split":     second(state.GetOperatorListState(b, state.ListDescriptor[offsetV2]{Name: "split"})),
		"union":     second(state.GetUnionListState(b, state.ListDescriptor[offsetV2]{Name: "union"})),
		"bc":        second(state.GetBroadcastState(b, state.MapDescriptor[offsetV2, offsetV2]{Name: "bc", ValueSerializer: offsetRenamed})),
		"bc values": second(state.GetBroadcastState(b, state.MapDescriptor[offsetV2, offsetV2]{Name: "bc", KeySerializer: offsetRenamed})),
	} {
		if !errors.Is(err, backend.ErrIncompatibleSerializer) {
			t.Fatalf("%s without an alias: %v", name, err)
		}
		for _, want := range []string{strings.Fields(name)[0], offsetOldID, "json:operator_test.offsetV2", `Aliases: []string{"operator_test.offsetV1"}`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %q", name, err, want)
			}
		}
	}

	split2 := mustGet[state.OperatorListState[offsetV2]](t)(state.GetOperatorListState(b, state.ListDescriptor[offsetV2]{Name: "split", Serializer: offsetRenamed}))
	union2 := mustGet[state.OperatorListState[offsetV2]](t)(state.GetUnionListState(b, state.ListDescriptor[offsetV2]{Name: "union", Serializer: offsetRenamed}))
	bc2 := mustGet[state.BroadcastState[offsetV2, offsetV2]](t)(state.GetBroadcastState(b,
		state.MapDescriptor[offsetV2, offsetV2]{Name: "bc", KeySerializer: offsetRenamed, ValueSerializer: offsetRenamed}))
	if got := list(t, split2); !slices.Equal(got, []offsetV2{{1, 10}}) {
		t.Errorf("split after an alias restore: %v", got)
	}
	if got := list(t, union2); !slices.Equal(got, []offsetV2{{2, 20}}) {
		t.Errorf("union after an alias restore: %v", got)
	}
	if got := entries(t, bc2); len(got) != 1 || got[offsetV2{Partition: 3}] != (offsetV2{3, 30}) {
		t.Errorf("broadcast after an alias restore: %v", got)
	}

	next := j.checkpoint([]*operator.Backend{b})
	for _, h := range next.Operator("op").Operator {
		for _, m := range h.States {
			wantKey := ""
			if m.Mode == snapshot.ModeBroadcast {
				wantKey = offsetNewID
			}
			if m.Value != offsetNewID || m.UserKey != wantKey {
				t.Errorf("state %q recorded with %q, %q after an alias restore; want %q, %q", m.Name, m.Value, m.UserKey, offsetNewID, wantKey)
			}
		}
	}
	// The new ID alone now reads it; the old type's serializer no longer does.
	r := mustGet[[]*operator.Backend](t)(j.restore(next, 1, operator.Options{}))[0]
	plain := serde.JSON[offsetV2]{Name: "kafka.offset"}
	if got := list(t, mustGet[state.OperatorListState[offsetV2]](t)(state.GetOperatorListState(r, state.ListDescriptor[offsetV2]{Name: "split", Serializer: plain}))); !slices.Equal(got, []offsetV2{{1, 10}}) {
		t.Errorf("split restored under its new ID: %v", got)
	}
	if err := second(state.GetUnionListState(r, state.ListDescriptor[offsetV1]{Name: "union"})); !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Errorf("union restored with the old type's serializer after the rename: %v", err)
	}
}

// TestRenamedTypePartlyRegistered: after a restore under an alias, an old subtask that
// registered a state records the new ID and one that did not the old one; a restore at
// another parallelism merges both, and the registering descriptor must read both IDs.
func TestRenamedTypePartlyRegistered(t *testing.T) {
	j := newJob(t)
	subs := fresh(t, 2)
	for i, b := range subs {
		split := mustGet[state.OperatorListState[offsetV1]](t)(state.GetOperatorListState(b, state.ListDescriptor[offsetV1]{Name: "split"}))
		must(t, split.Add(offsetV1{int64(i), 10}))
	}
	subs = mustGet[[]*operator.Backend](t)(j.restore(j.checkpoint(subs), 2, operator.Options{}))
	_ = mustGet[state.OperatorListState[offsetV2]](t)(state.GetOperatorListState(subs[0], state.ListDescriptor[offsetV2]{Name: "split", Serializer: offsetRenamed}))
	md := j.checkpoint(subs)
	var ids []string
	for _, h := range md.Operator("op").Operator {
		m, _, _ := h.State("split")
		ids = append(ids, m.Value)
	}
	if !slices.Equal(ids, []string{offsetNewID, offsetOldID}) {
		t.Fatalf("split recorded as %q by the two subtasks, want the new ID by the one that registered it", ids)
	}
	b := mustGet[[]*operator.Backend](t)(j.restore(md, 1, operator.Options{}))[0]
	err := second(state.GetOperatorListState(b, state.ListDescriptor[offsetV2]{Name: "split", Serializer: serde.JSON[offsetV2]{Name: "kafka.offset"}}))
	if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), offsetOldID) {
		t.Fatalf("merged state registered without the alias of one part's ID: %v", err)
	}
	split := mustGet[state.OperatorListState[offsetV2]](t)(state.GetOperatorListState(b, state.ListDescriptor[offsetV2]{Name: "split", Serializer: offsetRenamed}))
	if got := list(t, split); !slices.Equal(got, []offsetV2{{0, 10}, {1, 10}}) {
		t.Errorf("merged split state: %v", got)
	}
}

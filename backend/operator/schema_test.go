package operator_test

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// posV1 is a source position as first deployed; posDropped drops its note, posChanged
// changes its offset's type. All are serialized under one stable name, so their serializer
// IDs are equal and only their schemas differ.
type posV1 struct {
	Partition int64  `json:"p"`
	Offset    int64  `json:"o"`
	Note      string `json:"note"`
}

type posDropped struct {
	Partition int64 `json:"p"`
	Offset    int64 `json:"o"`
}

type posChanged struct {
	Partition int64  `json:"p"`
	Offset    string `json:"o"`
	Note      string `json:"note"`
}

func posSer[T any]() serde.JSON[T] { return serde.JSON[T]{Name: "source.pos"} }

// TestSchemaEvolution: operator state follows the keyed backends' schema rule
// (backend.CheckSchema): split, union and broadcast state record their value schema, restore
// with a type that drops a field (logging the dropped field), and refuse a changed field
// type at registration, naming the state, the field, both types and the fix.
func TestSchemaEvolution(t *testing.T) {
	j := newJob(t)
	old := fresh(t, 1)[0]
	split := mustGet[state.OperatorListState[posV1]](t)(state.GetOperatorListState(old, state.ListDescriptor[posV1]{Name: "split", Serializer: posSer[posV1]()}))
	union := mustGet[state.OperatorListState[posV1]](t)(state.GetUnionListState(old, state.ListDescriptor[posV1]{Name: "union", Serializer: posSer[posV1]()}))
	bc := mustGet[state.BroadcastState[string, posV1]](t)(state.GetBroadcastState(old, state.MapDescriptor[string, posV1]{Name: "bc", ValueSerializer: posSer[posV1]()}))
	must(t, split.Add(posV1{1, 10, "a"}))
	must(t, union.Add(posV1{2, 20, "b"}))
	must(t, bc.Put("k", posV1{3, 30, "c"}))
	md := j.checkpoint([]*operator.Backend{old})
	for _, h := range md.Operator("op").Operator {
		for _, m := range h.States {
			if want := posSer[posV1]().Schema().String(); m.Schema != want {
				t.Fatalf("state %q recorded schema %q, want %q", m.Name, m.Schema, want)
			}
		}
	}

	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	b := mustGet[[]*operator.Backend](t)(j.restore(md, 1, operator.Options{Logger: logger}))[0]
	for name, err := range map[string]error{
		"split": second(state.GetOperatorListState(b, state.ListDescriptor[posChanged]{Name: "split", Serializer: posSer[posChanged]()})),
		"union": second(state.GetUnionListState(b, state.ListDescriptor[posChanged]{Name: "union", Serializer: posSer[posChanged]()})),
		"bc":    second(state.GetBroadcastState(b, state.MapDescriptor[string, posChanged]{Name: "bc", ValueSerializer: posSer[posChanged]()})),
	} {
		if !errors.Is(err, backend.ErrIncompatibleSerializer) {
			t.Fatalf("%s with a changed field type: %v", name, err)
		}
		for _, want := range []string{`"` + name + `"`, `field "o"`, "int64", "string", "register the state under a new name"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %q", name, err, want)
			}
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("refused registrations logged: %s", buf.String())
	}

	split2 := mustGet[state.OperatorListState[posDropped]](t)(state.GetOperatorListState(b, state.ListDescriptor[posDropped]{Name: "split", Serializer: posSer[posDropped]()}))
	union2 := mustGet[state.OperatorListState[posDropped]](t)(state.GetUnionListState(b, state.ListDescriptor[posDropped]{Name: "union", Serializer: posSer[posDropped]()}))
	bc2 := mustGet[state.BroadcastState[string, posDropped]](t)(state.GetBroadcastState(b, state.MapDescriptor[string, posDropped]{Name: "bc", ValueSerializer: posSer[posDropped]()}))
	if got := list(t, split2); !slices.Equal(got, []posDropped{{1, 10}}) {
		t.Errorf("split with a dropped field: %v", got)
	}
	if got := list(t, union2); !slices.Equal(got, []posDropped{{2, 20}}) {
		t.Errorf("union with a dropped field: %v", got)
	}
	if got := entries(t, bc2); got["k"] != (posDropped{3, 30}) {
		t.Errorf("broadcast with a dropped field: %v", got)
	}
	if out := buf.String(); strings.Count(out, "level=WARN") != 3 || strings.Count(out, "droppedFields=[note]") != 3 {
		t.Errorf("want one warning per state naming the dropped field; log:\n%s", out)
	}
	next := j.checkpoint([]*operator.Backend{b})
	for _, h := range next.Operator("op").Operator {
		for _, m := range h.States {
			if want := posSer[posDropped]().Schema().String(); m.Schema != want {
				t.Fatalf("state %q recorded schema %q after the restore, want %q", m.Name, m.Schema, want)
			}
		}
	}
}

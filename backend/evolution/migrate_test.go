package evolution_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// toChanged is the migration function of orderV1 to orderChanged: Amount becomes its decimal
// text.
func toChanged(o orderV1) (orderChanged, error) {
	return orderChanged{ID: o.ID, Amount: strconv.FormatInt(o.Amount, 10), Note: o.Note}, nil
}

// viewChanged reads an orderChanged back as the orderV1 it was migrated from; an Amount that
// is not the decimal text of an int64 gives Amount -1, which no golden order has.
func viewChanged(o orderChanged) orderV1 {
	a, err := strconv.ParseInt(o.Amount, 10, 64)
	if err != nil {
		a = -1
	}
	return orderV1{ID: o.ID, Amount: a, Note: o.Note}
}

func same[T any](v T) (T, error) { return v, nil }

func identity(o orderV1) orderV1 { return o }

// mustRegister registers the named states as reg says and fails on any error.
func mustRegister[T any](t *testing.T, r *restored, reg registration[T]) {
	t.Helper()
	for name, err := range registerStates(r, &namedStates[T]{}, reg) {
		if err != nil {
			t.Fatalf("register %q: %v", name, err)
		}
	}
}

// migrations are the evolutions that need a migration function (state.MigrateFrom).
var migrations = []evolution{
	{"field-type-changed-with-migration", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		reg := registration[orderChanged]{json: jsonOf[orderChanged](), cbor: cborOf[orderChanged](),
			fromJSON: state.MigrateFrom(jsonOf[orderV1](), toChanged), fromCBOR: state.MigrateFrom(cborOf[orderV1](), toChanged)}
		mustRegister(t, r, reg)
		checkRegistered(t, r, reg, viewChanged, identity)

		// The migrated values are recorded as orderChanged: the next restore reads them
		// without a migration, and the old type no longer reads them.
		g2 := g.reload(r)
		checkNamed(t, openOK(t, g2), viewChanged, identity)
		for name, err := range registerAll[orderV1](openOK(t, g2)) {
			wantIncompatible(t, err, fmt.Sprintf("%q", name), `field "Amount"`, "written as string", "registered as int64")
		}
	}},
	{"field-type-changed-migration-reads-another-serializer", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		other := serde.JSON[orderV1]{Name: "evolution.OtherOrder"}
		reg := registration[orderChanged]{json: jsonOf[orderChanged](), cbor: cborOf[orderChanged](),
			fromJSON: state.MigrateFrom(other, toChanged), fromCBOR: state.MigrateFrom(other, toChanged)}
		for name, err := range registerStates(r, &namedStates[orderChanged]{}, reg) {
			wantIncompatible(t, err, fmt.Sprintf("%q", name), `field "Amount"`, `the descriptor's migration reads "json:evolution.OtherOrder"`)
		}
		checkNamed(t, r, identity, identity)
	}},
	{"field-type-changed-migration-fails", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		failing := func(o orderV1) (orderChanged, error) {
			if o.ID == numKeys/2 || o.ID == 5001 {
				return orderChanged{}, fmt.Errorf("order %d has no currency", o.ID)
			}
			return toChanged(o)
		}
		_, err := state.GetValueState(r.kb, state.ValueDescriptor[orderChanged]{Name: valueName, Serializer: jsonOf[orderChanged](),
			Migration: state.MigrateFrom(jsonOf[orderV1](), failing)})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("order %d has no currency", numKeys/2)) || !strings.Contains(err.Error(), fmt.Sprintf("%q", valueName)) {
			t.Fatalf("a registration whose migration function fails: err = %v, want it named with the state", err)
		}
		_, err = state.GetOperatorListState(r.ob, state.ListDescriptor[orderChanged]{Name: opListName, Serializer: jsonOf[orderChanged](),
			Migration: state.MigrateFrom(jsonOf[orderV1](), failing)})
		if err == nil || !strings.Contains(err.Error(), "order 5001 has no currency") || !strings.Contains(err.Error(), fmt.Sprintf("%q", opListName)) {
			t.Fatalf("an operator state registration whose migration function fails: err = %v, want it named with the state", err)
		}
		// The failed migration changed nothing: the old type still reads every value.
		checkNamed(t, r, identity, identity)
	}},
	{"json-to-cbor", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		reg := registration[orderV1]{json: cborOf[orderV1](), cbor: cborOf[orderV1](), fromJSON: state.MigrateFrom(jsonOf[orderV1](), same[orderV1])}
		mustRegister(t, r, reg)
		checkRegistered(t, r, reg, identity, identity)

		// Recorded as CBOR from then on: read without a migration, refused as JSON.
		g2 := g.reload(r)
		checkRegistered(t, openOK(t, g2), registration[orderV1]{json: cborOf[orderV1](), cbor: cborOf[orderV1]()}, identity, identity)
		errs := registerAll[orderV1](openOK(t, g2))
		for _, name := range []string{valueName, listName, mapName, opListName} {
			wantIncompatible(t, errs[name], fmt.Sprintf("%q", name), `"cbor:evolution.Order"`, `"json:evolution.Order"`)
		}
	}},
	{"field-removed-counted", func(t *testing.T, g *golden) {
		r := openOK(t, g)
		checkNamed(t, r, func(o orderRemoved) orderV1 { return orderV1{ID: o.ID, Amount: o.Amount} },
			func(o orderV1) orderV1 { return orderV1{ID: o.ID, Amount: o.Amount} })
		// Every value the writer wrote carries Note.
		want := map[string]string{
			fmt.Sprintf("state %q of operator %s", valueName, opID):           fmt.Sprintf("Note: %d", numKeys),
			fmt.Sprintf("state %q of operator %s", listName, opID):            fmt.Sprintf("Note: %d", 2*numKeys),
			fmt.Sprintf("state %q of operator %s", mapName, opID):             fmt.Sprintf("Note: %d", 2*numKeys),
			fmt.Sprintf("state %q of operator %s", cborName, opID):            fmt.Sprintf("Note: %d", numKeys),
			fmt.Sprintf("operator state %q of operator %s", opListName, opID): "Note: 3",
		}
		if got := droppedCounts(t, g); !reflect.DeepEqual(got, want) {
			t.Fatalf("dropped-field counts logged %v, want %v; log:\n%s", got, want, g.log)
		}
	}},
}

// droppedCounts returns, by state, the counts of values carrying dropped fields the restored
// backends logged with their warning.
func droppedCounts(t *testing.T, g *golden) map[string]string {
	t.Helper()
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(g.log.Bytes()))
	for sc.Scan() {
		var line struct {
			Msg     string   `json:"msg"`
			State   string   `json:"state"`
			Carried []string `json:"valuesCarryingDroppedFields"`
		}
		must(t, json.Unmarshal(sc.Bytes(), &line))
		if strings.Contains(line.Msg, "drops recorded fields") {
			if _, dup := got[line.State]; dup {
				t.Fatalf("state %s logged twice:\n%s", line.State, g.log)
			}
			got[line.State] = strings.Join(line.Carried, ", ")
		}
	}
	return got
}

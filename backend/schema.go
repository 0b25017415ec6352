package backend

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/streamstate/streamstate/serde"
)

// Evolution is what a registration over recorded state found about the state's schema when
// it was compatible (see CheckSchema): the fields the registered serializer adds (recorded
// values decode with their zero value) and the fields it no longer has (their recorded
// values are dropped as values are read, and are gone once re-written). Field paths are
// serde.SchemaChanges paths. The zero Evolution is "nothing changed, or nothing known".
type Evolution struct {
	// State names the state, as in errors ("state \"orders\" of operator op").
	State string
	// Added are the fields the registered serializer adds.
	Added []string
	// Removed are the recorded fields the registered serializer drops.
	Removed []string
}

// Log reports e on l: a warning naming the dropped fields when some are, an info line naming
// the added ones when some are, nothing otherwise. l may be nil (nothing is logged).
func (e Evolution) Log(l *slog.Logger, operatorID string) {
	if l == nil {
		return
	}
	if len(e.Removed) > 0 {
		l.Warn("state registered with a serializer whose schema drops recorded fields: their values are dropped as values are read and gone once re-written",
			"operator", operatorID, "state", e.State, "droppedFields", e.Removed)
	}
	if len(e.Added) > 0 {
		l.Info("state registered with a serializer whose schema adds fields: recorded values read them as zero values",
			"operator", operatorID, "state", e.State, "addedFields", e.Added)
	}
}

// merge adds o's fields to e, without duplicates.
func (e *Evolution) merge(o Evolution) {
	for _, f := range o.Added {
		if !slices.Contains(e.Added, f) {
			e.Added = append(e.Added, f)
		}
	}
	for _, f := range o.Removed {
		if !slices.Contains(e.Removed, f) {
			e.Removed = append(e.Removed, f)
		}
	}
}

// CheckSchema is the schema rule of every backend, keyed and operator state alike, applied
// after CheckSerializers accepted the serializer IDs. recordedSchema is the state's recorded
// schema (snapshot.StateMeta.Schema), schema the registered value serializer's (from
// Schemas.Of), both in serde's canonical encoding, and valueID that serializer's ID. When
// both are present, recorded values must be readable as is (serde.CompareSchemas): added and
// removed fields are compatible and reported in the Evolution, a field whose type changed is
// not, and fails with ErrIncompatibleSerializer naming the state, every changed field with
// both its types, and the fix. Without a recorded schema (state written before schemas were
// recorded) or without a registered one (a serializer that has none), the serializer IDs
// alone decide, as they always did. state names the state in the error.
func CheckSchema(state, recordedSchema, schema, valueID string) (Evolution, error) {
	if recordedSchema == schema || recordedSchema == "" || schema == "" {
		return Evolution{State: state}, nil
	}
	recorded, err := serde.ParseSchema(recordedSchema)
	if err != nil {
		return Evolution{}, fmt.Errorf("%w: %s: its recorded schema cannot be read: %w", ErrIncompatibleSerializer, state, err)
	}
	current, err := serde.ParseSchema(schema)
	if err != nil {
		return Evolution{}, fmt.Errorf("%w: %s: the schema of serializer %q cannot be read: %w", ErrIncompatibleSerializer, state, valueID, err)
	}
	c := serde.CompareSchemas(recorded, current)
	if !c.Compatible() {
		var fields []string
		for _, ch := range c.Changed {
			fields = append(fields, fmt.Sprintf("field %q was written as %s and is registered as %s", ch.Path, ch.Recorded, ch.New))
		}
		return Evolution{}, fmt.Errorf("%w: %s (serializer %q) cannot read its recorded values: %s; "+
			"give the descriptor a migration from the old type (state.MigrateFrom), keep the old type, or register the state under a new name",
			ErrIncompatibleSerializer, state, valueID, strings.Join(fields, "; "))
	}
	return Evolution{State: state, Added: c.Added, Removed: c.Removed}, nil
}

// Schemas memoizes the encoded schemas of value serializers (serde.SchemaOf), so that
// registering a state again, as code that gets its state for every record does, costs a map
// lookup instead of a walk of the type. Entries are keyed by the serializer's dynamic type
// and ID, which determine its schema (serde.SchemaSerializer's contract). The zero value is
// ready to use; a Schemas is not safe for concurrent use (a backend registers states on its
// task's goroutine).
type Schemas struct {
	m map[schemaKey]string
}

type schemaKey struct {
	typ reflect.Type
	id  string
}

// Of returns s's schema in its canonical encoding, "" when s has none.
func (c *Schemas) Of(s serde.Erased) string {
	k := schemaKey{reflect.TypeOf(s), s.ID()}
	if text, ok := c.m[k]; ok {
		return text
	}
	if c.m == nil {
		c.m = map[schemaKey]string{}
	}
	text := serde.SchemaOf(s).String()
	c.m[k] = text
	return text
}

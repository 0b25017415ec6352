package backend

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

// Evolution is what a registration over recorded state found about the state's schema when
// it was compatible (see CheckSchema): the fields the registered serializer adds (recorded
// values decode with their zero value) and the fields it no longer has (their recorded
// values are dropped as values are read, and are gone once re-written). Field paths are
// serde.SchemaChanges paths. The zero Evolution is "nothing changed, or nothing known".
//
// When fields are dropped, the backend passes every recorded value of the state to Count
// before it logs the Evolution, so that the log says how many values carried each dropped
// field (see Counting).
type Evolution struct {
	// State names the state, as in errors ("state \"orders\" of operator op").
	State string
	// Added are the fields the registered serializer adds.
	Added []string
	// Removed are the recorded fields the registered serializer drops.
	Removed []string
	// Carried counts, for each field of Removed, the recorded values that held it (with a
	// value other than null); nil until Count has counted a value.
	Carried []int64
	// Counted is the number of recorded values Count scanned.
	Counted int64

	scans   []serde.SchemaChanges // the schema comparisons that dropped fields
	value   serde.Erased          // the serializer that wrote the recorded values
	stamped bool                  // recorded values carry TTL stamps
	index   [][]int               // scans[i].Removed[j] is Removed[index[i][j]]
	hit     []bool                // per value: which of Removed it carried
}

// Counting reports whether Count counts anything: fields are dropped and the serializer
// that wrote the recorded values is a struct codec whose encoding can be scanned
// (serde.SchemaChanges.Carried: JSON, CBOR). A backend scans the recorded values only then.
func (e *Evolution) Counting() bool { return len(e.Removed) > 0 && len(e.scans) > 0 && e.value != nil }

// Count scans one recorded value (a value, a list element, a map value) of the state, in the
// form the backend holds it (with its TTL stamp when the state was recorded with TTL), and
// adds the dropped fields it carries to Carried. A value that cannot be scanned is skipped:
// the state's decode reports it. After a value whose serializer turns out not to be
// scannable, Counting is false.
func (e *Evolution) Count(value []byte) {
	if !e.Counting() {
		return
	}
	if e.Carried == nil {
		e.Carried = make([]int64, len(e.Removed))
		e.hit = make([]bool, len(e.Removed))
		e.index = make([][]int, len(e.scans))
		for i, c := range e.scans {
			for _, f := range c.Removed {
				e.index[i] = append(e.index[i], slices.Index(e.Removed, f))
			}
		}
	}
	if e.stamped {
		var err error
		if _, value, err = StampOf(value); err != nil {
			return
		}
	}
	clear(e.hit)
	for i, c := range e.scans {
		ok, err := c.Carried(e.value, value, func(j int) { e.hit[e.index[i][j]] = true })
		if !ok {
			e.scans = nil
			return
		}
		if err != nil {
			return
		}
	}
	e.Counted++
	for i, h := range e.hit {
		if h {
			e.Carried[i]++
		}
	}
}

// Log reports e on l: a warning naming the dropped fields when some are (with, when Count
// counted them, how many recorded values carried each), an info line naming the added ones
// when some are, nothing otherwise. l may be nil (nothing is logged).
func (e Evolution) Log(l *slog.Logger, operatorID string) {
	if l == nil {
		return
	}
	if len(e.Removed) > 0 {
		attrs := []any{"operator", operatorID, "state", e.State, "droppedFields", e.Removed}
		if e.Carried != nil {
			carried := make([]string, len(e.Removed))
			for i, f := range e.Removed {
				carried[i] = fmt.Sprintf("%s: %d", f, e.Carried[i])
			}
			attrs = append(attrs, "valuesCarryingDroppedFields", carried, "valuesScanned", e.Counted)
		}
		l.Warn("state registered with a serializer whose schema drops recorded fields: their values are dropped as values are read and gone once re-written", attrs...)
	}
	if len(e.Added) > 0 {
		l.Info("state registered with a serializer whose schema adds fields: recorded values read them as zero values",
			"operator", operatorID, "state", e.State, "addedFields", e.Added)
	}
}

// merge adds o's fields to e, without duplicates, and what Count needs to count them.
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
	e.scans = append(e.scans, o.scans...)
	if o.value != nil {
		e.value, e.stamped = o.value, o.stamped
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
	ev := Evolution{State: state, Added: c.Added, Removed: c.Removed}
	if len(c.Removed) > 0 {
		ev.scans = []serde.SchemaChanges{c}
	}
	return ev, nil
}

// checkUserKeySchema is the schema rule for map user keys (keyed map state, broadcast
// state): recordedSchema, the recorded user key schema, and schema, the registered user key
// serializer's, must be equal when both are present. Unlike values, user keys cannot gain or
// lose fields: two user keys are one entry exactly when their encodings are equal, and a key
// encoded with a field more or less never equals the recorded one. The error wraps
// ErrIncompatibleSerializer and names the state, every changed, added and removed field, and
// the fix.
func checkUserKeySchema(state, recordedSchema, schema, userKeyID string) error {
	if recordedSchema == schema || recordedSchema == "" || schema == "" {
		return nil
	}
	recorded, err := serde.ParseSchema(recordedSchema)
	if err != nil {
		return fmt.Errorf("%w: %s: its recorded user key schema cannot be read: %w", ErrIncompatibleSerializer, state, err)
	}
	current, err := serde.ParseSchema(schema)
	if err != nil {
		return fmt.Errorf("%w: %s: the schema of user key serializer %q cannot be read: %w", ErrIncompatibleSerializer, state, userKeyID, err)
	}
	c := serde.CompareSchemas(recorded, current)
	var fields []string
	for _, ch := range c.Changed {
		fields = append(fields, fmt.Sprintf("user key field %q was written as %s and is registered as %s", ch.Path, ch.Recorded, ch.New))
	}
	for _, f := range c.Added {
		fields = append(fields, fmt.Sprintf("user key field %q was added", f))
	}
	for _, f := range c.Removed {
		fields = append(fields, fmt.Sprintf("user key field %q was removed", f))
	}
	if len(fields) == 0 { // only a SchemaAny read something else: its encoding is unchanged
		return nil
	}
	return fmt.Errorf("%w: %s (user key serializer %q) cannot find its recorded entries: %s; "+
		"entries are found by their user key's encoding, so a user key type cannot change: keep the old user key type, "+
		"or register the state under a new name and copy its entries over",
		ErrIncompatibleSerializer, state, userKeyID, strings.Join(fields, "; "))
}

// Meta returns what a backend records about a state registered with spec: its name, kind,
// serializer IDs, the schemas of its value and user key serializers (memoized in c) and its
// TTL time.
func (c *Schemas) Meta(spec Spec) snapshot.StateMeta {
	m := snapshot.StateMeta{Name: spec.Name, Kind: spec.Kind, Value: spec.Value.ID(), Schema: c.Of(spec.Value), TTL: spec.TTLTime()}
	if spec.Kind == KindMap && spec.UserKey != nil {
		m.UserKey, m.UserKeySchema = spec.UserKey.ID(), c.Of(spec.UserKey)
	}
	return m
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

package backend

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state/ttl"
)

// Kind is the kind of a keyed state. The numbers are part of the snapshot format, so the type
// lives with the format in package checkpoint.
type Kind = snapshot.StateKind

// The keyed state kinds. Reducing and Aggregating state are stored like Value state (their
// accumulator).
const (
	KindValue       = snapshot.KindValue
	KindList        = snapshot.KindList
	KindMap         = snapshot.KindMap
	KindReducing    = snapshot.KindReducing
	KindAggregating = snapshot.KindAggregating
	KindTimers      = snapshot.KindTimers
)

// Spec is the type-erased form of a descriptor, what a backend sees. Value is the serializer of
// the stored value (the element for lists, the map value for maps, the accumulator for reducing
// and aggregating state); UserKey is the map's key serializer. Word is set for value, list,
// map and reducing states whose values fit in a word, UserKeyWord for map states whose user
// keys do (see Word).
//
// TTL, if not nil and enabled, makes the state's values (list elements, map entries) expire:
// the backend stores them stamped (ttlview.RawSpec) and hands out ttlview.With's state. Migration, if not
// nil, is how recorded values written with another serializer are read (PlanRegistration).
type Spec struct {
	Name        string
	Kind        Kind
	Value       serde.Erased
	UserKey     serde.Erased
	Word        *Word
	UserKeyWord *Word
	TTL         *ttl.Config
	Migration   *Migration
}

// Check is what every keyed backend checks of a spec before it registers anything: a value
// serializer (and a user key serializer for a map), and a valid TTL. The error names the state.
func (s Spec) Check() error {
	if s.Value == nil || (s.Kind == KindMap && s.UserKey == nil) {
		return fmt.Errorf("state %q: spec without serializer", s.Name)
	}
	if s.TTL != nil {
		if err := s.TTL.Validate(); err != nil {
			return fmt.Errorf("state %q: %w", s.Name, err)
		}
	}
	return nil
}

// TTLTime is what a state with this spec records as snapshot.StateMeta.TTL: its TTL's time
// characteristic ("processing", "event"), "" without TTL.
func (s Spec) TTLTime() string {
	if s.TTL == nil || !s.TTL.Enabled() {
		return ""
	}
	return s.TTL.Time.String()
}

// State is the part of every backend state object: the current namespace and Clear.
// The key is the backend's current key.
type State interface {
	// SetNamespace sets the namespace later calls act on. The void namespace is empty. The
	// state copies ns.
	SetNamespace(ns []byte)
	// Clear removes the state of the current key and namespace.
	Clear() error
}

// Value is a single value per key and namespace. Values are the spec's serializer's
// type, boxed; the backend may keep a value it was given, so callers must not mutate it after
// Update. A caller may mutate what Value returned (and pass it to Update): a backend that
// returns stored objects copies those a running snapshot holds before returning them, so a
// snapshot never changes after its synchronous phase.
type Value interface {
	State
	Value() (v any, ok bool, err error)
	Update(v any) error
}

// List is a list per key and namespace.
type List interface {
	State
	// Get returns the elements; the slice must not be modified. Empty means no state.
	Get() ([]any, error)
	Add(v any) error
	AddAll(vs []any) error
	// Update replaces the list; an empty vs clears it.
	Update(vs []any) error
}

// Map is a map per key and namespace.
type Map interface {
	State
	Get(uk any) (v any, ok bool, err error)
	Put(uk, v any) error
	Remove(uk any) error
	Contains(uk any) (bool, error)
	IsEmpty() (bool, error)
	// All iterates the entries; during iteration the map may only lose the entry just
	// yielded (Remove), and every other entry is still yielded exactly once.
	All() iter.Seq2[MapEntry, error]
}

// MapEntry is one erased map entry.
type MapEntry struct{ Key, Value any }

// CheckCompatible is the check a backend makes when a state with fixed serializer IDs (a
// timer queue) is registered over a recorded one: same kind (else ErrStateConflict) and the
// same serializer IDs (else ErrIncompatibleSerializer, naming the state and both
// serializers). A descriptor registered over recorded state is checked with
// CheckRegistration instead, which accepts aliases, and a state restored from several
// snapshots with MergeRestored.
func CheckCompatible(operatorID string, have, want snapshot.StateMeta) error {
	if have.Kind != want.Kind {
		return kindConflict(operatorID, have, want.Kind)
	}
	if have.Value != want.Value || have.UserKey != want.UserKey {
		h, w := have.Value, want.Value
		if have.Value == want.Value {
			h, w = "user key "+have.UserKey, "user key "+want.UserKey
		}
		return fmt.Errorf("%w: state %q of operator %s was written with serializer %q but is registered with %q; register it with %q or migrate the state",
			ErrIncompatibleSerializer, want.Name, operatorID, h, w, h)
	}
	return nil
}

// MergeRestored is the check a keyed backend makes when one state is restored from several
// snapshots (a rescale merges those of several subtasks): the same kind, else
// ErrStateConflict. Their serializer IDs and schemas may differ: a subtask that restored the
// state under an alias (or an evolved schema) and registered it records the new ID (and
// schema), one that never registered it still records the old one. MergeRestored reports
// whether add's IDs, schemas or TTL time differ from have's; the backend then
// keeps add beside have, and the descriptor that registers the state must read both
// (CheckRegistration), so no serializer is ever given bytes it does not declare it reads.
func MergeRestored(operatorID string, have, add snapshot.StateMeta) (differs bool, err error) {
	if have.Kind != add.Kind {
		return false, kindConflict(operatorID, have, add.Kind)
	}
	return have.Value != add.Value || have.UserKey != add.UserKey || have.Schema != add.Schema || have.UserKeySchema != add.UserKeySchema || have.TTL != add.TTL, nil
}

// CheckSerializers is the one serializer rule of every backend, keyed and operator state
// alike: a recorded serializer ID is accepted when the registered serializer has that ID or
// declares it as an alias (serde.Compatible). state names the state in the error;
// recordedUserKey is empty and userKey nil for states without user keys. The error wraps
// ErrIncompatibleSerializer and names the state, both IDs and the fix.
func CheckSerializers(state, recordedValue, recordedUserKey string, value, userKey serde.Erased) error {
	if !serde.Compatible(value, recordedValue) {
		return incompatible(state, "", recordedValue, value)
	}
	if userKey == nil {
		if recordedUserKey != "" {
			return fmt.Errorf("%w: %s was written with user key serializer %q but is registered without one",
				ErrIncompatibleSerializer, state, recordedUserKey)
		}
		return nil
	}
	if !serde.Compatible(userKey, recordedUserKey) {
		return incompatible(state, "user key ", recordedUserKey, userKey)
	}
	return nil
}

func incompatible(state, what, recorded string, s serde.Erased) error {
	fix := "implement serde.Aliased"
	for _, c := range []string{"json", "cbor"} {
		if name, ok := strings.CutPrefix(recorded, c+":"); ok && strings.HasPrefix(s.ID(), c+":") {
			fix = fmt.Sprintf("serde.%s[T]{Name: ..., Aliases: []string{%q}}", strings.ToUpper(c), name)
		}
	}
	migrate := "give the descriptor a migration from the old serializer (state.MigrateFrom)"
	if what != "" { // user keys find their entries by their encoding: they cannot be migrated
		migrate = "keep the old user key serializer or register the state under a new name"
	}
	return fmt.Errorf("%w: %s was written with %sserializer %q but is registered with %q; "+
		"if only the type or the serializer's name changed (the same bytes), declare %q as an alias (%s); "+
		"if the bytes changed (another codec or type), %s; "+
		"otherwise register it with %q",
		ErrIncompatibleSerializer, state, what, recorded, s.ID(), recorded, fix, migrate, recorded)
}

// CheckKeySerializer is the check every keyed backend makes when it restores keys recorded
// with the key serializer ID recorded, for a job whose key serializer has ID id and alias IDs
// aliases (Options.KeySerializerAliases): the recorded ID must be id or one of aliases.
// That is the rule of values, and it is sound for keys, whose bytes decide their key groups
// and their place in the state, only because an alias promises identical bytes
// (serde.Aliased). Anything else fails with ErrIncompatibleSerializer naming the operator,
// both IDs and why a key serializer cannot change.
func CheckKeySerializer(operatorID, recorded, id string, aliases []string) error {
	if recorded == id || slices.Contains(aliases, recorded) {
		return nil
	}
	return fmt.Errorf("%w: operator %s: the snapshot's keys were written with serializer %q, the job uses %q; "+
		"a key serializer cannot change (a key's bytes decide its key group) unless it encodes every key to the same bytes: "+
		"then declare %q as its alias (serde.Aliased), else key the job with %q",
		ErrIncompatibleSerializer, operatorID, recorded, id, recorded, recorded)
}

func kindConflict(operatorID string, have snapshot.StateMeta, want Kind) error {
	return fmt.Errorf("%w: state %q of operator %s is %s state, requested as %s state", ErrStateConflict, have.Name, operatorID, have.Kind, want)
}

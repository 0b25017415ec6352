package backend

import (
	"fmt"
	"iter"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
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
type Spec struct {
	Name        string
	Kind        Kind
	Value       serde.Erased
	UserKey     serde.Erased
	Word        *Word
	UserKeyWord *Word
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

// CheckCompatible is the check every backend makes when a state is registered over data
// written earlier (restored, or registered before): same kind (else ErrStateConflict) and same
// serializer IDs (else ErrIncompatibleSerializer, naming the state and both serializers).
func CheckCompatible(operatorID string, have, want snapshot.StateMeta) error {
	if have.Kind != want.Kind {
		return fmt.Errorf("%w: state %q of operator %s is %s state, requested as %s state", ErrStateConflict, want.Name, operatorID, have.Kind, want.Kind)
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

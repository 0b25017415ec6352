package state

import "errors"

// Sentinel errors of the state API. Backends wrap them with context; check with errors.Is.
var (
	// ErrNoCurrentKey: keyed state was accessed before SetCurrentKey.
	ErrNoCurrentKey = errors.New("state: no current key set")
	// ErrKeyGroupNotOwned: the current key belongs to a key group outside the backend's range.
	ErrKeyGroupNotOwned = errors.New("state: key group not owned by this backend")
	// ErrIncompatibleSerializer: a state (or the key) was registered or restored with a
	// serializer other than the one its data was written with.
	ErrIncompatibleSerializer = errors.New("state: incompatible serializer")
	// ErrStateConflict: a state name was registered again with another kind.
	ErrStateConflict = errors.New("state: conflicting state registration")
	// ErrUnknownState: a state name that was never registered nor restored.
	ErrUnknownState = errors.New("state: unknown state")
	// ErrNotMergeable: namespaces of this state kind cannot be merged.
	ErrNotMergeable = errors.New("state: state kind cannot merge namespaces")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("state: backend closed")
)

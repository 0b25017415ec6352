package backend

import "errors"

// Errors a backend returns, checked with errors.Is. Package state re-exports the ones a job
// author meets (ErrNoCurrentKey, ErrIncompatibleSerializer, ErrStateConflict) under the same
// identity.
var (
	// ErrNoCurrentKey: a keyed state was used before a current key was set, or after
	// SetCurrentKey failed.
	ErrNoCurrentKey = errors.New("state: no current key set")
	// ErrKeyGroupNotOwned: a key (or timer) of a key group outside the backend's range.
	ErrKeyGroupNotOwned = errors.New("state: key group not owned by this backend")
	// ErrIncompatibleSerializer: a state is registered with serializers other than the ones
	// its data was written with.
	ErrIncompatibleSerializer = errors.New("state: incompatible serializer")
	// ErrStateConflict: a state name registered again with another kind or mode.
	ErrStateConflict = errors.New("state: conflicting state registration")
	// ErrUnknownState: a state name that was never registered.
	ErrUnknownState = errors.New("state: unknown state")
	// ErrNotMergeable: namespaces merged on a state kind that cannot merge them.
	ErrNotMergeable = errors.New("state: state kind cannot merge namespaces")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("state: backend closed")
)

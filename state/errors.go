package state

import "github.com/streamstate/streamstate/backend"

// Errors a job author meets, checked with errors.Is. They are the backend's own sentinels
// (the same values), so an error from any backend matches them.
var (
	// ErrNoCurrentKey: keyed state was accessed before a current key was set.
	ErrNoCurrentKey = backend.ErrNoCurrentKey
	// ErrIncompatibleSerializer: a state (or the key) was registered or restored with a
	// serializer other than the one its data was written with, one that neither has its ID
	// nor declares it as an alias (serde.Aliased).
	ErrIncompatibleSerializer = backend.ErrIncompatibleSerializer
	// ErrStateConflict: a state name was registered again with another kind.
	ErrStateConflict = backend.ErrStateConflict
)

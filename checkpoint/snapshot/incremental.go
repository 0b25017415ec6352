package snapshot

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
)

// SharedDir is the directory, relative to a job's directory, of the files shared between
// incremental checkpoints.
const SharedDir = "shared/"

// ErrNotFull is returned (wrapped) by ReadKeyGroups for a handle that is not in the canonical
// full format (an incremental checkpoint, which only the backend that wrote it can restore).
var ErrNotFull = errors.New("checkpoint: keyed state handle is not a full snapshot")

// IncrementalHandle is the native, incremental form of one subtask's keyed state, written by
// the lsm backend: the files of its database. Shared files are immutable and live under
// shared/; several checkpoints may reference the same one, and it is deleted only when no
// retained checkpoint does. Private files (the database's MANIFEST, OPTIONS, ...) belong to
// this checkpoint only.
type IncrementalHandle struct {
	// Backend names the backend and format that wrote the files, e.g. "lsm/pebble-v2".
	Backend string `json:"backend"`
	// Shared are the immutable data files, under shared/, or adopted from another snapshot
	// in the same checkpoint storage (AdoptedPrefix, claim mode).
	Shared []IncrementalFile `json:"shared"`
	// Private are the checkpoint's own files, in its chk-<n>/ directory.
	Private []IncrementalFile `json:"private"`
	// Extra, if set, holds records that the database files do not (the lsm backend's timers
	// kept in memory), as a full handle in the canonical format over the same key-group range,
	// in the checkpoint's own directory. A restore applies it after the files, reading only
	// the key groups it owns. Optional: checkpoints without it are read as before.
	Extra *KeyedStateHandle `json:"extra,omitempty"`
	// Savepoint marks the handle of a native savepoint (Flink's SavepointFormatType.NATIVE):
	// every file is the savepoint's own, under its directory, none shared with a checkpoint.
	// Optional: false for checkpoints and for handles written before it existed.
	Savepoint bool `json:"savepoint,omitempty"`
	// Chain, if set, makes this an incremental handle of the hashmap backend (Backend
	// "hashmap/..."): Shared, Private and Extra are then empty, and the state is the chain's
	// handles applied in order: a base in the canonical full format, then deltas (Delta set)
	// whose records replace and whose tombstones remove what the handles before them hold.
	// Every element covers the handle's key-group range and lives under shared/, so later
	// checkpoints reference the same files (see chain.go). Optional: absent elsewhere.
	Chain []*KeyedStateHandle `json:"chain,omitempty"`
}

// IncrementalFile is one database file of an incremental handle: its name in the database
// directory and where it is stored.
type IncrementalFile struct {
	// Name is the file's name in the database directory (a base name).
	Name string `json:"name"`
	// Path and Size locate the stored copy, relative to the job's directory.
	Path string `json:"path"`
	Size int64  `json:"size"`
	// SHA256 is the stored copy's checksum, as in FileRef: recorded by the checkpoint that
	// uploaded the file and carried forward by every later one that reuses it. Required in
	// metadata format 2, absent in format 1.
	SHA256 string `json:"sha256,omitempty"`
}

// Ref returns the stored copy's reference.
func (f IncrementalFile) Ref() FileRef { return FileRef{Path: f.Path, Size: f.Size, SHA256: f.SHA256} }

func (h *IncrementalHandle) validate() error {
	if h.Backend == "" {
		return fmt.Errorf("incremental handle without a backend name")
	}
	names := map[string]bool{}
	check := func(f IncrementalFile, shared bool) error {
		if f.Name == "" || f.Name == "." || f.Name == ".." || path.Base(f.Name) != f.Name || strings.ContainsAny(f.Name, "/\\") {
			return fmt.Errorf("incremental file name %q is not a base name", f.Name)
		}
		if names[f.Name] {
			return fmt.Errorf("incremental file %q listed twice", f.Name)
		}
		names[f.Name] = true
		if shared && IsAdopted(f.Path) {
			// A shared file of another snapshot in the same storage (claim mode).
			if err := ValidAdoptedShared(f.Path); err != nil {
				return err
			}
		} else if err := validPath(f.Path); err != nil {
			return err
		} else if shared != strings.HasPrefix(f.Path, SharedDir) {
			return fmt.Errorf("incremental file %q: shared files and only they belong under %s", f.Path, SharedDir)
		}
		if f.Size < 0 {
			return fmt.Errorf("incremental file %q has negative size %d", f.Path, f.Size)
		}
		return nil
	}
	for _, f := range h.Shared {
		if err := check(f, true); err != nil {
			return err
		}
	}
	for _, f := range h.Private {
		if err := check(f, false); err != nil {
			return err
		}
	}
	return nil
}

// files returns the references of every file of the handle.
func (h *IncrementalHandle) files() []FileRef {
	out := make([]FileRef, 0, len(h.Shared)+len(h.Private)+len(h.Chain)+1)
	if h.Extra != nil {
		out = append(out, h.Extra.File)
	}
	for _, c := range h.Chain {
		out = append(out, c.File)
	}
	for _, f := range h.Shared {
		out = append(out, f.Ref())
	}
	for _, f := range h.Private {
		out = append(out, f.Ref())
	}
	return out
}

// SharedStreamFactory is implemented by the StreamFactory of a checkpoint that can hold
// shared files (Pending).
type SharedStreamFactory interface {
	StreamFactory
	CreateShared(ctx context.Context, hint string) (OutputStream, error)
}

package snapshot

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/streamstate/streamstate/keygroup"
)

// A hashmap incremental checkpoint (IncrementalHandle.Chain) is an ordered chain of handles in
// the canonical full format, all under shared/: a base, which is a full snapshot, then deltas
// (KeyedStateHandle.Delta). A delta's blocks hold, in order, records and tombstones:
//
//	record    = as in a full snapshot (uvarint(state index) ...)
//	tombstone = uvarint(len(states) + state index) kind:byte bytes(key) bytes(namespace)
//
// where kind is TombstoneCell (the (key, namespace) of the state is removed: a value, a whole
// list, every entry of a map, every timer of the key and namespace; records after it in the
// same delta put it back) or TombstoneKeyGroup (every record of the state in this key group
// is removed; key and namespace are empty). A restore applies the chain's handles in order,
// each block's records in order; a rescaled restore reads only its key groups' blocks of
// every handle.

// HashmapChainBackend is the IncrementalHandle.Backend of the hashmap backend's chains.
const HashmapChainBackend = "hashmap/chain-v1"

// MaxChainLength bounds the handles of one chain in metadata (untrusted): a base and at most
// MaxChainLength-1 deltas. Writers consolidate far earlier.
const MaxChainLength = 1024

// Tombstone is what a tombstone in a delta removes (Record.Tombstone); TombstoneNone marks a
// record that puts.
type Tombstone uint8

// The tombstone kinds; the numbers are part of the format.
const (
	TombstoneNone Tombstone = iota
	// TombstoneCell removes one (key, namespace) of a state.
	TombstoneCell
	// TombstoneKeyGroup removes every record of a state in the block's key group.
	TombstoneKeyGroup
)

// Tombstone adds a tombstone of kind (TombstoneCell or TombstoneKeyGroup, whose key and ns
// are empty) for the state of index state, of states in all, to a delta's block.
func (b *BlockBuilder) Tombstone(states, state int, kind Tombstone, key, ns []byte) {
	b.payload = binary.AppendUvarint(b.payload, uint64(states+state))
	b.payload = append(b.payload, byte(kind))
	b.payload = appendBytes(b.payload, key)
	b.payload = appendBytes(b.payload, ns)
}

// decodeTombstone decodes the rest of a tombstone of the state idx-len(states).
func decodeTombstone(b []byte, states []StateMeta, idx uint64, r *Record) ([]byte, error) {
	st := idx - uint64(len(states))
	if st >= uint64(len(states)) {
		return nil, fmt.Errorf("record names state %d of %d", idx, len(states))
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("tombstone without its kind")
	}
	r.State, r.Kind, r.Tombstone = int(st), states[st].Kind, Tombstone(b[0])
	if r.Tombstone != TombstoneCell && r.Tombstone != TombstoneKeyGroup {
		return nil, fmt.Errorf("tombstone of unknown kind %d", b[0])
	}
	var err error
	if r.Key, b, err = readBytes(b[1:]); err != nil {
		return nil, err
	}
	if r.Namespace, b, err = readBytes(b); err != nil {
		return nil, err
	}
	if r.Tombstone == TombstoneKeyGroup && (len(r.Key) != 0 || len(r.Namespace) != 0) {
		return nil, fmt.Errorf("key-group tombstone with a key or namespace")
	}
	r.UserKey, r.Value, r.List = nil, nil, r.List[:0]
	return b, nil
}

// validateChain checks a chain's handles (if any): each is a canonical full handle of the
// chain's key-group range r under shared/, the first a base and the others deltas, no file
// twice, at most MaxChainLength of them.
func (h *IncrementalHandle) validateChain(r keygroup.Range, maxP int) error {
	if len(h.Chain) == 0 {
		if strings.HasPrefix(h.Backend, "hashmap/") {
			return fmt.Errorf("incremental handle of backend %q without a chain", h.Backend)
		}
		return nil
	}
	if h.Backend != HashmapChainBackend {
		return fmt.Errorf("incremental handle of backend %q with a chain (only %q has one)", h.Backend, HashmapChainBackend)
	}
	if len(h.Shared) != 0 || len(h.Private) != 0 || h.Extra != nil || h.Savepoint {
		return fmt.Errorf("incremental chain with database files, extra records or the savepoint mark")
	}
	if len(h.Chain) > MaxChainLength {
		return fmt.Errorf("incremental chain of %d handles, more than %d (MaxChainLength)", len(h.Chain), MaxChainLength)
	}
	paths := map[string]bool{}
	for i, c := range h.Chain {
		switch {
		case c == nil:
			return fmt.Errorf("chain handle %d is null", i)
		case c.Incremental != nil:
			return fmt.Errorf("chain handle %d is incremental itself", i)
		case c.Delta != (i > 0):
			return fmt.Errorf("chain handle %d: the first handle of a chain is its base, every later one a delta", i)
		case c.KeyGroupRange != r:
			return fmt.Errorf("chain handle %d of key groups %v in a handle of key groups %v", i, c.KeyGroupRange, r)
		case !strings.HasPrefix(c.File.Path, SharedDir):
			return fmt.Errorf("chain handle %d: file %q is not under %s", i, c.File.Path, SharedDir)
		case paths[c.File.Path]:
			return fmt.Errorf("chain handle %d: file %q listed twice", i, c.File.Path)
		case c.TTLWatermark != nil:
			return fmt.Errorf("chain handle %d has a TTL watermark (the chain's handle records it)", i)
		}
		paths[c.File.Path] = true
		if err := c.validate(maxP); err != nil {
			return fmt.Errorf("chain handle %d: %v", i, err)
		}
	}
	return nil
}

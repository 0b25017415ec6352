package stream

import (
	"fmt"

	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
)

// keyed is a record on a keyed edge with its key as the partitioner routed it: the keyed task
// sets its current key from key, raw and kg (state.KeyedBackend.SetCurrentKeyRouted) without
// running the key selector, the serializer or the hash again.
type keyed[K, T any] struct {
	v   T
	key K
	// raw is the serialized key, nil for a word key (serde.WordKey), whose encoding is the
	// word. It points into a router's key arena and is never written to again.
	raw []byte
	// kg is the key group: keygroup.Of(raw), or keygroup.OfWord of the word.
	kg int
}

// keyArenaSize is the size of a router's key arenas: one allocation serves many records.
const keyArenaSize = 16 << 10

// keyRouter computes, once per record, what a keyed edge and the keyed task need of a
// record's key: the key, its serialized form and its key group.
//
// Serialized keys are appended to an arena that is only ever appended to: once a record
// carries a slice of it, those bytes are never overwritten, so batches may be recycled and a
// blocked input may hold a batch's rest without a copy. When the arena is full a new one is
// allocated and the garbage collector frees the old one once no record or current key
// refers to it.
type keyRouter[K, T any] struct {
	key   func(T) K
	ser   serde.Serializer[K]
	word  serde.WordKey[K] // set when ser encodes keys as 8-byte words: no bytes are carried
	maxP  int
	arena []byte
}

func newKeyRouter[K, T any](key func(T) K, ser serde.Serializer[K], maxP int) *keyRouter[K, T] {
	r := &keyRouter[K, T]{key: key, ser: ser, maxP: maxP}
	r.word, _ = ser.(serde.WordKey[K])
	return r
}

// route extracts v's key, serializes it and computes its key group.
func (r *keyRouter[K, T]) route(v T) (keyed[K, T], error) {
	k := r.key(v)
	if r.word != nil {
		return keyed[K, T]{v: v, key: k, kg: keygroup.OfWord(r.word.KeyWord(k), r.maxP)}, nil
	}
	if cap(r.arena)-len(r.arena) < keyArenaSize/64 {
		r.arena = make([]byte, 0, keyArenaSize)
	}
	start := len(r.arena)
	b, err := serde.AppendKey(r.ser, r.arena, k)
	if err != nil {
		return keyed[K, T]{}, fmt.Errorf("stream: serialize key of a record: %w", err)
	}
	// A key longer than the arena's room grows b into a new array, which becomes the arena:
	// the old one keeps what earlier records point to.
	r.arena = b
	raw := b[start:len(b):len(b)] // capped: nobody appends into the arena through raw
	return keyed[K, T]{v: v, key: k, raw: raw, kg: keygroup.Of(raw, r.maxP)}, nil
}

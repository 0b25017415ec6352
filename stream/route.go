package stream

import (
	"fmt"

	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
)

// A record's key is hashed once: the partitioner of a keyed edge computes the key group to
// pick the downstream subtask, and the element carries it (element.kg, in what was the
// element's padding, so records cross the edge no larger than before) to the keyed task,
// which sets its current key with state.KeyedBackend.SetCurrentKeyRouted: no hash there.
// A word key (serde.WordKey) is not serialized on either side.
//
// The keyed task runs the key selector again (as Flink's KeySelector, it must be
// deterministic) and, for a key that is not a word, serializes it again into a reused
// buffer, rather than carry the key and its bytes across the edge: BenchmarkKeyedHop and
// BenchmarkKeyedPipeline measured carrying the bytes (an append-only arena per partitioner,
// 24 more bytes per element) slower than serializing again, and a word key has nothing to
// carry.

// keyRouter computes, once per record, the key group of the record's key.
type keyRouter[K, T any] struct {
	key  func(T) K
	ser  serde.Serializer[K]
	word serde.WordKey[K] // set when ser encodes keys as 8-byte words
	maxP int
	buf  []byte // the last key serialized
}

func newKeyRouter[K, T any](key func(T) K, ser serde.Serializer[K], maxP int) *keyRouter[K, T] {
	r := &keyRouter[K, T]{key: key, ser: ser, maxP: maxP}
	r.word, _ = ser.(serde.WordKey[K])
	return r
}

// keyGroup returns the key group of v's key.
func (r *keyRouter[K, T]) keyGroup(v T) (int, error) {
	if r.word != nil {
		return keygroup.OfWord(r.word.KeyWord(r.key(v)), r.maxP), nil
	}
	b, err := serde.AppendKey(r.ser, r.buf[:0], r.key(v))
	r.buf = b
	if err != nil {
		return 0, fmt.Errorf("stream: serialize key of a record: %w", err)
	}
	return keygroup.Of(b, r.maxP), nil
}

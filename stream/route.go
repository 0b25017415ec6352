package stream

import (
	"fmt"

	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
)

// A record's key is serialized and hashed once: the partitioner of a keyed edge computes
// the key group to pick the downstream subtask, and the record crosses the edge with it and
// with its serialized key (element.kg, element.keyOff and keyLen in what was the element's
// padding, the bytes in the batch's keys, reused with the batch), so records cross the edge
// no larger than before. The keyed task sets its current key from them with
// state.KeyedBackend.SetCurrentKeyRouted, which copies the bytes and neither serializes nor
// hashes. A word key (serde.WordKey) is never serialized and carries no bytes.
//
// The keyed task runs the key selector again (as Flink's KeySelector, it must be
// deterministic) rather than carry the key: a key field costs less to read again than to
// copy across the edge, and a selector that allocates allocated before as well.

// keyRouter computes, once per record, the serialized key and key group of the record's key.
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

// keyGroup returns the serialized key of v (nil for a word key), valid until the next call,
// and its key group.
func (r *keyRouter[K, T]) keyGroup(v T) (raw []byte, kg int, err error) {
	if r.word != nil {
		return nil, keygroup.OfWord(r.word.KeyWord(r.key(v)), r.maxP), nil
	}
	b, err := serde.AppendKey(r.ser, r.buf[:0], r.key(v))
	r.buf = b
	if err != nil {
		return nil, 0, fmt.Errorf("stream: serialize key of a record: %w", err)
	}
	return b, keygroup.Of(b, r.maxP), nil
}

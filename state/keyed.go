package state

import (
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
)

// KeyedBackend is the typed face of a backend.Keyed for keys of type K: it serializes the
// current key, computes its key group and scopes every state created from it to that key.
// Like the backend, it is used from the task's goroutine only.
type KeyedBackend[K any] struct {
	b    backend.Keyed
	ser  serde.Serializer[K]
	maxP int
	// wordKey and wb are set when the key encoding is a word and the backend takes it as one.
	wordKey serde.WordKey[K]
	wb      backend.WordKeyed
	buf     []byte // the current key serialized, if bufOK (SetCurrentKeyWord serializes lazily)
	bufOK   bool
	scratch []byte // a key being serialized, not yet current
	key     K
	kg      int
	hasKey  bool
}

// NewKeyedBackend wraps b for keys serialized by ser. It fails with ErrIncompatibleSerializer
// if b was created for another key serializer: ser's ID must be b's KeySerializerID exactly
// (aliases do not count here; they apply when b restores keys recorded under an alias of its
// key serializer, see backend.Options.KeySerializerAliases).
func NewKeyedBackend[K any](b backend.Keyed, ser serde.Serializer[K]) (*KeyedBackend[K], error) {
	if ser == nil {
		ser = serde.Of[K]()
	}
	if ser.ID() != b.KeySerializerID() {
		return nil, fmt.Errorf("%w: key serializer %q given, but the backend's keys use %q; use the key serializer the state was written with",
			ErrIncompatibleSerializer, ser.ID(), b.KeySerializerID())
	}
	k := &KeyedBackend[K]{b: b, ser: ser, maxP: b.MaxParallelism()}
	if kw, ok := ser.(serde.WordKey[K]); ok {
		k.wordKey = kw
		k.wb, _ = b.(backend.WordKeyed)
	}
	return k, nil
}

// Backend returns the underlying backend (for snapshots and Close).
func (k *KeyedBackend[K]) Backend() backend.Keyed { return k.b }

// KeyGroupOf returns the key group of key.
func (k *KeyedBackend[K]) KeyGroupOf(key K) (int, error) {
	if k.wordKey != nil {
		return keygroup.OfWord(k.wordKey.KeyWord(key), k.maxP), nil
	}
	buf, err := k.serialize(key)
	if err != nil {
		return 0, err
	}
	return keygroup.Of(buf, k.maxP), nil
}

// SetCurrentKey scopes all states of this backend to key.
func (k *KeyedBackend[K]) SetCurrentKey(key K) error {
	if k.wb != nil {
		w := k.wordKey.KeyWord(key)
		kg := keygroup.OfWord(w, k.maxP)
		if err := k.wb.SetCurrentKeyWord(w, kg); err != nil {
			k.hasKey = false
			return err
		}
		k.key, k.kg, k.hasKey, k.bufOK = key, kg, true, false
		return nil
	}
	buf, err := k.serialize(key)
	if err != nil {
		return err
	}
	return k.setSerialized(key, buf, keygroup.Of(buf, k.maxP))
}

// serialize serializes key into scratch. If it fails, the current key stays as it was.
func (k *KeyedBackend[K]) serialize(key K) ([]byte, error) {
	buf, err := serde.AppendKey(k.ser, k.scratch[:0], key)
	k.scratch = buf
	if err != nil {
		return nil, fmt.Errorf("state: serialize key: %w", err)
	}
	return buf, nil
}

// setSerialized makes key current, serialized in scratch as buf, of key group kg.
func (k *KeyedBackend[K]) setSerialized(key K, buf []byte, kg int) error {
	if err := k.b.SetCurrentKey(buf, kg); err != nil {
		k.hasKey = false
		return err
	}
	k.buf, k.scratch = buf, k.buf
	k.key, k.kg, k.hasKey, k.bufOK = key, kg, true, true
	return nil
}

// SetCurrentKeyRouted is SetCurrentKey for a key whose key group is already known, and
// possibly its serialized form, as a keyed edge computes them to route a record: it does not
// hash the key, and with raw it does not serialize it either (nor does it for a word key,
// serde.WordKey, with a backend that takes words). raw is copied: the caller may reuse it
// once the call returns. A nil raw means the key is serialized here; if that fails, the
// current key stays as it was.
//
// The caller guarantees that kg == keygroup.Of(serde.AppendKey(ser, nil, key), maxParallelism)
// (for a word key, keygroup.OfWord(KeyWord(key), maxParallelism)) and that raw, if not nil,
// is that encoding of key. Breaking this scopes state to the wrong key group, so a caller
// that cannot guarantee it uses SetCurrentKey. A kg outside the backend's key-group range
// still fails with backend.ErrKeyGroupNotOwned and leaves no current key: a misrouted record
// cannot touch another subtask's state.
func (k *KeyedBackend[K]) SetCurrentKeyRouted(key K, raw []byte, kg int) error {
	if k.wb != nil {
		if err := k.wb.SetCurrentKeyWord(k.wordKey.KeyWord(key), kg); err != nil {
			k.hasKey = false
			return err
		}
		k.key, k.kg, k.hasKey, k.bufOK = key, kg, true, false
		return nil
	}
	if raw != nil {
		k.scratch = append(k.scratch[:0], raw...)
		return k.setSerialized(key, k.scratch, kg)
	}
	buf, err := k.serialize(key)
	if err != nil {
		return err
	}
	return k.setSerialized(key, buf, kg)
}

// CurrentKeyBytes returns the serialized current key and its key group; the slice is valid
// until the next SetCurrentKey. ok is false before the first SetCurrentKey.
func (k *KeyedBackend[K]) CurrentKeyBytes() (key []byte, kg int, ok bool) {
	if !k.hasKey {
		return nil, 0, false
	}
	if !k.bufOK {
		k.buf = binary.BigEndian.AppendUint64(k.buf[:0], k.wordKey.KeyWord(k.key))
		k.bufOK = true
	}
	return k.buf, k.kg, true
}

// SetCurrentKeyBytes sets the current key from its serialized form (as a timer holds it).
func (k *KeyedBackend[K]) SetCurrentKeyBytes(raw []byte) error {
	key, rest, err := serde.DecodeKey(k.ser, raw)
	if err != nil {
		return fmt.Errorf("state: decode key: %w", err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("state: decode key: %d trailing bytes", len(rest))
	}
	return k.SetCurrentKey(key)
}

// CurrentKey returns the current key; ok is false before the first SetCurrentKey.
func (k *KeyedBackend[K]) CurrentKey() (key K, ok bool) { return k.key, k.hasKey }

// CreateState forwards to the backend, so a KeyedBackend can be passed to GetValueState & co.
func (k *KeyedBackend[K]) CreateState(spec backend.Spec) (backend.State, error) {
	return k.b.CreateState(spec)
}

// Keys iterates every key that has state in the named state under namespace ns.
func (k *KeyedBackend[K]) Keys(name string, ns []byte) iter.Seq2[K, error] {
	return func(yield func(K, error) bool) {
		for raw, err := range k.b.Keys(name, ns) {
			var key K
			if err == nil {
				key, _, err = serde.DecodeKey(k.ser, raw)
			}
			if !yield(key, err) || err != nil {
				return
			}
		}
	}
}

// StateCreator creates states: a backend.Keyed or a KeyedBackend.
type StateCreator interface {
	CreateState(spec backend.Spec) (backend.State, error)
}

func create[T any](c StateCreator, d Descriptor) (T, error) {
	var zero T
	spec := d.Spec()
	if err := validateName(spec.Name); err != nil {
		return zero, err
	}
	in, err := c.CreateState(spec)
	if err != nil {
		return zero, err
	}
	t, ok := in.(T)
	if !ok {
		return zero, fmt.Errorf("%w: backend returned %T for %s state %q", ErrStateConflict, in, spec.Kind, spec.Name)
	}
	return t, nil
}

package heap

import "unsafe"

// mkeyInline is how many bytes of a map key are stored inline. 22 bytes keep the struct at 40
// bytes and hold an int64 key with a namespace of up to 13 bytes, or a string key of ~20.
const mkeyInline = 22

// mkeyLong marks a key stored in s.
const mkeyLong = 0xFF

// mkey is a key of the hashmap backend's Go maps: the bytes of `uvarint(len(key)) key ns` (or
// a map state's serialized user key), inline when short, so that hashing and comparing a key
// does not follow a pointer to a separately allocated string.
type mkey struct {
	b [mkeyInline]byte
	n uint8
	s string
}

// lookupKey makes a key for a map lookup or delete. A long key points into b, so the result
// must not be stored in a map.
func lookupKey(b []byte) mkey {
	var k mkey
	if len(b) <= mkeyInline {
		k.n = uint8(copy(k.b[:], b))
		return k
	}
	k.n = mkeyLong
	k.s = unsafe.String(unsafe.SliceData(b), len(b))
	return k
}

// storeKey makes a key that owns its bytes, for storing in a map.
func storeKey(b []byte) mkey {
	if len(b) <= mkeyInline {
		return lookupKey(b)
	}
	return mkey{n: mkeyLong, s: string(b)}
}

// owned returns k as a key that can be stored (it copies a long lookup key).
func (k mkey) owned() mkey {
	if k.n == mkeyLong {
		k.s = string([]byte(k.s))
	}
	return k
}

// bytes returns the key's bytes. For an inline key they live in k: take k's address from a
// variable that outlives their use.
func (k *mkey) bytes() []byte {
	if k.n == mkeyLong {
		return unsafe.Slice(unsafe.StringData(k.s), len(k.s))
	}
	return k.b[:k.n]
}

package lsm

import (
	"bytes"
	"testing"

	"github.com/streamstate/streamstate/backend"
)

// FuzzDecodeKey: decoding a state key never panics, and encode(decode(k)) == k.
func FuzzDecodeKey(f *testing.F) {
	f.Add(appendEntryPrefix(nil, 3, 7, []byte("key\x00\x01"), []byte("ns")))
	f.Add(append(appendEntryPrefix(nil, 32767, 65535, nil, nil), "user"...))
	f.Add([]byte{0, 1, 0})
	f.Add([]byte{0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, k []byte) {
		d, err := decodeKey(k)
		if err != nil {
			return
		}
		re := append(appendEntryPrefix(nil, d.kg, d.sid, d.key, d.ns), d.userKey...)
		// Uvarint lengths have several encodings of one value only with redundant bytes,
		// which AppendUvarint never writes: compare after re-decoding.
		d2, err := decodeKey(re)
		if err != nil || d2.kg != d.kg || d2.sid != d.sid || !bytes.Equal(d2.key, d.key) || !bytes.Equal(d2.ns, d.ns) || !bytes.Equal(d2.userKey, d.userKey) {
			t.Fatalf("round trip of %x: %+v then %+v (%v)", k, d, d2, err)
		}
	})
}

// FuzzDecodeTimerKey: decoding a timer key never panics and round-trips exactly (the escaping
// has one encoding per value).
func FuzzDecodeTimerKey(f *testing.F) {
	f.Add(appendTimerKey(nil, 5, 2, backend.Timer{Timestamp: -7, Key: []byte("a\x00b"), Namespace: []byte{0}}))
	f.Add(appendTimerKey(nil, 0, 1, backend.Timer{Timestamp: 1 << 40}))
	f.Add([]byte{0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0})
	f.Fuzz(func(t *testing.T, k []byte) {
		kg, tm, err := decodeTimerKey(k)
		if err != nil {
			return
		}
		sid, _ := keySID(k)
		if re := appendTimerKey(nil, kg, sid, tm); !bytes.Equal(re, k) {
			t.Fatalf("round trip of %x gave %x", k, re)
		}
	})
}

// FuzzSplitList: a list value never panics the decoder, and re-encoding the elements gives
// the value back.
func FuzzSplitList(f *testing.F) {
	f.Add(appendListElement(appendListElement(nil, []byte("x")), nil))
	f.Add([]byte{0x80})
	f.Add([]byte{5, 1})
	f.Fuzz(func(t *testing.T, v []byte) {
		elems, err := splitList(nil, v)
		if err != nil {
			return
		}
		var re []byte
		for _, e := range elems {
			re = appendListElement(re, e)
		}
		if d, err := splitList(nil, re); err != nil || len(d) != len(elems) {
			t.Fatalf("round trip of %x: %v", v, err)
		}
	})
}

// TestTimerKeyOrder: the database order of timer keys is backend.Timer.Less.
func TestTimerKeyOrder(t *testing.T) {
	ts := []backend.Timer{
		{Timestamp: -1, Key: []byte("b")},
		{Timestamp: 0, Key: []byte("a"), Namespace: []byte("zz")},
		{Timestamp: 0, Key: []byte("a\x00"), Namespace: nil},
		{Timestamp: 0, Key: []byte("a\x01")},
		{Timestamp: 0, Key: []byte("ab"), Namespace: []byte("")},
		{Timestamp: 0, Key: []byte("ab"), Namespace: []byte("\x00")},
		{Timestamp: 0, Key: []byte("ab"), Namespace: []byte("a")},
		{Timestamp: 0, Key: []byte("b")},
		{Timestamp: 1 << 62, Key: []byte("")},
	}
	for i := range ts {
		for j := range ts {
			ki, kj := appendTimerKey(nil, 1, 1, ts[i]), appendTimerKey(nil, 1, 1, ts[j])
			if (bytes.Compare(ki, kj) < 0) != ts[i].Less(ts[j]) {
				t.Fatalf("%v vs %v: key order %d, Less %v", ts[i], ts[j], bytes.Compare(ki, kj), ts[i].Less(ts[j]))
			}
		}
	}
}

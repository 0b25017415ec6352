package stream

import (
	"bytes"
	"errors"
	"testing"

	"github.com/streamstate/streamstate/serde"
)

// FuzzMiniPairDecode: the decoder of checkpointed mini-batch pairs never panics on any bytes,
// fails with serde.ErrDecode, and what it accepts encodes back to the same bytes.
func FuzzMiniPairDecode(f *testing.F) {
	ser := miniPairSerializer{value: "int64"}
	good, _ := ser.Append(nil, &miniPair{key: []byte("key"), w: TimeWindow{Start: -5, End: 10}, ts: 9, value: []byte{1, 2, 3}})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ser.Decode(b)
		if err != nil {
			if !errors.Is(err, serde.ErrDecode) {
				t.Fatalf("error does not wrap serde.ErrDecode: %v", err)
			}
			return
		}
		again, err := ser.Append(nil, p)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decode %x then encode: %x, %v", b, again, err)
		}
	})
}

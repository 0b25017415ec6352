package backend

import (
	"encoding/binary"
	"fmt"
)

// StampLen is the length of the stamp that prefixes every encoded value of a TTL state.
const StampLen = 8

// AppendStamp appends the encoding of stamp at: 8 bytes, big-endian, sign bit flipped, so that
// encoded stamps sort as the times do.
func AppendStamp(dst []byte, at int64) []byte { return binary.BigEndian.AppendUint64(dst, flip(at)) }

// StampOf returns the stamp that prefixes the encoded value b of a TTL state, and the user's
// encoded value after it. It fails, naming the length, when b is too short to hold one.
func StampOf(b []byte) (at int64, rest []byte, err error) {
	if len(b) < StampLen {
		return 0, nil, fmt.Errorf("TTL state value of %d bytes has no %d-byte stamp", len(b), StampLen)
	}
	return int64(binary.BigEndian.Uint64(b) ^ 1<<63), b[StampLen:], nil
}

package serde

import (
	"bytes"
	"fmt"
)

// Key encodings are self-delimiting and order-preserving: a key can be followed by other bytes
// (a namespace, a map user key) and still be split off, and comparing two encodings bytewise
// orders them as their plain encodings. Fixed-size serializers are used as they are; everything
// else is escaped: 0x00 becomes 0x00 0xFF and the key ends with 0x00 0x01.

// AppendKey appends the self-delimiting, order-preserving encoding of v to dst.
func AppendKey[T any](s Serializer[T], dst []byte, v T) ([]byte, error) {
	if _, ok := s.(Fixed); ok {
		return s.Append(dst, v)
	}
	start := len(dst)
	dst, err := s.Append(dst, v)
	if err != nil {
		return dst[:start], err
	}
	// Escape the plain encoding in place, from the back, after counting zero bytes.
	zeros := bytes.Count(dst[start:], []byte{0})
	plainEnd := len(dst)
	dst = append(dst, make([]byte, zeros+2)...)
	w := len(dst) - 2
	dst[w], dst[w+1] = 0x00, 0x01
	for r := plainEnd - 1; r >= start; r-- {
		if dst[r] == 0 {
			w -= 2
			dst[w], dst[w+1] = 0x00, 0xFF
		} else {
			w--
			dst[w] = dst[r]
		}
	}
	return dst, nil
}

// SplitKey splits a key encoded by AppendKey with serializer s off the front of src, returning
// the plain (unescaped) encoding and the remaining bytes. plain may share memory with src, but
// appending to it never overwrites rest. It never panics on bad input.
func SplitKey[T any](s Serializer[T], src []byte) (plain, rest []byte, err error) {
	if f, ok := s.(Fixed); ok {
		n := f.Size()
		if len(src) < n {
			return nil, nil, decodeErr(s.ID(), "key needs %d bytes, have %d", n, len(src))
		}
		return src[:n:n], src[n:], nil
	}
	var out []byte
	for i := 0; ; {
		j := bytes.IndexByte(src[i:], 0)
		if j < 0 || i+j+1 >= len(src) {
			return nil, nil, decodeErr(s.ID(), "key is not terminated")
		}
		j += i
		switch src[j+1] {
		case 0x01:
			if out == nil {
				return src[:j:j], src[j+2:], nil
			}
			return append(out, src[i:j]...), src[j+2:], nil
		case 0xFF:
			out = append(out, src[i:j]...)
			out = append(out, 0)
			i = j + 2
		default:
			return nil, nil, decodeErr(s.ID(), "bad escape %#x in key", src[j+1])
		}
	}
}

// DecodeKey decodes a key encoded by AppendKey off the front of src and returns the rest.
func DecodeKey[T any](s Serializer[T], src []byte) (v T, rest []byte, err error) {
	plain, rest, err := SplitKey(s, src)
	if err != nil {
		return v, nil, err
	}
	v, err = s.Decode(plain)
	if err != nil {
		return v, nil, fmt.Errorf("key: %w", err)
	}
	return v, rest, nil
}

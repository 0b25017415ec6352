package checkpointtest

import (
	"encoding/binary"
	"hash/crc32"
)

// WrapMetadataBody frames a JSON body as a _metadata file with the given version and a correct
// checksum, so tests can hand DecodeMetadata bodies that only its later checks reject.
func WrapMetadataBody(version uint32, body []byte) []byte {
	b := append([]byte("STRMSTMD"), binary.BigEndian.AppendUint32(nil, version)...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return append(b, body...)
}

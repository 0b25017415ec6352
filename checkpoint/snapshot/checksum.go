package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
)

// Every stored file of a checkpoint or savepoint (full snapshot, operator state, incremental
// database file, extra records) has a checksum recorded in the metadata since metadata format
// 2: the SHA-256 of its bytes, in lower-case hex (FileRef.SHA256, IncrementalFile.SHA256). It is
// computed while the file is written (the OutputStream hashes what passes through it, so it
// costs no second read) and verified whenever a whole file is read: an lsm restore downloads
// and verifies every database file before Pebble opens the directory, a restore that reads all
// of an operator state file verifies it before use, and one that reads all of a full snapshot
// hashes the blocks as they stream past and verifies the file once the last block is read,
// before the restore can succeed (see ReadKeyGroups). A restore at another
// parallelism reads only some key groups (or sections) of a file; those reads rely on the
// CRC-32C of every block (section), the file's size, and the header checks, because verifying
// the whole file would mean reading all of it on every subtask. `checkpoints validate` (Check)
// reads every file in full and verifies its checksum.
//
// SHA-256 rather than a CRC: a CRC catches random damage, but a checksum that also resists
// deliberate collisions costs little more on current CPUs (SHA extensions; Go's crypto/sha256
// uses them) and keeps a crafted file from matching a recorded checksum.

// checksumLen is the length of a recorded checksum: SHA-256 in hex.
const checksumLen = 2 * sha256.Size

// Checksum returns the checksum recorded for a stored file whose content is b: its SHA-256 in
// lower-case hex.
func Checksum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// validChecksum reports whether s has the shape of a recorded checksum.
func validChecksum(s string) bool {
	if len(s) != checksumLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// FileHasher computes the size and checksum of a file from its bytes, written to it in order:
// the checksum of a file being stored, or of one being read, to verify it against its FileRef.
// The zero value is not ready to use; call NewFileHasher. Not safe for concurrent use.
type FileHasher struct {
	h hash.Hash
	n int64
}

// NewFileHasher returns a hasher of an empty file.
func NewFileHasher() *FileHasher { return &FileHasher{h: sha256.New()} }

// Write adds p to the file's bytes. It never fails.
func (f *FileHasher) Write(p []byte) (int, error) {
	f.h.Write(p)
	f.n += int64(len(p))
	return len(p), nil
}

// Size returns the number of bytes written.
func (f *FileHasher) Size() int64 { return f.n }

// Sum returns the checksum of the bytes written, as recorded in a FileRef.
func (f *FileHasher) Sum() string { return hex.EncodeToString(f.h.Sum(nil)) }

// Verify checks the bytes written against ref: a size other than ref.Size gives an error
// wrapping ErrMissing (fewer bytes) or ErrCorrupt (more), a checksum other than ref.SHA256 one
// wrapping ErrCorrupt; both name ref.Path. A ref without a checksum (metadata format 1) is
// checked by size only.
func (f *FileHasher) Verify(ref FileRef) error {
	switch {
	case f.n < ref.Size:
		return &FileError{Path: ref.Path, Err: ErrMissing, Detail: fmt.Sprintf("file is truncated: has %d bytes, metadata says %d", f.n, ref.Size)}
	case f.n > ref.Size:
		return Corrupt(ref.Path, "has %d bytes, metadata says %d", f.n, ref.Size)
	case ref.SHA256 == "":
		return nil
	}
	if got := f.Sum(); got != ref.SHA256 {
		return Corrupt(ref.Path, "checksum mismatch (SHA-256 recorded %s, computed %s): the file is damaged or was replaced", ref.SHA256, got)
	}
	return nil
}

// verifyWhole verifies the bytes of a whole file, given as consecutive parts, against ref.
func verifyWhole(ref FileRef, parts ...[]byte) error {
	h := NewFileHasher()
	for _, p := range parts {
		_, _ = h.Write(p)
	}
	return h.Verify(ref)
}

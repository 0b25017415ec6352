package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// repairChunk is the size of one read of a local copy's repair.
const repairChunk = 8 << 20

// repair replaces the missing or damaged local copy of file p with the stored file: it reads
// it from storage in full, in ranged reads, into a temporary file beside the local copy,
// verifies its size and SHA-256 against ref, and renames it into place with a fresh
// fingerprint. It returns the local path, or why it could not (the stored file is bad too, the
// local disk is full): then the restore reads p from storage as usual, and finds out. Memory is
// bounded by one chunk.
//
// The bytes would be read from storage anyway (a restore at the same parallelism reads every
// file in full); a restore at another parallelism reads the whole file here where it may need
// a part of it. What it buys: the next restore of a checkpoint that still references the file
// (a crash soon after, or any later checkpoint that reuses a shared file, as lsm's do after a
// resume) finds it locally again, instead of reading it remotely for as long as it is reused.
func (r *LocalReader) repair(ctx context.Context, p string, ref snapshot.FileRef) (string, error) {
	local := r.local.file(p)
	if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
		return "", err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := local + ".repair-" + hex.EncodeToString(rnd[:]) // an unreferenced name: swept if left
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			_ = os.Remove(tmp)
		}
	}()
	sum, crc := snapshot.NewFileHasher(), crc32.New(castagnoli)
	for off := int64(0); off < ref.Size; {
		n := min(repairChunk, ref.Size-off)
		b, err := r.remote.ReadRange(ctx, p, off, n)
		if err != nil {
			return "", err
		}
		if int64(len(b)) != n {
			return "", &snapshot.FileError{Path: p, Err: snapshot.ErrMissing,
				Detail: fmt.Sprintf("file is truncated: read %d bytes at offset %d, metadata says %d bytes in all", len(b), off, ref.Size)}
		}
		_, _ = sum.Write(b)
		_, _ = crc.Write(b)
		if _, err := f.Write(b); err != nil {
			return "", err
		}
		off += n
	}
	if ref.Size == 0 {
		if _, err := r.remote.ReadRange(ctx, p, 0, 0); err != nil { // it exists at all
			return "", err
		}
	}
	if err := sum.Verify(ref); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	// The old fingerprint goes first: a crash before the new one is written leaves a copy
	// without one, verified by its SHA-256.
	if err := os.Remove(local + fingerprintSuffix); err != nil && !os.IsNotExist(err) {
		return "", err
	}
	if err := os.Rename(tmp, local); err != nil {
		return "", err
	}
	ok = true
	_ = os.WriteFile(local+fingerprintSuffix, encodeFingerprint(ref.Size, crc.Sum32()), 0o600)
	return local, nil
}

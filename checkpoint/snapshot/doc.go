// Package snapshot is what a checkpoint or savepoint is in bytes: the _metadata file
// (Metadata, EncodeMetadata, DecodeMetadata) and the state handles it records (keyed:
// KeyedStateHandle with its full or incremental files; operator: OperatorStateHandle), the
// canonical full snapshot format every keyed backend writes and reads (FullWriter, WriteFull,
// KeyGroupReader, ReadKeyGroups), the operator state format (OperatorWriter,
// ReadOperatorSections), file checksums (FileHasher), and the errors that name a bad file
// (ErrCorrupt, ErrMissing, FileError).
//
// It is pure: it does no IO of its own but writes through a StreamFactory and reads through a
// Reader that its caller passes in (the checkpoint lifecycle's Pending and Checkpoints.Reader).
// Every decoder takes untrusted bytes: it bounds every length before allocating, checks names
// and paths against the shapes written, and fails with ErrCorrupt naming the file, never a
// panic; every decoder is fuzzed (fuzz_test.go). The formats are pinned by golden checkpoints
// under ../testdata, written by earlier versions, which must keep decoding.
//
// This package imports only keygroup and compression; never the lifecycle (package
// checkpoint), a storage driver, a backend or the runtime.
//
// # Full snapshot format
//
// A versioned header, then one block per key group, each with a CRC-32C and optional
// Snappy-compatible compression (klauspost/compress/s2). The metadata records every block's
// offset and length, so a restore at another parallelism reads only the key groups it owns.
// See full.go for the byte layout.
//
// # Checksums
//
// Every stored file has its SHA-256 in the metadata (snapshot.FileRef.SHA256, snapshot.IncrementalFile.SHA256),
// computed by the snapshot.OutputStream while the file is written. Whole-file reads verify it (a
// backend restoring all of a handle, an lsm restore downloading its database files, Check);
// reads of some key groups or sections rely on their CRC-32C. snapshot.Metadata format 1, written
// before checksums, is still read. See checksum.go.
//
// # Checksums
//
// Every stored file has its SHA-256 recorded in the metadata (FileRef.SHA256,
// IncrementalFile.SHA256), computed while the file streams out; metadata format 1 (before
// checksums) is still read. See checksum.go.
package snapshot

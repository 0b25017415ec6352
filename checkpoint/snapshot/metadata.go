package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"strings"

	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
)

// MetadataName is the name of the file that makes a checkpoint or savepoint exist.
const MetadataName = "_metadata"

// metadataMagic starts every _metadata file; the format version follows it.
const metadataMagic = "STRMSTMD"

// MetadataVersion is the version of the metadata format written by this code: 2, in which
// every file reference records the file's checksum (FileRef.SHA256, IncrementalFile.SHA256)
// and a reference without one makes the metadata corrupt, so damage to the metadata cannot
// drop a checksum. The metadata itself is covered by a CRC-32C, not a signature: whoever can
// rewrite it can also rewrite it as format 1, without checksums (Check counts such files as
// Unverified). Checksums catch damaged and mixed-up files, not a forger of _metadata.
const MetadataVersion = 2

// MetadataVersionNoChecksums is metadata format 1, written before files had checksums. It is
// still read: its files are verified by size and, in the canonical formats, by the CRC-32C of
// every block or section, but they carry no checksum (and must not).
const MetadataVersionNoChecksums = 1

// MaxMetadataSize bounds a _metadata file, which is untrusted and read whole into memory: a
// larger one is corrupt, and no reader asks the storage for more than one byte beyond it, so
// a crafted (say sparse, terabyte-sized) file cannot exhaust the memory of a restore. Real
// metadata is far smaller: a few hundred bytes per file it references and tens of bytes per
// key group of a keyed handle.
const MaxMetadataSize = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// StateKind is the kind of a keyed state as recorded in snapshots. The state package re-exports
// these as backend.Kind; the numbers are part of the format.
type StateKind uint8

// The keyed state kinds.
const (
	KindValue       StateKind = 1
	KindList        StateKind = 2
	KindMap         StateKind = 3
	KindReducing    StateKind = 4
	KindAggregating StateKind = 5
	// KindTimers is a timer queue: records of (key, namespace, value = timestamp as 8
	// big-endian bytes with the sign bit flipped).
	KindTimers StateKind = 6
)

func (k StateKind) String() string {
	switch k {
	case KindValue:
		return "value"
	case KindList:
		return "list"
	case KindMap:
		return "map"
	case KindReducing:
		return "reducing"
	case KindAggregating:
		return "aggregating"
	case KindTimers:
		return "timers"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k StateKind) valid() bool { return k >= KindValue && k <= KindTimers }

// Compression of key-group blocks.
type Compression string

// The supported block compressions. Snappy is the Snappy-compatible mode of klauspost/compress/s2.
const (
	CompressionNone   Compression = ""
	CompressionSnappy Compression = "snappy"
)

// Metadata describes one complete checkpoint or savepoint. It is written last, as _metadata.
// File paths in it are relative: for a checkpoint to the job's directory (chk-7/..., shared/...),
// for a savepoint to the savepoint's directory, which makes a savepoint relocatable.
type Metadata struct {
	Version      int              `json:"version"`
	JobID        string           `json:"jobId"`
	CheckpointID int64            `json:"checkpointId"`
	Savepoint    bool             `json:"savepoint,omitempty"`
	TimestampMs  int64            `json:"timestampMs"`
	Operators    []*OperatorState `json:"operators"`
	// Claimed is the directory, relative to the storage root and ending in a slash, of a
	// snapshot the job restored in claim mode and had not deleted yet when this checkpoint
	// was written ("other-job/chk-5/", "savepoints/savepoint-1/"): a restarted job deletes it
	// once its checkpoints subsume it. Empty otherwise, and always in a savepoint.
	Claimed string `json:"claimed,omitempty"`
}

// OperatorState is the state of one operator: the handles of all its subtasks.
type OperatorState struct {
	ID             string              `json:"id"`
	Parallelism    int                 `json:"parallelism"`
	MaxParallelism int                 `json:"maxParallelism"`
	Keyed          []*KeyedStateHandle `json:"keyed,omitempty"`

	// Operator holds the operator (non-keyed) state handles, at most one per subtask, in
	// any order; a subtask without operator state has none.
	Operator []*OperatorStateHandle `json:"operator,omitempty"`
}

// Operator returns the state of the operator with the given id, or nil.
func (m *Metadata) Operator(id string) *OperatorState {
	for _, o := range m.Operators {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// Files returns every file the metadata references, with its recorded size and checksum.
func (m *Metadata) Files() []FileRef {
	var fs []FileRef
	for _, o := range m.Operators {
		for _, h := range o.Keyed {
			if h.Incremental != nil {
				fs = append(fs, h.Incremental.files()...)
				continue
			}
			fs = append(fs, h.File)
		}
		for _, h := range o.Operator {
			fs = append(fs, h.File)
		}
	}
	return fs
}

// FileRef names a stored file of a snapshot, its size and its checksum.
type FileRef struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// SHA256 is the checksum of the file's bytes (see Checksum), recorded when it was
	// written. Required in metadata of format 2 (MetadataVersion); absent in format 1.
	SHA256 string `json:"sha256,omitempty"`
}

// StateMeta records a registered keyed state: its name, kind and serializer IDs, and the
// schema of its value serializer when it has one.
type StateMeta struct {
	Name    string    `json:"name"`
	Kind    StateKind `json:"kind"`
	Value   string    `json:"value"`
	UserKey string    `json:"userKey,omitempty"`
	// Schema is the value serializer's schema in its canonical encoding (serde.Schema's
	// String, checked with serde.ParseSchema on decode), recorded for struct codecs so that a
	// registration decides compatibility field by field. Empty when the serializer has none,
	// and in metadata written before schemas were recorded: the state is then checked by its
	// serializer ID alone.
	Schema string `json:"schema,omitempty"`
	// TTL says that every value (list element, map value) of the state is prefixed by its
	// 8-byte TTL stamp (backend.AppendStamp), and in which time: "processing" or "event".
	// Empty for a state without TTL.
	TTL string `json:"ttl,omitempty"`
	// UserKeySchema is a map state's user key serializer's schema, as Schema is the value
	// serializer's: empty when it has none, for other kinds, and in metadata written before
	// user key schemas were recorded (the user key is then checked by its serializer ID alone).
	UserKeySchema string `json:"userKeySchema,omitempty"`
}

// Block locates one key group's block in a full snapshot file.
type Block struct {
	Offset int64 `json:"o"`
	Length int64 `json:"l"`
}

// KeyedStateHandle is one subtask's keyed state in the canonical full format: one file, one
// block per key group of KeyGroupRange (Blocks[kg-KeyGroupRange.Start]).
type KeyedStateHandle struct {
	KeyGroupRange keygroup.Range `json:"keyGroupRange"`
	KeySerializer string         `json:"keySerializer"`
	States        []StateMeta    `json:"states"`
	File          FileRef        `json:"file"`
	Compression   Compression    `json:"compression,omitempty"`
	Blocks        []Block        `json:"blocks"`
	// Incremental, if set, makes this an incremental handle of the lsm backend: File,
	// Compression and Blocks are then unset and the state is in Incremental's files.
	Incremental *IncrementalHandle `json:"incremental,omitempty"`
	// TTLWatermark is the watermark of the subtask's TTL clock at the snapshot's synchronous
	// phase, absent while it had none: a restore starts its clock there, so that event-time
	// TTL judges the restored entries as the snapshot did (backend.Clock.Restore).
	TTLWatermark *int64 `json:"ttlWatermark,omitempty"`
	// Delta marks a delta of a hashmap incremental chain (IncrementalHandle.Chain): its
	// blocks hold, besides records, tombstones (Record.Tombstone) that remove what earlier
	// handles of the chain hold. Only a chain element may be a delta; a restore applies it on
	// top of the elements before it. Optional: false everywhere else.
	Delta bool `json:"delta,omitempty"`
}

// EncodeMetadata returns the bytes of a _metadata file: magic, version, CRC-32C of the body,
// and a JSON body. It always writes MetadataVersion (setting m.Version), so every file m
// references must carry its checksum.
func EncodeMetadata(m *Metadata) ([]byte, error) {
	m.Version = MetadataVersion
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("checkpoint: refusing to write invalid metadata: %w", err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(metadataMagic)+8+len(body))
	out = append(out, metadataMagic...)
	out = binary.BigEndian.AppendUint32(out, MetadataVersion)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
	return append(out, body...), nil
}

// DecodeMetadata parses a _metadata file; name is used in errors. Bad bytes give an error
// wrapping ErrCorrupt that names the file; it never panics. It reads format MetadataVersion,
// in which every file reference must have a well-formed checksum, and format
// MetadataVersionNoChecksums (metadata written before checksums), in which none may.
func DecodeMetadata(name string, b []byte) (*Metadata, error) {
	if len(b) > MaxMetadataSize {
		return nil, Corrupt(name, "larger than %d bytes (MaxMetadataSize), the most a metadata file may hold", MaxMetadataSize)
	}
	hdr := len(metadataMagic) + 8
	if len(b) < hdr || string(b[:len(metadataMagic)]) != metadataMagic {
		return nil, Corrupt(name, "not a streamstate metadata file (bad magic)")
	}
	v := binary.BigEndian.Uint32(b[len(metadataMagic):])
	if v != MetadataVersion && v != MetadataVersionNoChecksums {
		return nil, Corrupt(name, "metadata version %d is not supported (this build reads %d and %d)", v, MetadataVersionNoChecksums, MetadataVersion)
	}
	body := b[hdr:]
	if want, got := binary.BigEndian.Uint32(b[len(metadataMagic)+4:]), crc32.Checksum(body, castagnoli); want != got {
		return nil, Corrupt(name, "checksum mismatch (stored %08x, computed %08x): the file is damaged or truncated", want, got)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m Metadata
	if err := dec.Decode(&m); err != nil {
		return nil, Corrupt(name, "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Corrupt(name, "unexpected data after the JSON body")
	}
	if m.Version != int(v) {
		return nil, Corrupt(name, "the body says version %d, the header %d", m.Version, v)
	}
	if err := m.validate(); err != nil {
		return nil, Corrupt(name, "%v", err)
	}
	return &m, nil
}

func (m *Metadata) validate() error {
	if m.Version != MetadataVersion && m.Version != MetadataVersionNoChecksums {
		return fmt.Errorf("version %d, want %d", m.Version, MetadataVersion)
	}
	if m.CheckpointID < 0 {
		return fmt.Errorf("negative checkpoint id %d", m.CheckpointID)
	}
	seen := map[string]bool{}
	for _, o := range m.Operators {
		if o == nil {
			return fmt.Errorf("null operator")
		}
		if seen[o.ID] {
			return fmt.Errorf("operator %q listed twice", o.ID)
		}
		seen[o.ID] = true
		if err := keygroup.Validate(o.MaxParallelism, o.Parallelism); err != nil {
			return fmt.Errorf("operator %q: %v", o.ID, err)
		}
		for i, h := range o.Keyed {
			if h == nil {
				return fmt.Errorf("operator %q: null keyed handle", o.ID)
			}
			if h.Delta {
				return fmt.Errorf("operator %q keyed handle %d: a delta outside an incremental chain", o.ID, i)
			}
			if err := h.validate(o.MaxParallelism); err != nil {
				return fmt.Errorf("operator %q keyed handle %d: %v", o.ID, i, err)
			}
		}
		if err := validateOperatorHandles(o); err != nil {
			return fmt.Errorf("operator %q: %v", o.ID, err)
		}
	}
	if err := m.validateAdopted(); err != nil {
		return err
	}
	return m.validateChecksums()
}

// validateChecksums checks that every file reference has a well-formed checksum (format 2) or
// none (format 1), and that a file referenced twice is recorded alike.
func (m *Metadata) validateChecksums() error {
	want := m.Version >= MetadataVersion
	seen := map[string]FileRef{}
	for _, f := range m.Files() {
		switch {
		case want && f.SHA256 == "":
			return fmt.Errorf("file %s has no checksum; metadata format %d records one for every file", f.Path, m.Version)
		case want && !validChecksum(f.SHA256):
			return fmt.Errorf("file %s has checksum %q, not a SHA-256 in lower-case hex", f.Path, f.SHA256)
		case !want && f.SHA256 != "":
			return fmt.Errorf("file %s has a checksum, which metadata format %d does not record", f.Path, m.Version)
		}
		if g, ok := seen[f.Path]; ok && g != f {
			return fmt.Errorf("file %s is referenced twice with different sizes or checksums", f.Path)
		}
		seen[f.Path] = f
	}
	return nil
}

func (h *KeyedStateHandle) validate(maxP int) error {
	r := h.KeyGroupRange
	if r.Start < 0 || r.End >= maxP || r.Len() == 0 {
		return fmt.Errorf("key-group range %v is not inside [0, %d)", r, maxP)
	}
	if h.Incremental != nil {
		if h.File != (FileRef{}) || h.Compression != CompressionNone || len(h.Blocks) != 0 {
			return fmt.Errorf("incremental handle with a full snapshot's file or blocks")
		}
		if err := h.Incremental.validate(); err != nil {
			return err
		}
		if err := h.Incremental.validateChain(r, maxP); err != nil {
			return err
		}
		if x := h.Incremental.Extra; x != nil {
			if x.Incremental != nil {
				return fmt.Errorf("incremental handle whose extra records are incremental too")
			}
			if x.KeyGroupRange != r {
				return fmt.Errorf("extra records of key groups %v in an incremental handle of key groups %v", x.KeyGroupRange, r)
			}
			if strings.HasPrefix(x.File.Path, SharedDir) {
				return fmt.Errorf("extra records in shared file %q; they belong to one checkpoint", x.File.Path)
			}
			if err := x.validate(maxP); err != nil {
				return fmt.Errorf("extra records: %v", err)
			}
		}
		return validateStates(h.States)
	}
	if err := validPath(h.File.Path); err != nil {
		return err
	}
	if h.Compression != CompressionNone && h.Compression != CompressionSnappy {
		return fmt.Errorf("unknown compression %q", h.Compression)
	}
	if len(h.Blocks) != r.Len() {
		return fmt.Errorf("%d blocks for %d key groups", len(h.Blocks), r.Len())
	}
	end := fullHeaderLen
	for i, b := range h.Blocks {
		if b.Offset < fullHeaderLen || b.Length < blockOverhead || b.Offset > h.File.Size || b.Length > h.File.Size-b.Offset {
			return fmt.Errorf("block %d at %d+%d lies outside file %s of %d bytes", i, b.Offset, b.Length, h.File.Path, h.File.Size)
		}
		// The format has the blocks in key-group order; overlapping blocks would restore the
		// same records twice.
		if b.Offset < end {
			return fmt.Errorf("block %d at %d+%d overlaps or precedes the block before it", i, b.Offset, b.Length)
		}
		end = b.Offset + b.Length
	}
	return validateStates(h.States)
}

func validateStates(states []StateMeta) error {
	names := map[string]bool{}
	for _, s := range states {
		if s.Name == "" || names[s.Name] {
			return fmt.Errorf("state name %q empty or repeated", s.Name)
		}
		names[s.Name] = true
		if !s.Kind.valid() {
			return fmt.Errorf("state %q has unknown kind %d", s.Name, s.Kind)
		}
		if _, err := serde.ParseSchema(s.Schema); err != nil {
			return fmt.Errorf("state %q: %w", s.Name, err)
		}
		if _, err := serde.ParseSchema(s.UserKeySchema); err != nil {
			return fmt.Errorf("state %q: user key: %w", s.Name, err)
		}
		if s.TTL != "" && s.TTL != "processing" && s.TTL != "event" {
			return fmt.Errorf("state %q has unknown TTL time %q", s.Name, s.TTL)
		}
		if s.TTL != "" && s.Kind == KindTimers {
			return fmt.Errorf("timer state %q has a TTL", s.Name)
		}
	}
	return nil
}

// validPath accepts relative, clean, slash-separated paths that stay inside their root.
func validPath(p string) error {
	if p == "" || p == "." || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "\\") {
		return fmt.Errorf("file path %q is not a clean relative path", p)
	}
	return nil
}

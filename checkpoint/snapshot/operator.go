package snapshot

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/streamstate/streamstate/serde"
)

// The operator state format: one file per operator subtask, holding that subtask's non-keyed
// states (Flink's operator state), one section per state:
//
//	file    = header section*
//	header  = "STRMSTOP" version:uint32be                 (12 bytes)
//	section = bytes(state name) uvarint(n) item*n crc32c:uint32be
//	          (CRC-32C of everything before it in the section)
//	item    = bytes(element)                               split and union list states
//	        | bytes(user key) bytes(value)                 broadcast states
//	bytes(x) = uvarint(len(x)) x
//
// The sections follow the order of the handle's States. The metadata records each section's
// offset, length and item count, so a restore at another parallelism decides which elements
// every new subtask gets from the metadata alone and reads only the sections it needs.
// Elements and values are encoded by the serializers the handle names.

const (
	operatorMagic     = "STRMSTOP"
	operatorVersion   = 1
	operatorHeaderLen = int64(len(operatorMagic) + 4)
	// minSectionLen: a name of at least one byte, its length, the count and the checksum.
	minSectionLen = 1 + 1 + 1 + 4
)

// OperatorStateMode is how an operator state is redistributed when a job is restored,
// possibly at another parallelism (Flink's OperatorStateHandle.Mode).
type OperatorStateMode string

// The distribution modes.
const (
	// ModeSplit is split-distribute list state: the lists of all old subtasks are
	// concatenated in subtask order and dealt out in even, contiguous chunks (Flink's
	// RoundRobinOperatorStateRepartitioner). At unchanged parallelism each subtask gets its
	// own list back.
	ModeSplit OperatorStateMode = "split"
	// ModeUnion is union list state: every subtask gets the concatenation of all lists.
	ModeUnion OperatorStateMode = "union"
	// ModeBroadcast is broadcast map state: identical on every subtask; every new subtask
	// gets the map of the lowest old subtask that has it.
	ModeBroadcast OperatorStateMode = "broadcast"
)

func (m OperatorStateMode) valid() bool {
	return m == ModeSplit || m == ModeUnion || m == ModeBroadcast
}

// OperatorStateMeta describes one state of an operator state handle and locates its section.
type OperatorStateMeta struct {
	Name string            `json:"name"`
	Mode OperatorStateMode `json:"mode"`
	// Value is the serializer ID of the list elements, or of the broadcast map's values.
	Value string `json:"value"`
	// UserKey is the serializer ID of the broadcast map's keys; empty for list states.
	UserKey string `json:"userKey,omitempty"`
	// Schema is the value serializer's schema, as in StateMeta.Schema: empty when it has
	// none or the handle was written before schemas were recorded.
	Schema string `json:"schema,omitempty"`
	// UserKeySchema is the broadcast map's key serializer's schema, as in
	// StateMeta.UserKeySchema: empty when it has none, for list states, and in handles
	// written before user key schemas were recorded.
	UserKeySchema string `json:"userKeySchema,omitempty"`
	// Offset and Length locate the state's section in the file.
	Offset int64 `json:"o"`
	Length int64 `json:"l"`
	// Count is the number of elements (list states) or entries (broadcast states).
	Count int64 `json:"n"`
}

// OperatorStateHandle is the operator (non-keyed) state of one subtask: one file in the
// operator state format.
type OperatorStateHandle struct {
	// Subtask is the index of the subtask that wrote the handle, in [0, Parallelism).
	Subtask int `json:"subtask"`
	// Parallelism is the operator's parallelism when the handle was written.
	Parallelism int                 `json:"parallelism"`
	File        FileRef             `json:"file"`
	States      []OperatorStateMeta `json:"states"`
}

// State returns the meta of the named state and its index, or ok=false.
func (h *OperatorStateHandle) State(name string) (meta OperatorStateMeta, index int, ok bool) {
	for i, s := range h.States {
		if s.Name == name {
			return s, i, true
		}
	}
	return OperatorStateMeta{}, -1, false
}

// Validate checks the handle on its own (ReadOperatorSections and metadata validation do it
// too): a valid subtask, file path and states, and sections in order inside the file. A bad
// handle gives an error wrapping ErrCorrupt that names its file.
func (h *OperatorStateHandle) Validate() error {
	if err := h.validate(); err != nil {
		return Corrupt(h.File.Path, "operator state handle: %v", err)
	}
	return nil
}

func (h *OperatorStateHandle) validate() error {
	if h.Parallelism < 1 || h.Subtask < 0 || h.Subtask >= h.Parallelism {
		return fmt.Errorf("subtask %d of parallelism %d", h.Subtask, h.Parallelism)
	}
	if err := validPath(h.File.Path); err != nil {
		return err
	}
	if h.File.Size < operatorHeaderLen {
		return fmt.Errorf("file %s of %d bytes is shorter than its header", h.File.Path, h.File.Size)
	}
	names := map[string]bool{}
	end := operatorHeaderLen
	for i, s := range h.States {
		if s.Name == "" || names[s.Name] {
			return fmt.Errorf("operator state name %q empty or repeated", s.Name)
		}
		names[s.Name] = true
		if !s.Mode.valid() {
			return fmt.Errorf("operator state %q has unknown mode %q", s.Name, s.Mode)
		}
		if s.Value == "" || (s.Mode == ModeBroadcast) != (s.UserKey != "") {
			return fmt.Errorf("operator state %q (%s) has value serializer %q and key serializer %q: %s states need both, list states only a value serializer",
				s.Name, s.Mode, s.Value, s.UserKey, ModeBroadcast)
		}
		if _, err := serde.ParseSchema(s.Schema); err != nil {
			return fmt.Errorf("operator state %q: %w", s.Name, err)
		}
		if _, err := serde.ParseSchema(s.UserKeySchema); err != nil {
			return fmt.Errorf("operator state %q: user key: %w", s.Name, err)
		}
		if s.Offset < end || s.Length < minSectionLen || s.Offset > h.File.Size || s.Length > h.File.Size-s.Offset {
			return fmt.Errorf("section %d (%q) at %d+%d overlaps the one before it or lies outside file %s of %d bytes",
				i, s.Name, s.Offset, s.Length, h.File.Path, h.File.Size)
		}
		end = s.Offset + s.Length
		if s.Count < 0 || s.Count > s.Length {
			return fmt.Errorf("operator state %q claims %d items in %d bytes", s.Name, s.Count, s.Length)
		}
	}
	return nil
}

// OperatorWriter writes one subtask's operator state file. Call BeginState for every state,
// in the order they should appear, with the number of items that follow, then add them with
// Element (list states) or Entry (broadcast states), then Finish. Items stream to the output
// (buffered), so a large state is never held twice. Errors of the underlying stream are
// reported by BeginState and Finish.
type OperatorWriter struct {
	out    OutputStream
	bw     *bufio.Writer
	handle OperatorStateHandle
	open   bool
	want   int64  // the items the open section declared
	crc    uint32 // of the open section so far
	off    int64
	err    error
}

// NewOperatorWriter writes the header to out and returns a writer for the operator state of
// subtask of parallelism.
func NewOperatorWriter(out OutputStream, subtask, parallelism int) *OperatorWriter {
	w := &OperatorWriter{out: out, bw: bufio.NewWriterSize(out, 64<<10), handle: OperatorStateHandle{Subtask: subtask, Parallelism: parallelism}}
	w.write(binary.BigEndian.AppendUint32([]byte(operatorMagic), operatorVersion))
	return w
}

func (w *OperatorWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	n, err := w.bw.Write(p)
	w.off += int64(n)
	w.err = err
	if w.open {
		w.crc = crc32.Update(w.crc, castagnoli, p)
	}
}

// writeBytes writes bytes(b): its uvarint length, then b.
func (w *OperatorWriter) writeBytes(b []byte) {
	var n [binary.MaxVarintLen64]byte
	w.write(binary.AppendUvarint(n[:0], uint64(len(b))))
	w.write(b)
}

// BeginState ends the current state's section and starts one for meta (whose Offset, Length
// and Count are filled in by the writer) with items items.
func (w *OperatorWriter) BeginState(meta OperatorStateMeta, items int) error {
	if err := w.endState(); err != nil {
		return err
	}
	if meta.Name == "" || !meta.Mode.valid() {
		return fmt.Errorf("checkpoint: operator state %q with mode %q", meta.Name, meta.Mode)
	}
	if _, _, dup := w.handle.State(meta.Name); dup {
		return fmt.Errorf("checkpoint: operator state %q written twice", meta.Name)
	}
	if items < 0 {
		return fmt.Errorf("checkpoint: operator state %q with %d items", meta.Name, items)
	}
	meta.Offset, meta.Length, meta.Count = w.off, 0, 0
	w.handle.States = append(w.handle.States, meta)
	w.open, w.want, w.crc = true, int64(items), 0
	w.writeBytes([]byte(meta.Name))
	var n [binary.MaxVarintLen64]byte
	w.write(binary.AppendUvarint(n[:0], uint64(items)))
	return w.err
}

func (w *OperatorWriter) cur() *OperatorStateMeta { return &w.handle.States[len(w.handle.States)-1] }

// Element adds an element to the current list state.
func (w *OperatorWriter) Element(v []byte) {
	w.cur().Count++
	w.writeBytes(v)
}

// Entry adds an entry to the current broadcast state.
func (w *OperatorWriter) Entry(k, v []byte) {
	w.cur().Count++
	w.writeBytes(k)
	w.writeBytes(v)
}

// endState seals the open section with its checksum, after checking that it holds the items
// it declared.
func (w *OperatorWriter) endState() error {
	if !w.open {
		return w.err
	}
	m := w.cur()
	if m.Count != w.want && w.err == nil {
		w.err = fmt.Errorf("checkpoint: operator state %q: %d items written, %d declared", m.Name, m.Count, w.want)
	}
	w.open = false
	w.write(binary.BigEndian.AppendUint32(nil, w.crc))
	m.Length = w.off - m.Offset
	return w.err
}

// Abort discards the file.
func (w *OperatorWriter) Abort() { w.out.Abort() }

// Finish seals the last section, commits the file and returns the handle. On error the file
// is discarded.
func (w *OperatorWriter) Finish() (*OperatorStateHandle, error) {
	if err := w.endState(); err != nil {
		w.out.Abort()
		return nil, err
	}
	if err := w.bw.Flush(); err != nil {
		w.out.Abort()
		return nil, err
	}
	ref, err := w.out.Close()
	if err != nil {
		return nil, err
	}
	h := w.handle
	h.File = ref
	return &h, nil
}

// OperatorSection is the decoded section of one operator state. For list states Values holds
// the elements and Keys is nil; for broadcast states Keys[i] and Values[i] form an entry. The
// slices share one buffer owned by the caller.
type OperatorSection struct {
	Keys   [][]byte
	Values [][]byte
}

// Size returns the number of bytes of the section's items.
func (s *OperatorSection) Size() int64 {
	var n int64
	for _, k := range s.Keys {
		n += int64(len(k))
	}
	for _, v := range s.Values {
		n += int64(len(v))
	}
	return n
}

// ReadOperatorSections reads the sections of the states of h for which want returns true
// (every state if want is nil), in one range read of the file, and returns them aligned with
// h.States (nil for states not wanted). Bad bytes give an error wrapping ErrCorrupt, a missing
// or short file one wrapping ErrMissing, both naming the file; it never panics. When every
// section is wanted the read covers the whole file and the file's checksum is verified too;
// a read of some sections (a restore at another parallelism) relies on their CRC-32C.
func ReadOperatorSections(ctx context.Context, r Reader, h *OperatorStateHandle, want func(OperatorStateMeta) bool) ([]*OperatorSection, error) {
	p := h.File.Path
	if err := h.Validate(); err != nil {
		return nil, err
	}
	out := make([]*OperatorSection, len(h.States))
	lo, hi := int64(-1), int64(-1)
	for _, s := range h.States {
		if want != nil && !want(s) {
			continue
		}
		if lo < 0 {
			lo = s.Offset
		}
		hi = s.Offset + s.Length // validate: in order, inside the file, no overflow
	}
	hdr, err := r.ReadRange(ctx, p, 0, operatorHeaderLen)
	if err != nil {
		return nil, err
	}
	if int64(len(hdr)) < operatorHeaderLen {
		return nil, &FileError{Path: p, Err: ErrMissing, Detail: fmt.Sprintf("file has %d bytes, metadata says %d", len(hdr), h.File.Size)}
	}
	if string(hdr[:len(operatorMagic)]) != operatorMagic {
		return nil, Corrupt(p, "not a streamstate operator state file (bad magic)")
	}
	if v := binary.BigEndian.Uint32(hdr[len(operatorMagic):]); v != operatorVersion {
		return nil, Corrupt(p, "operator state version %d is not supported (this build reads %d)", v, operatorVersion)
	}
	if lo < 0 {
		if len(h.States) == 0 && h.File.Size == operatorHeaderLen {
			return out, verifyWhole(h.File, hdr)
		}
		return out, nil
	}
	span, err := r.ReadRange(ctx, p, lo, hi-lo)
	if err != nil {
		return nil, err
	}
	if int64(len(span)) != hi-lo {
		return nil, &FileError{Path: p, Err: ErrMissing, Detail: fmt.Sprintf("file is truncated: metadata says %d bytes", h.File.Size)}
	}
	if lo == operatorHeaderLen && hi == h.File.Size {
		// The header and the span are the whole file.
		if err := verifyWhole(h.File, hdr, span); err != nil {
			// Say which section is damaged, if its CRC tells.
			for _, s := range h.States {
				if serr := checkSection(span[s.Offset-lo : s.Offset-lo+s.Length]); serr != nil {
					return nil, Corrupt(p, "operator state %q: %v", s.Name, serr)
				}
			}
			return nil, err
		}
	}
	// One buffer for all items, so callers may keep them without pinning the span.
	buf := make([]byte, 0, len(span))
	for i, s := range h.States {
		if want != nil && !want(s) {
			continue
		}
		sec, err := decodeSection(span[s.Offset-lo:s.Offset-lo+s.Length], s, &buf)
		if err != nil {
			return nil, Corrupt(p, "operator state %q: %v", s.Name, err)
		}
		out[i] = sec
	}
	return out, nil
}

// checkSection verifies the length and the CRC-32C of section b.
func checkSection(b []byte) error {
	if len(b) < minSectionLen {
		return fmt.Errorf("section of %d bytes is too short", len(b))
	}
	if want, got := binary.BigEndian.Uint32(b[len(b)-4:]), crc32.Checksum(b[:len(b)-4], castagnoli); want != got {
		return fmt.Errorf("checksum mismatch in its section (stored %08x, computed %08x)", want, got)
	}
	return nil
}

func decodeSection(b []byte, m OperatorStateMeta, buf *[]byte) (*OperatorSection, error) {
	if err := checkSection(b); err != nil {
		return nil, err
	}
	name, body, err := readBytes(b[:len(b)-4])
	if err != nil {
		return nil, err
	}
	if string(name) != m.Name {
		return nil, fmt.Errorf("section holds state %q", name)
	}
	n, body, err := readUvarint(body)
	if err != nil {
		return nil, err
	}
	if n != uint64(m.Count) {
		return nil, fmt.Errorf("section holds %d items, metadata says %d", n, m.Count)
	}
	if n > uint64(len(body)) || n > math.MaxInt32 { // every item takes at least one byte
		return nil, fmt.Errorf("%d items in %d bytes", n, len(body))
	}
	sec := &OperatorSection{Values: make([][]byte, 0, n)}
	if m.Mode == ModeBroadcast {
		sec.Keys = make([][]byte, 0, n)
	}
	keep := func(x []byte) []byte {
		start := len(*buf)
		*buf = append(*buf, x...)
		return (*buf)[start:len(*buf):len(*buf)]
	}
	for range n {
		if m.Mode == ModeBroadcast {
			var k []byte
			if k, body, err = readBytes(body); err != nil {
				return nil, err
			}
			sec.Keys = append(sec.Keys, keep(k))
		}
		var v []byte
		if v, body, err = readBytes(body); err != nil {
			return nil, err
		}
		sec.Values = append(sec.Values, keep(v))
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%d bytes after the last item", len(body))
	}
	return sec, nil
}

// validateOperatorHandles checks the operator state handles of o: each valid, written at o's
// parallelism, at most one per subtask, and no file shared by two handles.
func validateOperatorHandles(o *OperatorState) error {
	subtasks := map[int]bool{}
	files := map[string]bool{}
	for i, h := range o.Operator {
		if h == nil {
			return fmt.Errorf("null operator state handle")
		}
		if err := h.validate(); err != nil {
			return fmt.Errorf("operator state handle %d: %v", i, err)
		}
		if h.Parallelism != o.Parallelism {
			return fmt.Errorf("operator state handle %d was written at parallelism %d, the operator's is %d", i, h.Parallelism, o.Parallelism)
		}
		if subtasks[h.Subtask] || files[h.File.Path] {
			return fmt.Errorf("operator state handle %d repeats subtask %d or file %s", i, h.Subtask, h.File.Path)
		}
		subtasks[h.Subtask], files[h.File.Path] = true, true
	}
	return nil
}

package snapshot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// opFiles is an in-memory StreamFactory output and Reader for operator state files.
type opFiles map[string][]byte

type opOutput struct {
	files opFiles
	path  string
	buf   bytes.Buffer
	fail  error
}

func (o *opOutput) Write(p []byte) (int, error) {
	if o.fail != nil {
		return 0, o.fail
	}
	return o.buf.Write(p)
}

func (o *opOutput) Close() (snapshot.FileRef, error) {
	o.files[o.path] = o.buf.Bytes()
	return snapshot.FileRef{Path: o.path, Size: int64(o.buf.Len()), SHA256: snapshot.Checksum(o.buf.Bytes())}, nil
}

func (o *opOutput) Abort() {}

func (f opFiles) ReadRange(_ context.Context, path string, off, n int64) ([]byte, error) {
	b, ok := f[path]
	if !ok {
		return nil, &snapshot.FileError{Path: path, Err: snapshot.ErrMissing}
	}
	if off > int64(len(b)) {
		return nil, nil
	}
	b = b[off:]
	if n >= 0 && n < int64(len(b)) {
		b = b[:n]
	}
	return b, nil
}

// opState is the content of one state for these tests.
type opState struct {
	Meta   snapshot.OperatorStateMeta
	Keys   []string
	Values []string
}

func writeOperator(t testing.TB, files opFiles, path string, subtask, parallelism int, states []opState) *snapshot.OperatorStateHandle {
	t.Helper()
	w := snapshot.NewOperatorWriter(&opOutput{files: files, path: path}, subtask, parallelism)
	for _, s := range states {
		if err := w.BeginState(s.Meta, len(s.Values)); err != nil {
			t.Fatal(err)
		}
		for i, v := range s.Values {
			if s.Meta.Mode == snapshot.ModeBroadcast {
				w.Entry([]byte(s.Keys[i]), []byte(v))
			} else {
				w.Element([]byte(v))
			}
		}
	}
	h, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readOperator(h *snapshot.OperatorStateHandle, r snapshot.Reader, want func(snapshot.OperatorStateMeta) bool) ([]opState, error) {
	secs, err := snapshot.ReadOperatorSections(context.Background(), r, h, want)
	if err != nil {
		return nil, err
	}
	var out []opState
	for i, sec := range secs {
		if sec == nil {
			continue
		}
		s := opState{Meta: h.States[i]}
		s.Meta.Offset, s.Meta.Length, s.Meta.Count = 0, 0, 0
		for _, k := range sec.Keys {
			s.Keys = append(s.Keys, string(k))
		}
		for _, v := range sec.Values {
			s.Values = append(s.Values, string(v))
		}
		out = append(out, s)
	}
	return out, nil
}

func sampleOperatorStates() []opState {
	return []opState{
		{Meta: snapshot.OperatorStateMeta{Name: "offsets", Mode: snapshot.ModeSplit, Value: "int64"},
			Values: []string{"p0", "", "p2\x00"}},
		{Meta: snapshot.OperatorStateMeta{Name: "empty", Mode: snapshot.ModeUnion, Value: "string"}},
		{Meta: snapshot.OperatorStateMeta{Name: "rules", Mode: snapshot.ModeBroadcast, Value: "json:main.Rule", UserKey: "string"},
			Keys: []string{"a", "b"}, Values: []string{`{"x":1}`, strings.Repeat("y", 300)}},
	}
}

func TestOperatorRoundTrip(t *testing.T) {
	files := opFiles{}
	states := sampleOperatorStates()
	h := writeOperator(t, files, "chk-1/op-operator-2", 2, 3, states)
	if h.Subtask != 2 || h.Parallelism != 3 || h.File.Size != int64(len(files["chk-1/op-operator-2"])) || len(h.States) != 3 {
		t.Fatalf("handle %+v", h)
	}
	for i, s := range h.States {
		if s.Count != int64(len(states[i].Values)) {
			t.Errorf("state %q: count %d, want %d", s.Name, s.Count, len(states[i].Values))
		}
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := readOperator(h, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, states) {
		t.Fatalf("read\n%+v\nwant\n%+v", got, states)
	}
	// Reading one state reads only its section.
	got, err = readOperator(h, files, func(m snapshot.OperatorStateMeta) bool { return m.Name == "rules" })
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], states[2]) {
		t.Fatalf("read rules: %+v, %v", got, err)
	}
	got, err = readOperator(h, files, func(snapshot.OperatorStateMeta) bool { return false })
	if err != nil || len(got) != 0 {
		t.Fatalf("read nothing: %+v, %v", got, err)
	}
}

// TestOperatorGolden pins the byte layout: it is part of the checkpoint format.
func TestOperatorGolden(t *testing.T) {
	files := opFiles{}
	h := writeOperator(t, files, "f", 0, 1, []opState{
		{Meta: snapshot.OperatorStateMeta{Name: "l", Mode: snapshot.ModeSplit, Value: "string"}, Values: []string{"ab", "c"}},
		{Meta: snapshot.OperatorStateMeta{Name: "m", Mode: snapshot.ModeBroadcast, Value: "string", UserKey: "string"}, Keys: []string{"k"}, Values: []string{"v"}},
	})
	sec1 := []byte("\x01l\x02\x02ab\x01c")
	sec2 := []byte("\x01m\x01\x01k\x01v")
	want := []byte("STRMSTOP\x00\x00\x00\x01")
	for _, s := range [][]byte{sec1, sec2} {
		want = append(want, s...)
		want = binary.BigEndian.AppendUint32(want, crc32.Checksum(s, crc32.MakeTable(crc32.Castagnoli)))
	}
	if !bytes.Equal(files["f"], want) {
		t.Fatalf("file\n%q\nwant\n%q", files["f"], want)
	}
	if h.States[0].Offset != 12 || h.States[0].Length != int64(len(sec1)+4) || h.States[1].Offset != int64(12+len(sec1)+4) || h.States[1].Count != 1 {
		t.Fatalf("metas %+v", h.States)
	}
}

func TestOperatorWriterErrors(t *testing.T) {
	w := snapshot.NewOperatorWriter(&opOutput{files: opFiles{}, path: "f"}, 0, 1)
	if err := w.BeginState(snapshot.OperatorStateMeta{Name: "a", Mode: "scatter", Value: "x"}, 0); err == nil {
		t.Error("unknown mode accepted")
	}
	if err := w.BeginState(snapshot.OperatorStateMeta{Name: "a", Mode: snapshot.ModeSplit, Value: "x"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.BeginState(snapshot.OperatorStateMeta{Name: "a", Mode: snapshot.ModeSplit, Value: "x"}, 0); err == nil {
		t.Error("state written twice accepted")
	}
	w = snapshot.NewOperatorWriter(&opOutput{files: opFiles{}, path: "f"}, 0, 1)
	if err := w.BeginState(snapshot.OperatorStateMeta{Name: "a", Mode: snapshot.ModeSplit, Value: "x"}, 2); err != nil {
		t.Fatal(err)
	}
	w.Element([]byte("only one"))
	if _, err := w.Finish(); err == nil || !strings.Contains(err.Error(), "1 items written, 2 declared") {
		t.Errorf("Finish with fewer items than declared: %v", err)
	}
	boom := errors.New("disk full")
	w = snapshot.NewOperatorWriter(&opOutput{files: opFiles{}, path: "f", fail: boom}, 0, 1)
	if _, err := w.Finish(); !errors.Is(err, boom) {
		t.Errorf("Finish after a failed write: %v", err)
	}
}

func checkOpErr(t *testing.T, what string, err error, path string, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: error %v does not wrap %v", what, err, sentinel)
		return
	}
	var fe *snapshot.FileError
	if !errors.As(err, &fe) || fe.Path != path || !strings.Contains(err.Error(), path) {
		t.Errorf("%s: error %v does not name file %s", what, err, path)
	}
}

func TestOperatorCorruption(t *testing.T) {
	const path = "chk-3/op-operator-0"
	files := opFiles{}
	h := writeOperator(t, files, path, 0, 1, sampleOperatorStates())
	good := files[path]
	read := func(file []byte, h *snapshot.OperatorStateHandle) error {
		_, err := readOperator(h, opFiles{path: file}, nil)
		return err
	}
	clone := func(f func(h *snapshot.OperatorStateHandle)) *snapshot.OperatorStateHandle {
		c := *h
		c.States = append([]snapshot.OperatorStateMeta(nil), h.States...)
		f(&c)
		return &c
	}
	// Every single flipped byte is detected: header, names, counts, items, checksums.
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x41
		checkOpErr(t, fmt.Sprintf("byte %d flipped", i), read(bad, h), path, snapshot.ErrCorrupt)
	}
	checkOpErr(t, "truncated", read(good[:len(good)-1], h), path, snapshot.ErrMissing)
	checkOpErr(t, "only a header", read(good[:5], h), path, snapshot.ErrMissing)
	checkOpErr(t, "missing", read(nil, h), path, snapshot.ErrMissing)
	if _, err := readOperator(h, opFiles{}, nil); !errors.Is(err, snapshot.ErrMissing) {
		t.Errorf("absent file: %v", err)
	}
	for name, bad := range map[string]*snapshot.OperatorStateHandle{
		"count":        clone(func(h *snapshot.OperatorStateHandle) { h.States[0].Count = 2 }),
		"negative":     clone(func(h *snapshot.OperatorStateHandle) { h.States[0].Count = -1 }),
		"offset":       clone(func(h *snapshot.OperatorStateHandle) { h.States[1].Offset-- }),
		"overlap":      clone(func(h *snapshot.OperatorStateHandle) { h.States[1].Offset = h.States[0].Offset }),
		"past the end": clone(func(h *snapshot.OperatorStateHandle) { h.States[2].Length += 10 }),
		"swapped names": clone(func(h *snapshot.OperatorStateHandle) {
			h.States[0].Name, h.States[1].Name = h.States[1].Name, h.States[0].Name
		}),
		"mode":          clone(func(h *snapshot.OperatorStateHandle) { h.States[0].Mode = snapshot.ModeBroadcast }),
		"no serializer": clone(func(h *snapshot.OperatorStateHandle) { h.States[1].Value = "" }),
		"subtask":       clone(func(h *snapshot.OperatorStateHandle) { h.Subtask = 1 }),
		"unknown mode":  clone(func(h *snapshot.OperatorStateHandle) { h.States[0].Mode = "gather" }),
		"repeated name": clone(func(h *snapshot.OperatorStateHandle) { h.States[2].Name = h.States[0].Name }),
		"bad schema":    clone(func(h *snapshot.OperatorStateHandle) { h.States[0].Schema = "struct{" }),
	} {
		checkOpErr(t, name, read(good, bad), path, snapshot.ErrCorrupt)
	}
}

func operatorMetadata(t testing.TB) *snapshot.Metadata {
	files := opFiles{}
	var hs []*snapshot.OperatorStateHandle
	for i := range 2 {
		hs = append(hs, writeOperator(t, files, fmt.Sprintf("chk-5/src-operator-%d", i), 1-i, 2, sampleOperatorStates()))
	}
	return &snapshot.Metadata{JobID: "j", CheckpointID: 5, Operators: []*snapshot.OperatorState{
		{ID: "src", Parallelism: 2, MaxParallelism: 128, Operator: hs},
		{ID: "sink", Parallelism: 1, MaxParallelism: 128},
	}}
}

func TestOperatorMetadata(t *testing.T) {
	m := operatorMetadata(t)
	b, err := snapshot.EncodeMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"operator":[`)) || bytes.Count(b, []byte(`"operator":`)) != 1 {
		t.Errorf("metadata JSON %s: want one \"operator\" list, none for an operator without operator state", b)
	}
	got, err := snapshot.DecodeMetadata("_metadata", b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Operator("src").Operator, m.Operator("src").Operator) {
		t.Fatalf("operator handles changed in a round trip:\n%+v\n%+v", got.Operator("src").Operator, m.Operator("src").Operator)
	}
	files := got.Files()
	if len(files) != 2 || files[0] != m.Operators[0].Operator[0].File || files[1] != m.Operators[0].Operator[1].File {
		t.Errorf("Files() = %v", files)
	}

	for name, mutate := range map[string]func(o *snapshot.OperatorState){
		"null handle":      func(o *snapshot.OperatorState) { o.Operator[1] = nil },
		"parallelism":      func(o *snapshot.OperatorState) { o.Operator[0].Parallelism = 3 },
		"repeated subtask": func(o *snapshot.OperatorState) { o.Operator[1].Subtask = o.Operator[0].Subtask },
		"repeated file":    func(o *snapshot.OperatorState) { o.Operator[1].File = o.Operator[0].File },
		"subtask out of range": func(o *snapshot.OperatorState) {
			o.Operator[0].Subtask, o.Operator[0].Parallelism, o.Operator[1].Parallelism = 2, 2, 2
		},
		"bad path":             func(o *snapshot.OperatorState) { o.Operator[0].File.Path = "/abs" },
		"section outside file": func(o *snapshot.OperatorState) { o.Operator[0].File.Size = 20 },
	} {
		m := operatorMetadata(t)
		mutate(m.Operators[0])
		if _, err := snapshot.EncodeMetadata(m); err == nil {
			t.Errorf("%s: invalid metadata encoded", name)
		}
		m.Version = snapshot.MetadataVersion
		body, _ := json.Marshal(m)
		if _, err := snapshot.DecodeMetadata("chk-5/_metadata", wrapOpMetadata(body)); !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "chk-5/_metadata") {
			t.Errorf("%s: decode gave %v, want ErrCorrupt naming the file", name, err)
		}
	}
}

func wrapOpMetadata(body []byte) []byte {
	b := append([]byte("STRMSTMD"), binary.BigEndian.AppendUint32(nil, snapshot.MetadataVersion)...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return append(b, body...)
}

// FuzzReadOperatorSections: over an arbitrary file and an arbitrary handle, reading never
// panics and fails only with ErrCorrupt or ErrMissing naming the file; what it accepts
// writes again to the same bytes and handle. metas is a JSON list of state metas; with fixCRC
// the sections' checksums are recomputed and the file's checksum recorded, so the fuzzer
// reaches the section decoder; without, the handle has no file checksum (metadata format 1).
func FuzzReadOperatorSections(f *testing.F) {
	files := opFiles{}
	h := writeOperator(f, files, "f", 0, 1, sampleOperatorStates())
	metas, _ := json.Marshal(h.States)
	file := files["f"]
	f.Add(file, metas, false)
	f.Add(file, metas, true)
	f.Add(file[:len(file)-3], metas, true)
	f.Add(file[:12], []byte("[]"), false)
	f.Add([]byte("STRMSTOP\x00\x00\x00\x01\x01a\x05\x00\x00\x00\x00\x00"), []byte(`[{"name":"a","mode":"split","value":"v","o":12,"l":11,"n":5}]`), true)
	f.Add([]byte("STRMSTOP\x00\x00\x00\x01\x01a\x01\x7f\x00\x00\x00\x00"), []byte(`[{"name":"a","mode":"union","value":"v","o":12,"l":8,"n":1}]`), true)
	f.Add([]byte("STRMSTOP\x00\x00\x00\x01\x01a\x01\x01k\x00\x00\x00\x00"), []byte(`[{"name":"a","mode":"broadcast","value":"v","userKey":"k","o":12,"l":9,"n":1}]`), true)
	f.Add([]byte("STRMSTOP\x00\x00\x00\x02"), []byte(`[]`), false)
	const path = "job/chk-1/op-operator-0"
	f.Fuzz(func(t *testing.T, file, metas []byte, fixCRC bool) {
		h := &snapshot.OperatorStateHandle{Parallelism: 1, File: snapshot.FileRef{Path: path, Size: int64(len(file))}}
		if json.Unmarshal(metas, &h.States) != nil || len(h.States) > 8 {
			return
		}
		if fixCRC && h.Validate() == nil {
			file = bytes.Clone(file)
			for _, s := range h.States {
				sec := file[s.Offset : s.Offset+s.Length]
				binary.BigEndian.PutUint32(sec[len(sec)-4:], crc32.Checksum(sec[:len(sec)-4], crc32.MakeTable(crc32.Castagnoli)))
			}
			// And the file's checksum: a whole-file read verifies it first.
			h.File.SHA256 = snapshot.Checksum(file)
		}
		got, err := readOperator(h, opFiles{path: file}, nil)
		if err != nil {
			if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrMissing) {
				t.Fatalf("%v wraps neither ErrCorrupt nor ErrMissing", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("%q does not name the file", err)
			}
			return
		}
		// Accepted: writing the decoded states gives back a file that reads the same.
		again := opFiles{}
		h2 := writeOperator(t, again, path, h.Subtask, h.Parallelism, got)
		got2, err := readOperator(h2, again, nil)
		if err != nil || !reflect.DeepEqual(got, got2) {
			t.Fatalf("rewrite reads %+v, %v; want %+v", got2, err, got)
		}
		contiguous := true
		end := int64(12)
		for _, s := range h.States {
			contiguous = contiguous && s.Offset == end
			end = s.Offset + s.Length
		}
		// Equal lengths mean the original's varints were minimal too, so the bytes must match.
		if contiguous && end == int64(len(file)) && len(again[path]) == len(file) && !bytes.Equal(again[path], file) {
			t.Fatalf("rewrite of %q is %q", file, again[path])
		}
	})
}

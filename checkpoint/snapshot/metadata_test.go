package snapshot_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// metadataHandle returns a valid handle for rng: contiguous blocks of 10 bytes after the header.
func metadataHandle(path string, rng keygroup.Range, comp snapshot.Compression) *snapshot.KeyedStateHandle {
	h := &snapshot.KeyedStateHandle{KeyGroupRange: rng, KeySerializer: "string", Compression: comp,
		States: []snapshot.StateMeta{
			{Name: "count", Kind: snapshot.KindValue, Value: "int64"},
			{Name: "seen", Kind: snapshot.KindMap, Value: "bool", UserKey: "string"},
			{Name: "order", Kind: snapshot.KindValue, Value: "json:order", Schema: `struct{"id" int64;"items" [struct{"sku" string}]}`},
		}}
	off := int64(12)
	for range rng.Len() {
		h.Blocks = append(h.Blocks, snapshot.Block{Offset: off, Length: 10})
		off += 10
	}
	h.File = snapshot.FileRef{Path: path, Size: off, SHA256: snapshot.Checksum([]byte(path))}
	return h
}

func sampleMetadata() *snapshot.Metadata {
	return &snapshot.Metadata{
		JobID: "job-42", CheckpointID: 7, TimestampMs: 1_700_000_000_123,
		Operators: []*snapshot.OperatorState{
			{ID: "source", Parallelism: 1, MaxParallelism: 128},
			{ID: "window", Parallelism: 2, MaxParallelism: 8, Keyed: []*snapshot.KeyedStateHandle{
				metadataHandle("chk-7/window-keyed-0-3", keygroup.RangeFor(8, 2, 0), snapshot.CompressionNone),
				metadataHandle("shared/window-keyed-4-7", keygroup.RangeFor(8, 2, 1), snapshot.CompressionSnappy),
			}},
			{ID: "sink", Parallelism: 3, MaxParallelism: 32768, Keyed: []*snapshot.KeyedStateHandle{
				metadataHandle("taskowned/..sink/a..b", keygroup.Range{Start: 32767, End: 32767}, ""),
			}},
		},
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	for _, savepoint := range []bool{false, true} {
		m := sampleMetadata()
		m.Savepoint = savepoint
		b, err := snapshot.EncodeMetadata(m)
		if err != nil {
			t.Fatal(err)
		}
		if m.Version != snapshot.MetadataVersion {
			t.Errorf("EncodeMetadata left Version %d", m.Version)
		}
		if string(b[:8]) != "STRMSTMD" || binary.BigEndian.Uint32(b[8:]) != snapshot.MetadataVersion {
			t.Errorf("header %q", b[:12])
		}
		if crc := crc32.Checksum(b[16:], crc32.MakeTable(crc32.Castagnoli)); crc != binary.BigEndian.Uint32(b[12:]) {
			t.Errorf("stored checksum %08x, body's %08x", binary.BigEndian.Uint32(b[12:]), crc)
		}
		if !json.Valid(b[16:]) {
			t.Errorf("body is not JSON: %q", b[16:])
		}
		got, err := snapshot.DecodeMetadata("x/_metadata", b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
		}
		// Encoding is deterministic.
		if b2, err := snapshot.EncodeMetadata(got); err != nil || !bytes.Equal(b, b2) {
			t.Errorf("re-encoding differs: %v", err)
		}
	}
	// Empty metadata is valid too.
	b, err := snapshot.EncodeMetadata(&snapshot.Metadata{JobID: "j"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := snapshot.DecodeMetadata("_metadata", b); err != nil || m.JobID != "j" || len(m.Operators) != 0 {
		t.Errorf("empty metadata: %+v, %v", m, err)
	}
}

func TestMetadataAccessors(t *testing.T) {
	m := sampleMetadata()
	if o := m.Operator("window"); o == nil || o.ID != "window" || len(o.Keyed) != 2 {
		t.Errorf("Operator(window) = %+v", o)
	}
	if o := m.Operator("nope"); o != nil {
		t.Errorf("Operator(nope) = %+v", o)
	}
	files := m.Files()
	if len(files) != 3 || files[0].Path != "chk-7/window-keyed-0-3" || files[2].Path != "taskowned/..sink/a..b" || files[0].Size != 12+4*10 {
		t.Errorf("Files() = %+v", files)
	}
	for k, want := range map[snapshot.StateKind]string{snapshot.KindValue: "value", snapshot.KindList: "list",
		snapshot.KindMap: "map", snapshot.KindReducing: "reducing", snapshot.KindAggregating: "aggregating", 9: "kind(9)"} {
		if k.String() != want {
			t.Errorf("StateKind(%d).String() = %q, want %q", uint8(k), k.String(), want)
		}
	}
}

// checkMetadataErr checks that DecodeMetadata rejects b with ErrCorrupt, naming the file and
// saying detail.
func checkMetadataErr(t *testing.T, what string, b []byte, detail string) {
	t.Helper()
	const name = "job-42/chk-7/_metadata"
	m, err := snapshot.DecodeMetadata(name, b)
	if err == nil {
		t.Errorf("%s: decoded %+v, want an error", what, m)
		return
	}
	if m != nil {
		t.Errorf("%s: metadata %+v returned with error %v", what, m, err)
	}
	if !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("%s: %v does not wrap ErrCorrupt", what, err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("%s: %q does not name the file", what, err)
	}
	if !strings.Contains(err.Error(), detail) {
		t.Errorf("%s: %q does not say %q", what, err, detail)
	}
}

func TestDecodeMetadataRejectsFraming(t *testing.T) {
	good, err := snapshot.EncodeMetadata(sampleMetadata())
	if err != nil {
		t.Fatal(err)
	}
	body := good[16:]

	checkMetadataErr(t, "nil", nil, "bad magic")
	checkMetadataErr(t, "bad magic", append([]byte("STRMSTKG"), good[8:]...), "bad magic")
	checkMetadataErr(t, "lower-case magic", append([]byte("strmstmd"), good[8:]...), "bad magic")
	checkMetadataErr(t, "full snapshot header", []byte("STRMSTKG\x00\x00\x00\x01"), "bad magic")
	checkMetadataErr(t, "plain JSON", body, "bad magic")
	for _, v := range []uint32{0, 3, 1 << 31} {
		checkMetadataErr(t, "bad version", checkpointtest.WrapMetadataBody(v, body), "version")
	}
	// A format 2 body under a format 1 header (and the other way round) is not metadata we wrote.
	checkMetadataErr(t, "format 2 body, format 1 header", checkpointtest.WrapMetadataBody(1, body), "the body says version 2, the header 1")

	// Every truncation: too short for the header, or a checksum mismatch.
	for n := range len(good) {
		checkMetadataErr(t, "truncated", good[:n], "")
	}
	checkMetadataErr(t, "truncated body", good[:len(good)-1], "checksum mismatch")
	checkMetadataErr(t, "extended", append(bytes.Clone(good), ' '), "checksum mismatch")
	// Every flipped bit of the checksum or body.
	for i := 12; i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 1 << (i % 8)
		checkMetadataErr(t, "bit flip", bad, "checksum mismatch")
	}
	// The header with an empty body: the checksum is right, the JSON is not.
	checkMetadataErr(t, "empty body", checkpointtest.WrapMetadataBody(1, nil), "EOF")
}

func TestDecodeMetadataRejectsJSON(t *testing.T) {
	good, err := snapshot.EncodeMetadata(sampleMetadata())
	if err != nil {
		t.Fatal(err)
	}
	body := string(good[16:])
	for _, tc := range []struct {
		name, body, detail string
	}{
		{"not JSON", "not json", "invalid character"},
		{"truncated JSON", body[:len(body)-1], "EOF"},
		{"array", "[]", "cannot unmarshal"},
		{"wrong type", strings.Replace(body, `"checkpointId":7`, `"checkpointId":"7"`, 1), "cannot unmarshal"},
		{"fraction", strings.Replace(body, `"checkpointId":7`, `"checkpointId":7.5`, 1), "cannot unmarshal"},
		{"overflow", strings.Replace(body, `"parallelism":1`, `"parallelism":1e30`, 1), "cannot unmarshal"},
		{"kind overflow", strings.Replace(body, `"kind":1`, `"kind":257`, 1), "cannot unmarshal"},
		{"unknown top-level field", strings.Replace(body, `{"version":2`, `{"version":2,"extra":true`, 1), `unknown field "extra"`},
		{"unknown operator field", strings.Replace(body, `"id":"source"`, `"id":"source","uid":"x"`, 1), `unknown field "uid"`},
		{"unknown handle field", strings.Replace(body, `"keySerializer"`, `"keySerialiser":"x","keySerializer"`, 1), `unknown field "keySerialiser"`},
		{"unknown block field", strings.Replace(body, `{"o":12,"l":10}`, `{"o":12,"l":10,"crc":1}`, 1), `unknown field "crc"`},
		{"unknown state field", strings.Replace(body, `"name":"count"`, `"name":"count","expires":5`, 1), `unknown field "expires"`},
		{"unknown TTL time", strings.Replace(body, `"name":"count"`, `"name":"count","ttl":"wall"`, 1), `unknown TTL time "wall"`},
		{"trailing garbage", body + "x", "after the JSON body"},
		{"second document", body + " {}", "after the JSON body"},
		{"version 1 in the body", strings.Replace(body, `{"version":2`, `{"version":1`, 1), "the body says version 1"},
		{"version 3 in the body", strings.Replace(body, `{"version":2`, `{"version":3`, 1), "version 3"},
		{"no version in the body", strings.Replace(body, `{"version":2,`, `{`, 1), "version 0"},
		{"no checksum", strings.Replace(body, `,"sha256":"`, `,"sha":"`, 1), `unknown field "sha"`},
		{"checksum removed", regexp.MustCompile(`,"sha256":"[0-9a-f]*"`).ReplaceAllString(body, ""), "has no checksum"},
		{"empty checksum", regexp.MustCompile(`"sha256":"[0-9a-f]*"`).ReplaceAllString(body, `"sha256":""`), "has no checksum"},
		{"short checksum", strings.Replace(body, `"sha256":"`, `"sha256":"0`, 1), "not a SHA-256"},
		{"upper-case checksum", regexp.MustCompile(`"sha256":"[0-9a-f]`).ReplaceAllString(body, `"sha256":"A`), "not a SHA-256"},
		{"null operator", strings.Replace(body, `"operators":[`, `"operators":[null,`, 1), "null operator"},
		{"null handle", strings.Replace(body, `"keyed":[`, `"keyed":[null,`, 1), "null keyed handle"},
	} {
		if tc.body == body {
			t.Fatalf("%s: the test's replacement did not apply", tc.name)
		}
		checkMetadataErr(t, tc.name, checkpointtest.WrapMetadataBody(snapshot.MetadataVersion, []byte(tc.body)), tc.detail)
	}
	// Trailing white space is fine.
	if _, err := snapshot.DecodeMetadata("m", checkpointtest.WrapMetadataBody(snapshot.MetadataVersion, []byte(body+" \n"))); err != nil {
		t.Errorf("trailing white space: %v", err)
	}
}

func TestDecodeMetadataRejectsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(m *snapshot.Metadata)
		detail string
	}{
		{"negative checkpoint id", func(m *snapshot.Metadata) { m.CheckpointID = -1 }, "negative checkpoint id"},
		{"operator twice", func(m *snapshot.Metadata) { m.Operators[2].ID = "window" }, `operator "window" listed twice`},
		{"parallelism 0", func(m *snapshot.Metadata) { m.Operators[0].Parallelism = 0 }, "parallelism 0"},
		{"parallelism above max", func(m *snapshot.Metadata) { m.Operators[1].Parallelism = 9 }, "parallelism 9"},
		{"max parallelism 0", func(m *snapshot.Metadata) { m.Operators[0].MaxParallelism = 0 }, "max parallelism 0"},
		{"max parallelism too large", func(m *snapshot.Metadata) { m.Operators[0].MaxParallelism = 1<<15 + 1 }, "max parallelism 32769"},

		{"range starts below 0", func(m *snapshot.Metadata) { windowHandle(m).KeyGroupRange.Start = -1 }, "key-group range [-1, 3]"},
		{"range ends at max parallelism", func(m *snapshot.Metadata) { windowHandle(m).KeyGroupRange = keygroup.Range{Start: 5, End: 8} }, "key-group range [5, 8]"},
		{"empty range", func(m *snapshot.Metadata) { windowHandle(m).KeyGroupRange = keygroup.Range{Start: 3, End: 2} }, "key-group range [3, 2]"},
		{"canonical empty range", func(m *snapshot.Metadata) { windowHandle(m).KeyGroupRange = keygroup.EmptyRange }, "key-group range [0, -1]"},

		{"too few blocks", func(m *snapshot.Metadata) { windowHandle(m).Blocks = windowHandle(m).Blocks[:3] }, "3 blocks for 4 key groups"},
		{"too many blocks", func(m *snapshot.Metadata) {
			windowHandle(m).Blocks = append(windowHandle(m).Blocks, snapshot.Block{Offset: 52, Length: 5})
			windowHandle(m).File.Size += 5
		}, "5 blocks for 4 key groups"},
		{"no blocks", func(m *snapshot.Metadata) { windowHandle(m).Blocks = nil }, "0 blocks for 4 key groups"},
		{"block in the header", func(m *snapshot.Metadata) { windowHandle(m).Blocks[0].Offset = 11 }, "outside file"},
		{"block too short", func(m *snapshot.Metadata) { windowHandle(m).Blocks[3].Length = 4 }, "outside file"},
		{"block past the end", func(m *snapshot.Metadata) { windowHandle(m).Blocks[3].Offset = windowHandle(m).File.Size }, "outside file"},
		{"block longer than the file", func(m *snapshot.Metadata) { windowHandle(m).Blocks[3].Length = 11 }, "outside file"},
		{"huge block", func(m *snapshot.Metadata) { windowHandle(m).Blocks[3].Length = 1<<63 - 1 }, "outside file"},
		{"negative file size", func(m *snapshot.Metadata) { windowHandle(m).File.Size = -1 }, "outside file"},
		{"overlapping blocks", func(m *snapshot.Metadata) { windowHandle(m).Blocks[1].Offset -= 1 }, "overlaps"},
		{"blocks out of order", func(m *snapshot.Metadata) {
			windowHandle(m).Blocks[1], windowHandle(m).Blocks[2] = windowHandle(m).Blocks[2], windowHandle(m).Blocks[1]
		}, "overlaps or precedes"},

		{"unknown compression", func(m *snapshot.Metadata) { windowHandle(m).Compression = "zstd" }, `unknown compression "zstd"`},
		{"empty state name", func(m *snapshot.Metadata) { windowHandle(m).States[0].Name = "" }, `state name ""`},
		{"repeated state name", func(m *snapshot.Metadata) { windowHandle(m).States[1].Name = "count" }, `state name "count"`},
		{"state kind 0", func(m *snapshot.Metadata) { windowHandle(m).States[0].Kind = 0 }, "unknown kind 0"},
		{"state kind 7", func(m *snapshot.Metadata) { windowHandle(m).States[1].Kind = 7 }, "unknown kind 7"},
		{"bad schema", func(m *snapshot.Metadata) { windowHandle(m).States[2].Schema = `struct{"id" int}` }, `state "order": serde: bad schema`},
	} {
		m := sampleMetadata()
		m.Version = snapshot.MetadataVersion
		tc.mutate(m)
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		checkMetadataErr(t, tc.name, checkpointtest.WrapMetadataBody(snapshot.MetadataVersion, body), tc.detail)
		// EncodeMetadata refuses to write it in the first place.
		if _, err := snapshot.EncodeMetadata(m); err == nil {
			t.Errorf("%s: EncodeMetadata accepted it", tc.name)
		}
	}
}

// windowHandle returns the first keyed handle of the sample metadata's window operator (range [0, 3] of 8).
func windowHandle(m *snapshot.Metadata) *snapshot.KeyedStateHandle {
	return m.Operators[1].Keyed[0]
}

func TestDecodeMetadataPaths(t *testing.T) {
	for _, p := range []string{
		"", ".", "..", "/abs/file", "/", "../escape", "a/../../b", "a/../b", "./a", "a/./b", "a//b", "a/", "a/..",
		`a\b`, `..\x`,
	} {
		m := sampleMetadata()
		m.Version = snapshot.MetadataVersion
		windowHandle(m).File.Path = p
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		checkMetadataErr(t, "path "+p, checkpointtest.WrapMetadataBody(snapshot.MetadataVersion, body), "is not a clean relative path")
	}
	for _, p := range []string{"f", "chk-1/f", "shared/a/b-c_d.sst", "..f", "a..", "a/..b/c", "taskowned/x y"} {
		m := sampleMetadata()
		windowHandle(m).File.Path = p
		b, err := snapshot.EncodeMetadata(m)
		if err != nil {
			t.Errorf("path %q: %v", p, err)
			continue
		}
		if _, err := snapshot.DecodeMetadata("m", b); err != nil {
			t.Errorf("path %q: %v", p, err)
		}
	}
}

// TestIncrementalExtra: an incremental handle's extra full-format records round-trip, are in
// Files, and a bad one is rejected.
func TestIncrementalExtra(t *testing.T) {
	rng := keygroup.RangeFor(8, 2, 0)
	inc := func() *snapshot.KeyedStateHandle {
		return &snapshot.KeyedStateHandle{KeyGroupRange: rng, KeySerializer: "string",
			States: []snapshot.StateMeta{{Name: "timers", Kind: snapshot.KindTimers, Value: "timer-ts-v1"}},
			Incremental: &snapshot.IncrementalHandle{Backend: "lsm/pebble-v2",
				Shared:  []snapshot.IncrementalFile{{Name: "000001.sst", Path: "shared/a-000001.sst", Size: 10, SHA256: snapshot.Checksum([]byte("sst"))}},
				Private: []snapshot.IncrementalFile{{Name: "MANIFEST-000001", Path: "chk-1/m", Size: 5, SHA256: snapshot.Checksum([]byte("m"))}},
				Extra:   metadataHandle("chk-1/op-0-3-timers", rng, snapshot.CompressionNone)}}
	}
	md := func(h *snapshot.KeyedStateHandle) *snapshot.Metadata {
		return &snapshot.Metadata{JobID: "j", CheckpointID: 1, Operators: []*snapshot.OperatorState{
			{ID: "op", Parallelism: 2, MaxParallelism: 8, Keyed: []*snapshot.KeyedStateHandle{h}}}}
	}
	b, err := snapshot.EncodeMetadata(md(inc()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := snapshot.DecodeMetadata("m", b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Operators[0].Keyed[0], inc()) {
		t.Fatalf("round trip: %+v", got.Operators[0].Keyed[0].Incremental)
	}
	var paths []string
	for _, f := range got.Files() {
		paths = append(paths, f.Path)
	}
	if !slices.Contains(paths, "chk-1/op-0-3-timers") || len(paths) != 3 {
		t.Fatalf("Files = %v", paths)
	}
	for name, mutate := range map[string]func(h *snapshot.KeyedStateHandle){
		"other range": func(h *snapshot.KeyedStateHandle) { h.Incremental.Extra.KeyGroupRange = keygroup.RangeFor(8, 2, 1) },
		"incremental": func(h *snapshot.KeyedStateHandle) {
			h.Incremental.Extra.Incremental = &snapshot.IncrementalHandle{Backend: "x"}
		},
		"shared":       func(h *snapshot.KeyedStateHandle) { h.Incremental.Extra.File.Path = "shared/t" },
		"bad blocks":   func(h *snapshot.KeyedStateHandle) { h.Incremental.Extra.Blocks = nil },
		"invalid path": func(h *snapshot.KeyedStateHandle) { h.Incremental.Extra.File.Path = "../t" },
	} {
		h := inc()
		mutate(h)
		if _, err := snapshot.EncodeMetadata(md(h)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestGoldenChecksumsEnforced: the current format's golden metadata with a checksum removed,
// or a format 1 metadata given one, is corrupt.
func TestGoldenChecksumsEnforced(t *testing.T) {
	raw, err := os.ReadFile(fmt.Sprintf("../testdata/golden-v%d/golden/chk-1/_metadata", snapshot.MetadataVersion))
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw[16:])
	i := strings.Index(body, `,"sha256":"`)
	if i < 0 {
		t.Fatal("no checksum in the golden metadata")
	}
	stripped := body[:i] + body[i+len(`,"sha256":"`)+64+1:]
	checkMetadataErr(t, "checksum removed", checkpointtest.WrapMetadataBody(snapshot.MetadataVersion, []byte(stripped)), "has no checksum")
	v1 := strings.Replace(body, `{"version":2`, `{"version":1`, 1)
	checkMetadataErr(t, "format 1 with checksums", checkpointtest.WrapMetadataBody(snapshot.MetadataVersionNoChecksums, []byte(v1)), "which metadata format 1 does not record")
}

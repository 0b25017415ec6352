package snapshot_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// normalizeMetadata makes nil and empty slices alike (an empty "keyed" list is omitted when
// encoding, so it decodes as nil), for comparing metadata.
func normalizeMetadata(m *snapshot.Metadata) *snapshot.Metadata {
	if len(m.Operators) == 0 {
		m.Operators = nil
	}
	for _, o := range m.Operators {
		if len(o.Keyed) == 0 {
			o.Keyed = nil
		}
		if len(o.Operator) == 0 {
			o.Operator = nil // omitted when empty, like "keyed"
		}
		for _, h := range o.Keyed {
			if len(h.States) == 0 {
				h.States = nil
			}
		}
	}
	return m
}

// FuzzDecodeMetadata: DecodeMetadata never panics, rejects bad bytes with ErrCorrupt naming the
// file, and what it accepts encodes and decodes again to an equal value. With wrap, data is
// the JSON body and gets a correct header and checksum (of format 1 with v1, else of the current
// format), so the fuzzer reaches the JSON and the validation. Format 1 metadata cannot be
// written any more (EncodeMetadata writes the current format); what decodes as format 1 must
// decode again, unchanged, from its JSON re-encoding.
func FuzzDecodeMetadata(f *testing.F) {
	good, err := snapshot.EncodeMetadata(sampleMetadata())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, false, false)
	f.Add(good[16:], true, false)
	chain, err := snapshot.EncodeMetadata(chainMetadata()) // a hashmap incremental chain
	if err != nil {
		f.Fatal(err)
	}
	f.Add(chain[16:], true, false)
	f.Add(good[:20], false, false)
	f.Add([]byte{}, false, false)
	f.Add([]byte("STRMSTMD\x00\x00\x00\x01\x00\x00\x00\x00"), false, false)
	f.Add([]byte("STRMSTMD\x00\x00\x00\x02\x00\x00\x00\x00"), false, false)
	empty, _ := snapshot.EncodeMetadata(&snapshot.Metadata{})
	f.Add(empty[16:], true, false)
	body := string(good[16:])
	sum := `"sha256":"` + snapshot.Checksum(nil) + `"`
	noSums := regexp.MustCompile(`,"sha256":"[0-9a-f]*"`).ReplaceAllString(body, "")
	v1 := strings.Replace(noSums, `{"version":2`, `{"version":1`, 1)
	for _, s := range []struct {
		body string
		v1   bool
	}{
		{`{"version":2,"jobId":"","checkpointId":0,"timestampMs":0,"operators":[]}`, false},
		{`{"version":1,"jobId":"","checkpointId":0,"timestampMs":0,"operators":[]}`, true},
		{`{"version":2,"operators":[{"id":"a","parallelism":1,"maxParallelism":1,"keyed":[]}]}`, false},
		{`{"version":2,"operators":null} `, false},
		{`{"version":2,"operators":[{"id":"a","parallelism":1,"maxParallelism":2,"keyed":[{"keyGroupRange":{"start":1,"end":1},"states":[],"file":{"path":"f","size":17,` + sum + `},"blocks":[{"o":12,"l":5}]}]}]}`, false},
		{`{"version":1,"operators":[{"id":"a","parallelism":1,"maxParallelism":2,"keyed":[{"keyGroupRange":{"start":1,"end":1},"states":[],"file":{"path":"f","size":17},"blocks":[{"o":12,"l":5}]}]}]}`, true},
		{`{"version":1,"operators":[{"id":"a","parallelism":1,"maxParallelism":2,"keyed":[{"keyGroupRange":{"start":1,"end":1},"states":[],"file":{"path":"f","size":17,` + sum + `},"blocks":[{"o":12,"l":5}]}]}]}`, true},
		{`{"VERSION":2,"JobID":"\ud800\u00e9","savepoint":true}`, false},
		{strings.Replace(body, `"version":2`, `"version":2,"x":0`, 1), false},
		{strings.Replace(body, `"path":"chk-7/window-keyed-0-3"`, `"path":"../x"`, 1), false},
		{strings.Replace(body, `"compression":"snappy"`, `"compression":"zstd"`, 1), false},
		{noSums, false},
		{v1, true},
		{body, true},
		{body + "{}", false},
		{"[1,2]", false}, {"null", false}, {`{"operators":[null]}`, false},
	} {
		f.Add([]byte(s.body), true, s.v1)
	}
	// The golden checkpoints' metadata of every format.
	for _, v := range []int{snapshot.MetadataVersionNoChecksums, snapshot.MetadataVersion} {
		b, err := os.ReadFile(fmt.Sprintf("../testdata/golden-v%d/golden/chk-1/_metadata", v))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false, false)
		f.Add(b[16:], true, v == snapshot.MetadataVersionNoChecksums)
	}
	const name = "job/chk-1/_metadata"
	f.Fuzz(func(t *testing.T, data []byte, wrap, v1 bool) {
		if wrap {
			v := uint32(snapshot.MetadataVersion)
			if v1 {
				v = snapshot.MetadataVersionNoChecksums
			}
			data = checkpointtest.WrapMetadataBody(v, data)
		}
		m, err := snapshot.DecodeMetadata(name, data)
		if err != nil {
			if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), name) {
				t.Fatalf("DecodeMetadata: %v: not ErrCorrupt naming %s", err, name)
			}
			return
		}
		if m.Version == snapshot.MetadataVersionNoChecksums {
			for _, f := range m.Files() {
				if f.SHA256 != "" {
					t.Fatalf("format 1 metadata decoded with a checksum for %s", f.Path)
				}
			}
			body, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := snapshot.DecodeMetadata(name, checkpointtest.WrapMetadataBody(snapshot.MetadataVersionNoChecksums, body))
			if err != nil || !reflect.DeepEqual(normalizeMetadata(m), normalizeMetadata(m2)) {
				t.Fatalf("format 1 metadata does not decode again from its JSON %s: %v", body, err)
			}
			return
		}
		for _, f := range m.Files() {
			if len(f.SHA256) != 64 {
				t.Fatalf("format %d metadata decoded without a checksum for %s", m.Version, f.Path)
			}
		}
		enc, err := snapshot.EncodeMetadata(m)
		if err != nil {
			t.Fatalf("EncodeMetadata of decoded metadata %+v: %v", m, err)
		}
		m2, err := snapshot.DecodeMetadata(name, enc)
		if err != nil {
			t.Fatalf("DecodeMetadata of re-encoded %q: %v", enc, err)
		}
		if enc2, err := snapshot.EncodeMetadata(m2); err != nil || string(enc2) != string(enc) {
			t.Fatalf("encoding is not stable: %q vs %q (%v)", enc, enc2, err)
		}
		if !reflect.DeepEqual(normalizeMetadata(m), normalizeMetadata(m2)) {
			t.Fatalf("metadata changed in a round trip:\n%q\n%q", data, enc)
		}
	})
}

// fuzzLayout encodes block lengths (with no gaps) the way FuzzReadKeyGroups reads them.
func fuzzLayout(h *snapshot.KeyedStateHandle) []byte {
	var b []byte
	end := int64(12)
	for _, blk := range h.Blocks {
		b = binary.AppendUvarint(b, uint64(blk.Offset-end))
		b = binary.AppendUvarint(b, uint64(blk.Length))
		end = blk.Offset + blk.Length
	}
	return b
}

func fuzzKinds(h *snapshot.KeyedStateHandle) []byte {
	var b []byte
	for _, s := range h.States {
		b = append(b, byte(s.Kind))
	}
	return b
}

// FuzzReadKeyGroups: over an arbitrary file and an arbitrary handle that passes metadata
// validation, ReadKeyGroups never panics, fails only with ErrCorrupt or ErrMissing naming the
// file, hands out records of the handle's states in key-group order, and reads a sub-range as
// the same records as the full range. layout holds (gap, length) uvarint pairs, one per block;
// with fixCRC the blocks' checksums are recomputed, so the fuzzer reaches the payload decoder.
func FuzzReadKeyGroups(f *testing.F) {
	rng := keygroup.Range{Start: 3, End: 8}
	recs := []fullRec{
		{KG: 4, State: 0, Key: "k", NS: "n", Value: "v"},
		{KG: 4, State: 1, Key: "k\x00", List: []string{"a", "", "b"}},
		{KG: 4, State: 1, Key: "empty", List: []string{}},
		{KG: 5, State: 2, Key: "m", UserKey: "u", Value: strings.Repeat("snappy ", 20)},
		{KG: 7, State: 3, Key: "r", Value: "\xff\x00"},
		{KG: 7, State: 4, Key: "a", Value: strings.Repeat("x", 100)},
	}
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionSnappy} {
		files := map[string][]byte{}
		h := writeFull(f, files, "f", rng, recs, map[int]bool{8: true}, comp)
		file := files["f"]
		f.Add(file, uint8(rng.Start), fuzzLayout(h), fuzzKinds(h), uint8(0), uint8(255), false)
		f.Add(file, uint8(rng.Start), fuzzLayout(h), fuzzKinds(h), uint8(5+8), uint8(5+8), true)
		f.Add(file[:len(file)-3], uint8(rng.Start), fuzzLayout(h), fuzzKinds(h), uint8(0), uint8(255), true)
		f.Add(file, uint8(rng.Start), fuzzLayout(h), fuzzKinds(h)[:2], uint8(0), uint8(255), true)
	}
	f.Add([]byte("STRMSTKG\x00\x00\x00\x01\x00\x00\x00\x00\x00"), uint8(0), []byte{0, 5}, []byte{1}, uint8(0), uint8(0), true)
	f.Add([]byte("STRMSTKG\x00\x00\x00\x01\x01\x05garbage\x00\x00\x00\x00"), uint8(0), []byte{0, 16}, []byte{1}, uint8(8), uint8(8), true)
	f.Add([]byte("STRMSTKG\x00\x00\x00\x01\x00\x01\x01k\x00\x05\x01a\x00\x00\x00\x00"), uint8(1), []byte{0, 14}, []byte{2}, uint8(9), uint8(20), true)

	const path = "job/chk-1/op-keyed"
	f.Fuzz(func(t *testing.T, file []byte, start uint8, layout, kinds []byte, lo, hi uint8, fixCRC bool) {
		const maxP = 128
		h := &snapshot.KeyedStateHandle{KeySerializer: "string", File: snapshot.FileRef{Path: path, Size: int64(len(file))}}
		end := int64(12)
		for len(layout) > 0 && len(h.Blocks) < 32 {
			gap, n := binary.Uvarint(layout)
			if n <= 0 {
				break
			}
			length, m := binary.Uvarint(layout[n:])
			if m <= 0 || gap > 1<<20 || length > 1<<30 {
				break
			}
			layout = layout[n+m:]
			h.Blocks = append(h.Blocks, snapshot.Block{Offset: end + int64(gap), Length: int64(length)})
			end += int64(gap) + int64(length)
		}
		h.KeyGroupRange = keygroup.Range{Start: int(start) % maxP, End: int(start)%maxP + len(h.Blocks) - 1}
		for i, k := range kinds[:min(len(kinds), 6)] {
			h.States = append(h.States, snapshot.StateMeta{Name: string(rune('a' + i)), Kind: snapshot.StateKind(k)})
		}
		h.File.SHA256 = snapshot.Checksum(file) // replaced below if the file changes
		m := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: maxP,
			Keyed: []*snapshot.KeyedStateHandle{h}}}}
		if _, err := snapshot.EncodeMetadata(m); err != nil {
			return // not a valid handle
		}
		if fixCRC {
			file = append([]byte(nil), file...)
			for _, b := range h.Blocks {
				blk := file[b.Offset : b.Offset+b.Length]
				binary.BigEndian.PutUint32(blk[len(blk)-4:], crc32.Checksum(blk[:len(blk)-4], crc32.MakeTable(crc32.Castagnoli)))
			}
			// The file's checksum as its writer would have recorded it, so a whole-file read
			// gets past it to the blocks.
			h.File.SHA256 = snapshot.Checksum(file)
		}
		reader := &fullFileReader{files: map[string][]byte{path: file}}
		// read reads r through ReadKeyGroups, or with ranged reads of chunk bytes if chunk > 0.
		read := func(r keygroup.Range, chunk int64) ([]fullRec, error) {
			want := h.KeyGroupRange.Intersect(r)
			var out []fullRec
			last := -1
			fn := func(kg int, rec *snapshot.Record) error {
				if kg < last || !want.Contains(kg) {
					t.Fatalf("record of key group %d after %d, reading %v", kg, last, want)
				}
				last = kg
				if rec.State < 0 || rec.State >= len(h.States) || rec.Kind != h.States[rec.State].Kind {
					t.Fatalf("record of state %d, kind %v", rec.State, rec.Kind)
				}
				fr := fullRec{KG: kg, State: rec.State, Key: string(rec.Key), NS: string(rec.Namespace),
					UserKey: string(rec.UserKey), Value: string(rec.Value)}
				for _, e := range rec.List {
					fr.List = append(fr.List, string(e))
				}
				out = append(out, fr)
				return nil
			}
			var err error
			if chunk > 0 {
				err = snapshot.ReadKeyGroupsChunked(context.Background(), reader, h, r, chunk, 2, fn)
			} else {
				err = snapshot.ReadKeyGroups(context.Background(), reader, h, r, fn)
			}
			if err != nil {
				if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrMissing) {
					t.Fatalf("ReadKeyGroups(%v): %v wraps neither ErrCorrupt nor ErrMissing", r, err)
				}
				if !strings.Contains(err.Error(), path) {
					t.Fatalf("ReadKeyGroups(%v): %q does not name the file", r, err)
				}
			}
			return out, err
		}
		all, err := read(h.KeyGroupRange, 0)
		// Streamed in chunks of 3 bytes, blocks span chunks: the same records, or a failure.
		streamed, errStreamed := read(h.KeyGroupRange, 3)
		if (err == nil) != (errStreamed == nil) || err == nil && !reflect.DeepEqual(streamed, all) {
			t.Fatalf("read in chunks of 3 bytes: %+v, %v; in one read: %+v, %v", streamed, errStreamed, all, err)
		}
		sub := keygroup.Range{Start: int(lo) - 8, End: int(hi) - 8}
		part, errPart := read(sub, 0)
		if err != nil || errPart != nil {
			return
		}
		var want []fullRec
		for _, r := range all {
			if sub.Contains(r.KG) {
				want = append(want, r)
			}
		}
		if !reflect.DeepEqual(part, want) {
			t.Fatalf("reading %v gave %+v, the full read %+v", sub, part, want)
		}
	})
}

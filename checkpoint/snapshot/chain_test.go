package snapshot_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// chainFile is a FileRef with a well-formed checksum.
func chainFile(p string, size int64) snapshot.FileRef {
	return snapshot.FileRef{Path: p, Size: size, SHA256: strings.Repeat("ab", 32)}
}

// chainHandle returns a full-format handle over rng in file p (blocks of 5 bytes each).
func chainHandle(p string, rng keygroup.Range, delta bool) *snapshot.KeyedStateHandle {
	h := &snapshot.KeyedStateHandle{KeyGroupRange: rng, KeySerializer: "int64", States: fullStates[:2], Delta: delta}
	off := int64(12)
	for range rng.Len() {
		h.Blocks = append(h.Blocks, snapshot.Block{Offset: off, Length: 5})
		off += 5
	}
	h.File = chainFile(p, off)
	return h
}

// chainMetadata is metadata with one hashmap chain: a base and two deltas over key groups 0-3.
func chainMetadata() *snapshot.Metadata {
	rng := keygroup.Range{Start: 0, End: 3}
	return &snapshot.Metadata{JobID: "j", CheckpointID: 3, Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 2, MaxParallelism: 8,
		Keyed: []*snapshot.KeyedStateHandle{{KeyGroupRange: rng, KeySerializer: "int64", States: fullStates[:2],
			Incremental: &snapshot.IncrementalHandle{Backend: snapshot.HashmapChainBackend, Chain: []*snapshot.KeyedStateHandle{
				chainHandle("shared/op-base", rng, false), chainHandle("shared/op-d1", rng, true), chainHandle("shared/op-d2", rng, true)}}}}}}}
}

// TestChainMetadata: a chain round-trips, Files lists every file of it, and every way a chain
// can be malformed is rejected as corrupt, naming what is wrong.
func TestChainMetadata(t *testing.T) {
	m := chainMetadata()
	b, err := snapshot.EncodeMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := snapshot.DecodeMetadata("chk-3/_metadata", b)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range got.Files() {
		paths = append(paths, f.Path)
	}
	if strings.Join(paths, ",") != "shared/op-base,shared/op-d1,shared/op-d2" {
		t.Errorf("Files: %v", paths)
	}
	chain := func(m *snapshot.Metadata) *snapshot.IncrementalHandle { return m.Operators[0].Keyed[0].Incremental }
	for _, tc := range []struct {
		name, want string
		change     func(m *snapshot.Metadata)
	}{
		{"base is a delta", "base", func(m *snapshot.Metadata) { chain(m).Chain[0].Delta = true }},
		{"delta is not", "delta", func(m *snapshot.Metadata) { chain(m).Chain[2].Delta = false }},
		{"other range", "key groups", func(m *snapshot.Metadata) {
			chain(m).Chain[1] = chainHandle("shared/op-d1", keygroup.Range{Start: 0, End: 2}, true)
		}},
		{"not shared", "not under shared/", func(m *snapshot.Metadata) {
			chain(m).Chain[1] = chainHandle("chk-3/op-d1", keygroup.Range{Start: 0, End: 3}, true)
		}},
		{"file twice", "listed twice", func(m *snapshot.Metadata) {
			chain(m).Chain[2] = chainHandle("shared/op-d1", keygroup.Range{Start: 0, End: 3}, true)
		}},
		{"null element", "null", func(m *snapshot.Metadata) { chain(m).Chain[1] = nil }},
		{"nested", "incremental itself", func(m *snapshot.Metadata) { chain(m).Chain[1].Incremental = &snapshot.IncrementalHandle{Backend: "x"} }},
		{"watermark", "TTL watermark", func(m *snapshot.Metadata) { chain(m).Chain[1].TTLWatermark = new(int64) }},
		{"other backend", "only", func(m *snapshot.Metadata) { chain(m).Backend = "lsm/pebble-v2" }},
		{"hashmap without chain", "without a chain", func(m *snapshot.Metadata) { chain(m).Chain = nil }},
		{"with database files", "database files", func(m *snapshot.Metadata) {
			chain(m).Shared = []snapshot.IncrementalFile{{Name: "1.sst", Path: "shared/1.sst", SHA256: strings.Repeat("ab", 32)}}
		}},
		{"bad block", "outside", func(m *snapshot.Metadata) { chain(m).Chain[1].Blocks[0].Length = 1 << 40 }},
		{"too long", "MaxChainLength", func(m *snapshot.Metadata) {
			c := chain(m)
			for i := len(c.Chain); i <= snapshot.MaxChainLength; i++ {
				c.Chain = append(c.Chain, chainHandle(fmt.Sprintf("shared/op-d%d", i), keygroup.Range{Start: 0, End: 3}, true))
			}
		}},
		{"delta at top level", "delta outside", func(m *snapshot.Metadata) {
			m.Operators[0].Keyed = append(m.Operators[0].Keyed, chainHandle("chk-3/x", keygroup.Range{Start: 4, End: 7}, true))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := chainMetadata()
			tc.change(m)
			_, err := snapshot.EncodeMetadata(m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("EncodeMetadata: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestDeltaRecords: a delta's tombstones and records read back in order; the same bytes read
// as a full handle (Delta unset) are corrupt, since tombstones name states beyond the handle's.
func TestDeltaRecords(t *testing.T) {
	rng := keygroup.Range{Start: 2, End: 4}
	files := map[string][]byte{}
	out := &fullFileOutput{path: "shared/d", files: files}
	w := snapshot.NewFullWriter(out, rng, "string", fullStates[:2], snapshot.CompressionSnappy)
	must(t, w.BeginKeyGroup(3))
	w.Tombstone(2, 0, snapshot.TombstoneCell, []byte("k"), []byte("ns"))
	w.Value(0, []byte("k"), []byte("ns"), []byte("v"))
	w.Tombstone(2, 1, snapshot.TombstoneKeyGroup, nil, nil)
	w.List(1, []byte("l"), nil, 1)
	w.ListElement([]byte("e"))
	h, err := w.Finish()
	must(t, err)
	h.Delta = true
	var got []string
	err = snapshot.ReadKeyGroups(context.Background(), &fullFileReader{files: files}, h, rng, func(kg int, r *snapshot.Record) error {
		got = append(got, fmt.Sprintf("%d %d %d %q %q %q %q", kg, r.State, r.Tombstone, r.Key, r.Namespace, r.Value, r.List))
		return nil
	})
	must(t, err)
	want := []string{`3 0 1 "k" "ns" "" []`, `3 0 0 "k" "ns" "v" []`, `3 1 2 "" "" "" []`, `3 1 0 "l" "" "" ["e"]`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	h.Delta = false
	err = snapshot.ReadKeyGroups(context.Background(), &fullFileReader{files: files}, h, rng, func(int, *snapshot.Record) error { return nil })
	if !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("a delta read as a full handle: %v, want ErrCorrupt", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzReadDelta: over arbitrary block payloads read as a delta, ReadKeyGroups never panics,
// fails only with ErrCorrupt naming the file, and hands out tombstones of a known kind of the
// handle's states, with no key or namespace for a key-group tombstone.
func FuzzReadDelta(f *testing.F) {
	var b snapshot.BlockBuilder
	b.Tombstone(2, 1, snapshot.TombstoneCell, []byte("k"), nil)
	b.Value(0, []byte("k"), nil, []byte("v"))
	b.Tombstone(2, 0, snapshot.TombstoneKeyGroup, nil, nil)
	f.Add(snapshot.BlockPayload(&b), []byte{byte(snapshot.KindValue), byte(snapshot.KindList)})
	f.Add([]byte{0, 4, 9}, []byte{byte(snapshot.KindMap)})
	f.Add([]byte{0, 2, 3, 0, 0}, []byte{byte(snapshot.KindTimers), byte(snapshot.KindMap)})
	const path = "shared/delta"
	f.Fuzz(func(t *testing.T, payload, kinds []byte) {
		if len(kinds) == 0 || len(kinds) > 6 || len(payload) > 1<<16 {
			return
		}
		// One block: compression none, the payload, its CRC-32C.
		blk := append([]byte{0}, payload...)
		blk = binary.BigEndian.AppendUint32(blk, crc32.Checksum(blk, crc32.MakeTable(crc32.Castagnoli)))
		file := append([]byte("STRMSTKG\x00\x00\x00\x01"), blk...)
		h := &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 0, End: 0}, KeySerializer: "int64", Delta: true,
			File:   snapshot.FileRef{Path: path, Size: int64(len(file)), SHA256: snapshot.Checksum(file)},
			Blocks: []snapshot.Block{{Offset: 12, Length: int64(len(blk))}}}
		for i, k := range kinds {
			h.States = append(h.States, snapshot.StateMeta{Name: string(rune('a' + i)), Kind: snapshot.StateKind(k%6 + 1)})
		}
		err := snapshot.ReadKeyGroups(context.Background(), &fullFileReader{files: map[string][]byte{path: file}}, h, h.KeyGroupRange,
			func(_ int, r *snapshot.Record) error {
				if r.State < 0 || r.State >= len(h.States) || r.Kind != h.States[r.State].Kind {
					t.Fatalf("record of state %d kind %v", r.State, r.Kind)
				}
				switch r.Tombstone {
				case snapshot.TombstoneNone, snapshot.TombstoneCell:
				case snapshot.TombstoneKeyGroup:
					if len(r.Key)+len(r.Namespace) != 0 {
						t.Fatalf("key-group tombstone with key %q namespace %q", r.Key, r.Namespace)
					}
				default:
					t.Fatalf("tombstone of kind %d", r.Tombstone)
				}
				return nil
			})
		if err != nil && (!errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), path)) {
			t.Fatalf("ReadKeyGroups: %v: not ErrCorrupt naming %s", err, path)
		}
	})
}

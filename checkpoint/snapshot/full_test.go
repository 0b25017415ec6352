package snapshot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// fullFileOutput is a snapshot.OutputStream into memory. Close commits the bytes to files.
type fullFileOutput struct {
	path     string
	files    map[string][]byte
	buf      []byte
	failAt   int // a Write that would pass this many bytes fails; <= 0: never
	closed   bool
	aborted  bool
	closeErr error
}

var errWriteFailed = errors.New("test: write failed")

func (o *fullFileOutput) Write(p []byte) (int, error) {
	if o.closed || o.aborted {
		return 0, errors.New("test: write after close or abort")
	}
	if o.failAt > 0 && len(o.buf)+len(p) > o.failAt {
		n := o.failAt - len(o.buf)
		o.buf = append(o.buf, p[:n]...)
		return n, errWriteFailed
	}
	o.buf = append(o.buf, p...)
	return len(p), nil
}

func (o *fullFileOutput) Close() (snapshot.FileRef, error) {
	if o.closeErr != nil {
		return snapshot.FileRef{}, o.closeErr
	}
	o.closed = true
	if o.files != nil {
		o.files[o.path] = o.buf
	}
	return snapshot.FileRef{Path: o.path, Size: int64(len(o.buf)), SHA256: snapshot.Checksum(o.buf)}, nil
}

func (o *fullFileOutput) Abort() { o.aborted = true }

// fullFileReader is a snapshot.Reader over files in memory with the semantics of
// Storage.ReadRange (a missing file is ErrMissing, a short one returns fewer bytes). It counts
// what it returns. Like every Reader it is safe for concurrent use.
type fullFileReader struct {
	mu     sync.Mutex
	files  map[string][]byte
	calls  int
	read   int64
	err    error // returned by every call, if set
	noCopy bool  // return slices of the file (ReadKeyGroups must not modify them)
}

func (r *fullFileReader) ReadRange(_ context.Context, path string, off, n int64) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	b, ok := r.files[path]
	if !ok {
		return nil, &snapshot.FileError{Path: path, Err: snapshot.ErrMissing, Detail: "not in the test reader"}
	}
	if off < 0 {
		return nil, fmt.Errorf("test reader: negative offset %d in %s", off, path)
	}
	off = min(off, int64(len(b)))
	end := int64(len(b))
	if n >= 0 && n < end-off {
		end = off + n
	}
	r.mu.Lock()
	r.calls++
	r.read += end - off
	r.mu.Unlock()
	if r.noCopy {
		return b[off:end:end], nil
	}
	return bytes.Clone(b[off:end]), nil
}

// fullRec is one record of the model a test writes and expects back.
type fullRec struct {
	KG      int
	State   int
	Key     string
	NS      string
	UserKey string // map only
	Value   string // not list
	List    []string
}

var fullStates = []snapshot.StateMeta{
	{Name: "count", Kind: snapshot.KindValue, Value: "int64"},
	{Name: "events", Kind: snapshot.KindList, Value: "string"},
	{Name: "attrs", Kind: snapshot.KindMap, Value: "bytes", UserKey: "string"},
	{Name: "sum", Kind: snapshot.KindReducing, Value: "float64"},
	{Name: "agg", Kind: snapshot.KindAggregating, Value: "json:main.Acc"},
}

func (r fullRec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kg %d state %d key %q ns %q", r.KG, r.State, r.Key, r.NS)
	switch fullStates[r.State].Kind {
	case snapshot.KindList:
		fmt.Fprintf(&b, " list %q", r.List)
	case snapshot.KindMap:
		fmt.Fprintf(&b, " user key %q value %q", r.UserKey, r.Value)
	default:
		fmt.Fprintf(&b, " value %q", r.Value)
	}
	return b.String()
}

func fullSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHECKPOINT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHECKPOINT_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with CHECKPOINT_SEED=%d)", seed, seed)
	return seed
}

func randBytes(r *rand.Rand, maxLen int) string {
	b := make([]byte, r.IntN(maxLen+1))
	for i := range b {
		if r.IntN(3) == 0 {
			b[i] = []byte{0, 1, 0xff, 0x80}[r.IntN(4)]
		} else {
			b[i] = byte(r.Uint32())
		}
	}
	return string(b)
}

// genFull makes records for the key groups of rng: some key groups get none and are skipped
// by the writer (skip), some get none but are begun, the others get records of every kind,
// some of them compressible.
func genFull(r *rand.Rand, rng keygroup.Range) (recs []fullRec, skip map[int]bool) {
	skip = map[int]bool{}
	for kg := rng.Start; kg <= rng.End; kg++ {
		switch r.IntN(5) {
		case 0:
			skip[kg] = true
			continue
		case 1:
			continue // begun, empty
		}
		for range 1 + r.IntN(6) {
			rec := fullRec{KG: kg, State: r.IntN(len(fullStates)), Key: randBytes(r, 8), NS: randBytes(r, 3)}
			val := randBytes(r, 12)
			if r.IntN(3) == 0 {
				val = strings.Repeat("compressible ", 1+r.IntN(40))
			}
			switch fullStates[rec.State].Kind {
			case snapshot.KindList:
				rec.List = []string{}
				for range r.IntN(4) { // the empty list too
					rec.List = append(rec.List, val)
				}
			case snapshot.KindMap:
				rec.UserKey, rec.Value = randBytes(r, 6), val
			default:
				rec.Value = val
			}
			recs = append(recs, rec)
		}
	}
	// The first and the last key groups are skipped, so Finish must write their blocks.
	if len(recs) > 0 {
		skip[rng.Start] = true
		skip[rng.End] = true
		var kept []fullRec
		for _, rec := range recs {
			if rec.KG != rng.Start && rec.KG != rng.End {
				kept = append(kept, rec)
			}
		}
		recs = kept
	}
	return recs, skip
}

func writeFull(t testing.TB, files map[string][]byte, path string, rng keygroup.Range, recs []fullRec, skip map[int]bool, comp snapshot.Compression) *snapshot.KeyedStateHandle {
	t.Helper()
	out := &fullFileOutput{path: path, files: files}
	w := snapshot.NewFullWriter(out, rng, "string", fullStates, comp)
	i := 0
	for kg := rng.Start; kg <= rng.End; kg++ {
		if skip[kg] {
			continue
		}
		if err := w.BeginKeyGroup(kg); err != nil {
			t.Fatalf("BeginKeyGroup(%d): %v", kg, err)
		}
		for ; i < len(recs) && recs[i].KG == kg; i++ {
			rec := recs[i]
			switch fullStates[rec.State].Kind {
			case snapshot.KindList:
				w.List(rec.State, []byte(rec.Key), []byte(rec.NS), len(rec.List))
				for _, e := range rec.List {
					w.ListElement([]byte(e))
				}
			case snapshot.KindMap:
				w.MapEntry(rec.State, []byte(rec.Key), []byte(rec.NS), []byte(rec.UserKey), []byte(rec.Value))
			default:
				w.Value(rec.State, []byte(rec.Key), []byte(rec.NS), []byte(rec.Value))
			}
		}
	}
	if i != len(recs) {
		t.Fatalf("test bug: %d of %d records written", i, len(recs))
	}
	h, err := w.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if !out.closed || out.aborted {
		t.Fatalf("Finish: closed %v, aborted %v", out.closed, out.aborted)
	}
	return h
}

// readFull reads the key groups of h in rng and returns the records as strings, checking that
// key groups come in ascending order, inside both ranges, and that records match the states.
func readFull(t testing.TB, r snapshot.Reader, h *snapshot.KeyedStateHandle, rng keygroup.Range) ([]string, error) {
	t.Helper()
	var got []string
	last := math.MinInt
	want := h.KeyGroupRange.Intersect(rng)
	err := snapshot.ReadKeyGroups(context.Background(), r, h, rng, func(kg int, rec *snapshot.Record) error {
		if kg < last || !want.Contains(kg) {
			t.Errorf("record of key group %d after %d, reading %v", kg, last, want)
		}
		last = kg
		if rec.State < 0 || rec.State >= len(h.States) || rec.Kind != h.States[rec.State].Kind {
			t.Errorf("record of state %d has kind %v", rec.State, rec.Kind)
			return nil
		}
		fr := fullRec{KG: kg, State: rec.State, Key: string(rec.Key), NS: string(rec.Namespace)}
		switch rec.Kind {
		case snapshot.KindList:
			fr.List = []string{}
			for _, e := range rec.List {
				fr.List = append(fr.List, string(e))
			}
			if rec.Value != nil || rec.UserKey != nil {
				t.Errorf("list record with a value or user key: %+v", rec)
			}
		case snapshot.KindMap:
			fr.UserKey, fr.Value = string(rec.UserKey), string(rec.Value)
		default:
			fr.Value = string(rec.Value)
			if rec.UserKey != nil || len(rec.List) != 0 {
				t.Errorf("%v record with a user key or list: %+v", rec.Kind, rec)
			}
		}
		got = append(got, fr.String())
		return nil
	})
	return got, err
}

func expected(recs []fullRec, rng keygroup.Range) []string {
	var out []string
	for _, r := range recs {
		if rng.Contains(r.KG) {
			out = append(out, r.String())
		}
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkLayout(t *testing.T, h *snapshot.KeyedStateHandle, file []byte) {
	t.Helper()
	if len(h.Blocks) != h.KeyGroupRange.Len() {
		t.Fatalf("%d blocks for %d key groups", len(h.Blocks), h.KeyGroupRange.Len())
	}
	if h.File.Size != int64(len(file)) {
		t.Fatalf("handle says %d bytes, file has %d", h.File.Size, len(file))
	}
	if string(file[:12]) != "STRMSTKG\x00\x00\x00\x01" {
		t.Fatalf("header %q", file[:12])
	}
	off := int64(12)
	for i, b := range h.Blocks {
		if b.Offset != off || b.Length < 5 {
			t.Fatalf("block %d at %d+%d, want it at %d", i, b.Offset, b.Length, off)
		}
		blk := file[b.Offset : b.Offset+b.Length]
		if crc := crc32.Checksum(blk[:len(blk)-4], crc32.MakeTable(crc32.Castagnoli)); crc != binary.BigEndian.Uint32(blk[len(blk)-4:]) {
			t.Fatalf("block %d: bad CRC", i)
		}
		off += b.Length
	}
	if off != int64(len(file)) {
		t.Fatalf("blocks end at %d, file at %d", off, len(file))
	}
}

func TestFullRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(fullSeed(t), 1))
	rng := keygroup.Range{Start: 10, End: 25}
	recs, skip := genFull(r, rng)
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionSnappy} {
		t.Run("compression="+string(comp), func(t *testing.T) {
			files := map[string][]byte{}
			path := "chk-3/op-keyed-10-25"
			h := writeFull(t, files, path, rng, recs, skip, comp)
			file := files[path]
			if h.KeyGroupRange != rng || h.KeySerializer != "string" || h.Compression != comp || h.File.Path != path ||
				len(h.States) != len(fullStates) || h.States[2] != fullStates[2] {
				t.Fatalf("handle %+v", h)
			}
			checkLayout(t, h, file)

			// Block compression: empty blocks are 5 bytes, compressible ones are compressed
			// (only with Snappy), incompressible ones are stored as they are.
			compressed := 0
			for i, b := range h.Blocks {
				if comp := file[b.Offset]; comp == 1 {
					compressed++
				} else if comp != 0 {
					t.Fatalf("block %d has compression %d", i, comp)
				}
				if len(expected(recs, keygroup.Range{Start: rng.Start + i, End: rng.Start + i})) == 0 && b.Length != 5 {
					t.Errorf("empty key group %d has a block of %d bytes", rng.Start+i, b.Length)
				}
			}
			if comp == snapshot.CompressionNone && compressed > 0 {
				t.Errorf("%d blocks compressed without compression", compressed)
			}
			if comp == snapshot.CompressionSnappy {
				t.Logf("%d of %d blocks compressed", compressed, len(h.Blocks))
			}

			// Every sub-range, including ones that stick out of the handle's range or miss it.
			for lo := rng.Start - 3; lo <= rng.End+3; lo++ {
				for hi := lo - 1; hi <= rng.End+3; hi++ {
					sub := keygroup.Range{Start: lo, End: hi}
					rd := &fullFileReader{files: files}
					got, err := readFull(t, rd, h, sub)
					if err != nil {
						t.Fatalf("ReadKeyGroups(%v): %v", sub, err)
					}
					if want := expected(recs, sub); !equalStrings(got, want) {
						t.Fatalf("ReadKeyGroups(%v):\n got %q\nwant %q", sub, got, want)
					}
					// Only the header and the blocks of the wanted key groups are read.
					in := rng.Intersect(sub)
					var wantRead int64
					if in.Len() > 0 {
						wantRead = 12
						for kg := in.Start; kg <= in.End; kg++ {
							wantRead += h.Blocks[kg-rng.Start].Length
						}
					}
					if rd.read != wantRead {
						t.Fatalf("ReadKeyGroups(%v) read %d bytes in %d calls, want %d", sub, rd.read, rd.calls, wantRead)
					}
				}
			}
		})
	}
}

// A compressible block is compressed; an incompressible one is stored as it is, even with
// Snappy.
func TestFullCompressionChoice(t *testing.T) {
	r := rand.New(rand.NewPCG(fullSeed(t), 2))
	noise := make([]byte, 300)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	files := map[string][]byte{}
	rng := keygroup.Range{Start: 0, End: 1}
	recs := []fullRec{
		{KG: 0, State: 0, Key: "k", Value: strings.Repeat("z", 1000)},
		{KG: 1, State: 0, Key: "k", Value: string(noise)},
	}
	h := writeFull(t, files, "f", rng, recs, nil, snapshot.CompressionSnappy)
	file := files["f"]
	if c := file[h.Blocks[0].Offset]; c != 1 || h.Blocks[0].Length > 200 {
		t.Errorf("compressible block: compression %d, %d bytes", c, h.Blocks[0].Length)
	}
	if c := file[h.Blocks[1].Offset]; c != 0 {
		t.Errorf("incompressible block: compression %d", c)
	}
	got, err := readFull(t, &fullFileReader{files: files}, h, rng)
	if err != nil || !equalStrings(got, expected(recs, rng)) {
		t.Errorf("read back %q, %v", got, err)
	}
}

// TestFullGolden pins the byte format described at the top of full.go.
func TestFullGolden(t *testing.T) {
	files := map[string][]byte{}
	out := &fullFileOutput{path: "g", files: files}
	w := snapshot.NewFullWriter(out, keygroup.Range{Start: 4, End: 6}, "string", fullStates, snapshot.CompressionNone)
	if err := w.BeginKeyGroup(5); err != nil {
		t.Fatal(err)
	}
	w.Value(0, []byte("k"), nil, []byte("v"))
	w.List(1, []byte("k"), []byte("n"), 2)
	w.ListElement([]byte("a"))
	w.ListElement(nil)
	w.MapEntry(2, nil, nil, []byte("u"), []byte("w"))
	h, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	payload := "\x00\x01k\x00\x01v" + "\x01\x01k\x01n\x02\x01a\x00" + "\x02\x00\x00\x01u\x01w"
	block := func(body string) string {
		crc := crc32.Checksum([]byte(body), crc32.MakeTable(crc32.Castagnoli))
		return body + string(binary.BigEndian.AppendUint32(nil, crc))
	}
	want := "STRMSTKG\x00\x00\x00\x01" + block("\x00") + block("\x00"+payload) + block("\x00")
	if got := string(files["g"]); got != want {
		t.Fatalf("file\n got %q\nwant %q", got, want)
	}
	wantBlocks := []snapshot.Block{{Offset: 12, Length: 5}, {Offset: 17, Length: int64(5 + len(payload))}, {Offset: int64(22 + len(payload)), Length: 5}}
	for i := range wantBlocks {
		if h.Blocks[i] != wantBlocks[i] {
			t.Errorf("blocks %v, want %v", h.Blocks, wantBlocks)
			break
		}
	}
}

func TestFullWriterKeyGroupOrder(t *testing.T) {
	out := &fullFileOutput{path: "o"}
	w := snapshot.NewFullWriter(out, keygroup.Range{Start: 2, End: 5}, "k", fullStates, snapshot.CompressionNone)
	for _, kg := range []int{1, 6, -1} {
		if err := w.BeginKeyGroup(kg); err == nil {
			t.Errorf("BeginKeyGroup(%d) outside [2, 5] succeeded", kg)
		}
	}
	if err := w.BeginKeyGroup(3); err != nil {
		t.Fatal(err)
	}
	for _, kg := range []int{3, 2} {
		if err := w.BeginKeyGroup(kg); err == nil {
			t.Errorf("BeginKeyGroup(%d) after 3 succeeded", kg)
		}
	}
	if err := w.BeginKeyGroup(5); err != nil {
		t.Fatal(err)
	}
	h, err := w.Finish()
	if err != nil || len(h.Blocks) != 4 {
		t.Fatalf("Finish = %+v, %v", h, err)
	}
}

// Without any BeginKeyGroup every key group gets an empty block; an empty range gets none.
func TestFullWriterNoRecords(t *testing.T) {
	files := map[string][]byte{}
	h := writeFull(t, files, "a", keygroup.Range{Start: 0, End: 2}, nil, map[int]bool{0: true, 1: true, 2: true}, snapshot.CompressionSnappy)
	checkLayout(t, h, files["a"])
	for _, b := range h.Blocks {
		if b.Length != 5 {
			t.Errorf("empty block of %d bytes", b.Length)
		}
	}
	if got, err := readFull(t, &fullFileReader{files: files}, h, h.KeyGroupRange); err != nil || len(got) != 0 {
		t.Errorf("read %q, %v", got, err)
	}

	h = writeFull(t, files, "b", keygroup.EmptyRange, nil, nil, snapshot.CompressionNone)
	if len(h.Blocks) != 0 || len(files["b"]) != 12 {
		t.Errorf("empty range: %d blocks, %d bytes", len(h.Blocks), len(files["b"]))
	}
	rd := &fullFileReader{files: files}
	if got, err := readFull(t, rd, h, keygroup.Range{Start: 0, End: 100}); err != nil || len(got) != 0 || rd.calls != 0 {
		t.Errorf("empty range read %q, %v in %d calls", got, err, rd.calls)
	}
}

func TestFullWriterErrors(t *testing.T) {
	// A failing write fails the writer and aborts the file.
	for _, failAt := range []int{5, 12, 13, 20, 60} {
		out := &fullFileOutput{path: "w", failAt: failAt}
		w := snapshot.NewFullWriter(out, keygroup.Range{Start: 0, End: 3}, "k", fullStates, snapshot.CompressionNone)
		var errs []error
		for kg := range 4 {
			errs = append(errs, w.BeginKeyGroup(kg))
			w.Value(0, []byte("key"), nil, []byte(strings.Repeat("v", 10)))
		}
		h, err := w.Finish()
		if !errors.Is(err, errWriteFailed) || h != nil {
			t.Errorf("failAt %d: Finish = %v, %v; want the write error", failAt, h, err)
		}
		if !out.aborted || out.closed {
			t.Errorf("failAt %d: aborted %v, closed %v", failAt, out.aborted, out.closed)
		}
		if failAt < 12 && !errors.Is(errs[1], errWriteFailed) {
			t.Errorf("failAt %d: BeginKeyGroup after a failed header write: %v", failAt, errs[1])
		}
	}
	// A failing Close is returned.
	closeErr := errors.New("close failed")
	w := snapshot.NewFullWriter(&fullFileOutput{path: "c", closeErr: closeErr}, keygroup.Range{Start: 0, End: 0}, "k", fullStates, "")
	if _, err := w.Finish(); !errors.Is(err, closeErr) {
		t.Errorf("Finish with a failing Close: %v", err)
	}
	// Abort aborts the file.
	out := &fullFileOutput{path: "a"}
	snapshot.NewFullWriter(out, keygroup.Range{Start: 0, End: 0}, "k", fullStates, "").Abort()
	if !out.aborted {
		t.Errorf("Abort did not abort the file")
	}
}

func TestFullReadCallbackError(t *testing.T) {
	files := map[string][]byte{}
	recs := []fullRec{{KG: 1, State: 0, Key: "a"}, {KG: 1, State: 0, Key: "b"}, {KG: 2, State: 0, Key: "c"}}
	h := writeFull(t, files, "f", keygroup.Range{Start: 0, End: 3}, recs, nil, "")
	stop := errors.New("stop")
	calls := 0
	err := snapshot.ReadKeyGroups(context.Background(), &fullFileReader{files: files}, h, h.KeyGroupRange, func(int, *snapshot.Record) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("ReadKeyGroups = %v after %d calls; want the callback's error after 1", err, calls)
	}
	// A storage error is returned as it is.
	boom := errors.New("storage is down")
	if _, err := readFull(t, &fullFileReader{files: files, err: boom}, h, h.KeyGroupRange); !errors.Is(err, boom) {
		t.Errorf("ReadKeyGroups with a failing reader: %v", err)
	}
}

func TestFullLargeValue(t *testing.T) {
	// 64 MiB + 1, compressible but not trivially so: a random 4 KiB pattern with a counter.
	r := rand.New(rand.NewPCG(fullSeed(t), 3))
	pattern := make([]byte, 4096)
	for i := range pattern {
		pattern[i] = byte(r.Uint32())
	}
	big := make([]byte, 64<<20+1)
	for off := 0; off < len(big); off += len(pattern) {
		if n := copy(big[off:], pattern); n >= 4 {
			binary.BigEndian.PutUint32(big[off:], uint32(off))
		}
	}
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionSnappy} {
		t.Run("compression="+string(comp), func(t *testing.T) {
			t.Parallel() // memory-bound, and slow under -race: use both cores
			testFullLargeValue(t, big, comp)
		})
	}
}

func testFullLargeValue(t *testing.T, big []byte, comp snapshot.Compression) {
	files := map[string][]byte{}
	out := &fullFileOutput{path: "big", files: files, buf: make([]byte, 0, len(big)+1<<10)}
	rng := keygroup.Range{Start: 7, End: 9}
	w := snapshot.NewFullWriter(out, rng, "string", fullStates, comp)
	if err := w.BeginKeyGroup(8); err != nil {
		t.Fatal(err)
	}
	w.Value(0, []byte("big key"), nil, big)
	w.List(1, []byte("big list"), nil, 2)
	w.ListElement(big[:100])
	w.ListElement(nil)
	if err := w.BeginKeyGroup(9); err != nil {
		t.Fatal(err)
	}
	w.Value(0, []byte("small"), nil, []byte("v"))
	h, err := w.Finish()
	if err != nil {
		t.Fatalf("%q: Finish: %v", comp, err)
	}
	file := files["big"]
	if comp == snapshot.CompressionSnappy && (file[h.Blocks[1].Offset] != 1 || h.Blocks[1].Length > int64(len(big))/2) {
		t.Errorf("%q: the large block was not compressed (%d bytes)", comp, h.Blocks[1].Length)
	}
	var n int
	rd := &fullFileReader{files: files, noCopy: true}
	err = snapshot.ReadKeyGroups(context.Background(), rd, h, keygroup.Range{Start: 8, End: 8}, func(kg int, rec *snapshot.Record) error {
		n++
		switch n {
		case 1:
			if string(rec.Key) != "big key" || !bytes.Equal(rec.Value, big) {
				t.Errorf("%q: large value does not round-trip (%d bytes)", comp, len(rec.Value))
			}
		case 2:
			if len(rec.List) != 2 || !bytes.Equal(rec.List[0], big[:100]) || len(rec.List[1]) != 0 {
				t.Errorf("%q: large list does not round-trip", comp)
			}
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("%q: ReadKeyGroups: %v after %d records", comp, err, n)
	}
	if want := 12 + h.Blocks[1].Length; rd.read != want {
		t.Errorf("%q: read %d bytes, want %d", comp, rd.read, want)
	}
}

// checkFileErr checks that err is a corruption (or missing-file) error naming the file.
func checkFileErr(t *testing.T, what string, err error, path string, sentinels ...error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	ok := false
	for _, s := range sentinels {
		ok = ok || errors.Is(err, s)
	}
	if !ok {
		t.Errorf("%s: %v does not wrap %v", what, err, sentinels)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("%s: %q does not name the file %s", what, err, path)
	}
	var fe *snapshot.FileError
	if !errors.As(err, &fe) || fe.Path != path {
		t.Errorf("%s: %v is not a FileError for %s", what, err, path)
	}
}

func cloneHandle(h *snapshot.KeyedStateHandle) *snapshot.KeyedStateHandle {
	c := *h
	c.Blocks = append([]snapshot.Block(nil), h.Blocks...)
	return &c
}

func TestFullCorruption(t *testing.T) {
	r := rand.New(rand.NewPCG(fullSeed(t), 4))
	rng := keygroup.Range{Start: 0, End: 5}
	var recs []fullRec
	for kg := 1; kg <= 4; kg++ {
		recs = append(recs,
			fullRec{KG: kg, State: 0, Key: "key", Value: strings.Repeat("abc", 10*kg)},
			fullRec{KG: kg, State: 1, Key: randBytes(r, 4), List: []string{"x", "", randBytes(r, 5)}},
			fullRec{KG: kg, State: 2, Key: "k", UserKey: "u", Value: randBytes(r, 20)},
		)
	}
	const path = "job/chk-9/op-keyed-0-5"
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionSnappy} {
		files := map[string][]byte{}
		h := writeFull(t, files, path, rng, recs, nil, comp)
		good := files[path]
		read := func(file []byte, h *snapshot.KeyedStateHandle, rg keygroup.Range) error {
			_, err := readFull(t, &fullFileReader{files: map[string][]byte{path: file}}, h, rg)
			return err
		}
		if err := read(good, h, rng); err != nil {
			t.Fatalf("%q: intact file: %v", comp, err)
		}

		// Every byte is covered by the header check or a block's CRC.
		for i := range good {
			bad := bytes.Clone(good)
			bad[i] ^= byte(1 << (i % 8))
			checkFileErr(t, fmt.Sprintf("%q: bit flipped at byte %d", comp, i), read(bad, h, rng), path, snapshot.ErrCorrupt)
			if i >= 12 {
				// A damaged block does not spoil the other key groups.
				kg := 0
				for kg < len(h.Blocks)-1 && int64(i) >= h.Blocks[kg+1].Offset {
					kg++
				}
				for _, other := range []int{0, 5} {
					if other != kg {
						if err := read(bad, h, keygroup.Range{Start: other, End: other}); err != nil {
							t.Errorf("%q: byte %d of key group %d damaged, reading key group %d: %v", comp, i, kg, other, err)
						}
					}
				}
			}
		}

		// Truncated anywhere: the file is shorter than the metadata says.
		for n := range len(good) {
			checkFileErr(t, fmt.Sprintf("%q: truncated to %d bytes", comp, n), read(good[:n], h, rng), path, snapshot.ErrMissing)
		}
	}
}

func TestFullCorruptionHeaderAndHandle(t *testing.T) {
	files := map[string][]byte{}
	const path = "savepoint-1/op-keyed"
	rng := keygroup.Range{Start: 3, End: 6}
	recs := []fullRec{{KG: 4, State: 0, Key: "a", Value: "1"}, {KG: 5, State: 3, Key: "b", Value: "2"}}
	h := writeFull(t, files, path, rng, recs, nil, "")
	good := files[path]
	read := func(file []byte, h *snapshot.KeyedStateHandle) error {
		_, err := readFull(t, &fullFileReader{files: map[string][]byte{path: file}}, h, rng)
		return err
	}

	badMagic := append([]byte("STRMSTMD"), good[8:]...)
	err := read(badMagic, h)
	checkFileErr(t, "bad magic", err, path, snapshot.ErrCorrupt)
	if err != nil && !strings.Contains(err.Error(), "magic") {
		t.Errorf("bad magic: %v", err)
	}
	badVersion := bytes.Clone(good)
	binary.BigEndian.PutUint32(badVersion[8:], 2)
	err = read(badVersion, h)
	checkFileErr(t, "bad version", err, path, snapshot.ErrCorrupt)
	if err != nil && !strings.Contains(err.Error(), "version 2") {
		t.Errorf("bad version: %v", err)
	}

	if _, err := readFull(t, &fullFileReader{files: map[string][]byte{}}, h, rng); !errors.Is(err, snapshot.ErrMissing) {
		t.Errorf("missing file: %v", err)
	}

	size := int64(len(good))
	for _, tc := range []struct {
		name   string
		mutate func(h *snapshot.KeyedStateHandle)
		want   error // nil: ErrCorrupt or ErrMissing
	}{
		{"last block after the end", func(h *snapshot.KeyedStateHandle) { h.Blocks[3].Offset = size + 100 }, snapshot.ErrMissing},
		{"last block longer than the file", func(h *snapshot.KeyedStateHandle) { h.Blocks[3].Length += 10 }, snapshot.ErrMissing},
		{"huge last block", func(h *snapshot.KeyedStateHandle) { h.Blocks[3].Length = math.MaxInt64 - 50 }, nil},
		{"overflowing last block", func(h *snapshot.KeyedStateHandle) { h.Blocks[3].Length = math.MaxInt64 }, snapshot.ErrCorrupt},
		{"middle block longer", func(h *snapshot.KeyedStateHandle) { h.Blocks[1].Length += 3 }, snapshot.ErrCorrupt},
		{"middle block huge", func(h *snapshot.KeyedStateHandle) { h.Blocks[1].Length = math.MaxInt64 }, snapshot.ErrCorrupt},
		{"middle block negative", func(h *snapshot.KeyedStateHandle) { h.Blocks[1].Length = -3 }, snapshot.ErrCorrupt},
		{"middle block too short", func(h *snapshot.KeyedStateHandle) { h.Blocks[1].Length = 4 }, snapshot.ErrCorrupt},
		{"middle block past the span", func(h *snapshot.KeyedStateHandle) { h.Blocks[1].Offset = size - 2 }, snapshot.ErrCorrupt},
		{"block shifted", func(h *snapshot.KeyedStateHandle) { h.Blocks[1].Offset++ }, snapshot.ErrCorrupt},
		{"blocks swapped", func(h *snapshot.KeyedStateHandle) { h.Blocks[1], h.Blocks[2] = h.Blocks[2], h.Blocks[1] }, snapshot.ErrCorrupt},
		{"first and last swapped", func(h *snapshot.KeyedStateHandle) { h.Blocks[0], h.Blocks[3] = h.Blocks[3], h.Blocks[0] }, snapshot.ErrCorrupt},
		{"block in the header", func(h *snapshot.KeyedStateHandle) { h.Blocks[0] = snapshot.Block{Offset: 0, Length: 17} }, snapshot.ErrCorrupt},
		{"negative offset", func(h *snapshot.KeyedStateHandle) { h.Blocks[0].Offset = -5 }, snapshot.ErrCorrupt},
		{"too few blocks", func(h *snapshot.KeyedStateHandle) { h.Blocks = h.Blocks[:2] }, snapshot.ErrCorrupt},
		{"no blocks", func(h *snapshot.KeyedStateHandle) { h.Blocks = nil }, snapshot.ErrCorrupt},
		{"too many blocks", func(h *snapshot.KeyedStateHandle) { h.Blocks = append(h.Blocks, h.Blocks[0]) }, snapshot.ErrCorrupt},
		{"fewer states", func(h *snapshot.KeyedStateHandle) { h.States = h.States[:1] }, snapshot.ErrCorrupt},
	} {
		bad := cloneHandle(h)
		tc.mutate(bad)
		if tc.want == nil {
			checkFileErr(t, tc.name, read(good, bad), path, snapshot.ErrCorrupt, snapshot.ErrMissing)
		} else {
			checkFileErr(t, tc.name, read(good, bad), path, tc.want)
		}
	}
}

// fullCrafted builds a file from hand-made blocks (with correct CRCs) and its handle.
func fullCrafted(path string, bodies ...[]byte) ([]byte, *snapshot.KeyedStateHandle) {
	file := []byte("STRMSTKG\x00\x00\x00\x01")
	h := &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 0, End: len(bodies) - 1}, States: fullStates,
		File: snapshot.FileRef{Path: path}}
	for _, body := range bodies {
		off := int64(len(file))
		file = append(file, body...)
		file = binary.BigEndian.AppendUint32(file, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
		h.Blocks = append(h.Blocks, snapshot.Block{Offset: off, Length: int64(len(file)) - off})
	}
	h.File.Size = int64(len(file))
	return file, h
}

// Blocks with valid checksums whose contents are wrong.
func TestFullCorruptPayloads(t *testing.T) {
	const path = "chk-1/crafted"
	good := []byte("\x00" + "\x00\x01k\x00\x01v")
	snappy := func(payload string) []byte { return append([]byte{1}, s2.EncodeSnappy(nil, []byte(payload))...) }
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"unknown compression", []byte("\x07\x00\x01k\x00\x01v")},
		{"empty body", []byte{}},
		{"state out of range", []byte("\x00\x05\x01k\x00\x01v")},
		{"huge state index", []byte("\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01k\x00\x01v")},
		{"truncated varint", []byte("\x00\x80")},
		{"overlong varint", []byte("\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")},
		{"key longer than the block", []byte("\x00\x00\x09k")},
		{"huge key length", []byte("\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x7f")},
		{"no namespace", []byte("\x00\x00\x01k")},
		{"no value", []byte("\x00\x00\x01k\x00")},
		{"value too long", []byte("\x00\x00\x01k\x00\x05v")},
		{"list of too many elements", []byte("\x00\x01\x01k\x00\x05\x01a")},
		{"list of huge count", []byte("\x00\x01\x01k\x00\xff\xff\xff\xff\x0f\x01a")},
		{"list element truncated", []byte("\x00\x01\x01k\x00\x02\x01a\x03b")},
		{"map without value", []byte("\x00\x02\x01k\x00\x01u")},
		{"map without user key", []byte("\x00\x02\x01k\x00")},
		{"trailing garbage", []byte("\x00\x00\x01k\x00\x01v\x00")},
		{"snappy garbage", []byte("\x01\x05garbage")},
		{"snappy bad length varint", []byte("\x01\xff\xff\xff\xff\xff\xff")},
		{"snappy huge length", append([]byte{1}, binary.AppendUvarint(nil, 1<<31)...)},
		{"snappy length past the ratio", append(append([]byte{1}, binary.AppendUvarint(nil, 1<<20)...), 0xfe, 0xff, 0xff, 0xff, 0x03)},
		{"snappy too short", snappy("\x00\x01k\x00\x01v")[:4]},
		{"snappy of a bad payload", snappy("\x00\x09k\x00\x01v")},
	} {
		file, h := fullCrafted(path, good, tc.body, good)
		_, err := readFull(t, &fullFileReader{files: map[string][]byte{path: file}}, h, h.KeyGroupRange)
		checkFileErr(t, tc.name, err, path, snapshot.ErrCorrupt)
		if err != nil && !strings.Contains(err.Error(), "key group 1") {
			t.Errorf("%s: %q does not name key group 1", tc.name, err)
		}
		// The blocks around it are fine.
		if got, err := readFull(t, &fullFileReader{files: map[string][]byte{path: file}}, h, keygroup.Range{Start: 2, End: 2}); err != nil || len(got) != 1 {
			t.Errorf("%s: key group 2: %q, %v", tc.name, got, err)
		}
	}
	// A good Snappy block is read.
	file, h := fullCrafted(path, snappy("\x00\x01k\x00\x01v\x01\x01k\x00\x00"))
	got, err := readFull(t, &fullFileReader{files: map[string][]byte{path: file}}, h, h.KeyGroupRange)
	if err != nil || len(got) != 2 {
		t.Errorf("crafted Snappy block: %q, %v", got, err)
	}
}

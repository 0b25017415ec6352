package checkpoint_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/keygroup"
)

// The golden checkpoints under testdata/golden-v<N> were written by the code of metadata
// format N (job "golden", checkpoint 1): an operator state handle, a full keyed handle and an
// incremental handle with a shared file, a private file and extra records. They must keep
// restoring. golden-v1 was written before files had checksums (commit 05f3bdc);
// STREAMSTATE_WRITE_GOLDEN=1 go test -run TestWriteGolden ./checkpoint/ writes the one of the
// current format if it does not exist yet.

// goldenStates are the states of the golden full handle.
var goldenStates = []checkpoint.StateMeta{{Name: "count", Kind: checkpoint.KindValue, Value: "int64"},
	{Name: "tags", Kind: checkpoint.KindList, Value: "string"}}

var goldenTimerStates = []checkpoint.StateMeta{{Name: "timers", Kind: checkpoint.KindTimers, Value: "timer-ts-v1"}}

const (
	goldenShared  = "shared sst bytes of the golden checkpoint"
	goldenPrivate = "manifest bytes"
)

// TestWriteGolden writes testdata/golden-v<MetadataVersion> when STREAMSTATE_WRITE_GOLDEN is
// set and it does not exist.
func TestWriteGolden(t *testing.T) {
	if os.Getenv("STREAMSTATE_WRITE_GOLDEN") == "" {
		t.Skip("set STREAMSTATE_WRITE_GOLDEN=1 to write the golden checkpoint of the current format")
	}
	dir, err := filepath.Abs(fmt.Sprintf("testdata/golden-v%d", checkpoint.MetadataVersion))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists; a golden checkpoint is never rewritten", dir)
	}
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+filepath.ToSlash(dir))
	must(t, err)
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "golden", checkpoint.Options{})
	must(t, err)
	p, err := cps.Begin(1)
	must(t, err)
	f, err := p.Create(ctx, "window-keyed-0-7")
	must(t, err)
	full, err := checkpoint.WriteFull(ctx, f, keygroup.Range{Start: 0, End: 7}, "string", goldenStates, checkpoint.CompressionSnappy, 1,
		func(kg int, b *checkpoint.BlockBuilder) error {
			if kg%2 == 0 {
				b.Value(0, []byte{'k', byte('0' + kg)}, nil, []byte{0, 0, 0, 0, 0, 0, 0, byte(kg)})
				b.List(1, []byte{'k', byte('0' + kg)}, []byte("ns"), 2)
				b.ListElement([]byte("a"))
				b.ListElement([]byte("bb"))
			}
			return nil
		})
	must(t, err)
	of, err := p.Create(ctx, "source-operator-0")
	must(t, err)
	ow := checkpoint.NewOperatorWriter(of, 0, 1)
	must(t, ow.BeginState(checkpoint.OperatorStateMeta{Name: "offsets", Mode: checkpoint.ModeSplit, Value: "int64"}, 2))
	ow.Element([]byte{1})
	ow.Element([]byte{2, 3})
	must(t, ow.BeginState(checkpoint.OperatorStateMeta{Name: "rules", Mode: checkpoint.ModeBroadcast, Value: "string", UserKey: "string"}, 1))
	ow.Entry([]byte("r"), []byte("rule"))
	oh, err := ow.Finish()
	must(t, err)
	upload := func(create func() (checkpoint.OutputStream, error), content string) checkpoint.FileRef {
		w, err := create()
		must(t, err)
		_, err = w.Write([]byte(content))
		must(t, err)
		ref, err := w.Close()
		must(t, err)
		return ref
	}
	sref := upload(func() (checkpoint.OutputStream, error) { return p.CreateShared(ctx, "db-000005.sst") }, goldenShared)
	pref := upload(func() (checkpoint.OutputStream, error) { return p.Create(ctx, "db-MANIFEST-000001") }, goldenPrivate)
	xf, err := p.Create(ctx, "db-timers")
	must(t, err)
	extra, err := checkpoint.WriteFull(ctx, xf, keygroup.Range{Start: 8, End: 15}, "string", goldenTimerStates, checkpoint.CompressionNone, 1,
		func(kg int, b *checkpoint.BlockBuilder) error {
			if kg == 9 {
				b.Value(0, []byte("t"), []byte("w"), []byte{0x80, 0, 0, 0, 0, 0, 0, 42})
			}
			return nil
		})
	must(t, err)
	inc := &checkpoint.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 8, End: 15}, KeySerializer: "string", States: goldenTimerStates,
		Incremental: &checkpoint.IncrementalHandle{Backend: "lsm/pebble-v2",
			Shared:  []checkpoint.IncrementalFile{{Name: "000005.sst", Path: sref.Path, Size: sref.Size, SHA256: sref.SHA256}},
			Private: []checkpoint.IncrementalFile{{Name: "MANIFEST-000001", Path: pref.Path, Size: pref.Size, SHA256: pref.SHA256}},
			Extra:   extra}}
	must(t, p.Complete(ctx, &checkpoint.Metadata{TimestampMs: 1_780_000_000_000, Operators: []*checkpoint.OperatorState{
		{ID: "source", Parallelism: 1, MaxParallelism: 16, Operator: []*checkpoint.OperatorStateHandle{oh}},
		{ID: "window", Parallelism: 2, MaxParallelism: 16, Keyed: []*checkpoint.KeyedStateHandle{full, inc}},
	}}))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// copyGolden copies testdata/<name> to a temporary directory and opens it as file:// storage.
func copyGolden(t *testing.T, name string) (checkpoint.Storage, string) {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	st, err := blobstore.OpenURL(context.Background(), "file://"+filepath.ToSlash(dst))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st, dst
}

// TestGolden restores the golden checkpoint of every metadata format: format 1 without
// checksums, format 2 with one for every file, which Check verifies. The current format's
// metadata encodes to the same bytes again.
func TestGolden(t *testing.T) {
	for _, v := range []int{checkpoint.MetadataVersionNoChecksums, checkpoint.MetadataVersion} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			ctx := context.Background()
			st, _ := copyGolden(t, fmt.Sprintf("golden-v%d", v))
			cps, err := checkpoint.Open(ctx, st, "golden", checkpoint.Options{})
			must(t, err)
			m, err := cps.Restore(ctx, func(*checkpoint.Metadata) error { return nil })
			must(t, err)
			if m.Version != v || m.CheckpointID != 1 || m.JobID != "golden" || len(m.Files()) != 5 {
				t.Fatalf("metadata version %d, checkpoint %d of job %q, %d files", m.Version, m.CheckpointID, m.JobID, len(m.Files()))
			}
			for _, f := range m.Files() {
				if (f.SHA256 != "") != (v >= 2) {
					t.Errorf("format %d: file %s with checksum %q", v, f.Path, f.SHA256)
				}
			}
			checkGoldenContent(t, cps.Reader(), m)
			rep, err := checkpoint.Check(ctx, st, "golden/", m)
			must(t, err)
			if wantUnverified := map[bool]int{true: 5, false: 0}[v == 1]; !rep.OK() || rep.Files != 5 || rep.Unverified != wantUnverified {
				t.Errorf("Check: %+v; want OK, 5 files, %d unverified", rep, wantUnverified)
			}
			if v != checkpoint.MetadataVersion {
				return
			}
			raw, err := st.ReadRange(ctx, "golden/chk-1/_metadata", 0, -1)
			must(t, err)
			again, err := checkpoint.EncodeMetadata(m)
			must(t, err)
			if !bytes.Equal(raw, again) {
				t.Errorf("the golden metadata encodes differently:\n%s\n%s", raw[16:], again[16:])
			}
		})
	}
}

// checkGoldenContent reads every handle of the golden checkpoint m and checks what it holds.
func checkGoldenContent(t *testing.T, r checkpoint.Reader, m *checkpoint.Metadata) {
	t.Helper()
	ctx := context.Background()
	src, win := m.Operator("source"), m.Operator("window")
	if src == nil || win == nil || len(src.Operator) != 1 || len(win.Keyed) != 2 {
		t.Fatalf("operators: %+v", m.Operators)
	}
	got, err := readOperator(src.Operator[0], r, nil)
	must(t, err)
	want := []opState{
		{Meta: checkpoint.OperatorStateMeta{Name: "offsets", Mode: checkpoint.ModeSplit, Value: "int64"}, Values: []string{"\x01", "\x02\x03"}},
		{Meta: checkpoint.OperatorStateMeta{Name: "rules", Mode: checkpoint.ModeBroadcast, Value: "string", UserKey: "string"},
			Keys: []string{"r"}, Values: []string{"rule"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("operator state %+v, want %+v", got, want)
	}
	var recs []string
	must(t, checkpoint.ReadKeyGroups(ctx, r, win.Keyed[0], keygroup.Range{Start: 0, End: 15}, func(kg int, rec *checkpoint.Record) error {
		recs = append(recs, fmt.Sprintf("%d %s %q %q %x %q", kg, rec.Kind, rec.Key, rec.Namespace, rec.Value, rec.List))
		return nil
	}))
	var wantRecs []string
	for kg := 0; kg < 8; kg += 2 {
		wantRecs = append(wantRecs, fmt.Sprintf(`%d value "k%d" "" 000000000000000%d []`, kg, kg, kg),
			fmt.Sprintf(`%d list "k%d" "ns"  ["a" "bb"]`, kg, kg))
	}
	if strings.Join(recs, "\n") != strings.Join(wantRecs, "\n") {
		t.Errorf("full handle records:\n%s\nwant\n%s", strings.Join(recs, "\n"), strings.Join(wantRecs, "\n"))
	}
	ih := win.Keyed[1].Incremental
	if ih == nil || len(ih.Shared) != 1 || len(ih.Private) != 1 || ih.Extra == nil {
		t.Fatalf("incremental handle %+v", win.Keyed[1])
	}
	for f, content := range map[checkpoint.IncrementalFile]string{ih.Shared[0]: goldenShared, ih.Private[0]: goldenPrivate} {
		b, err := r.ReadRange(ctx, f.Path, 0, f.Size)
		must(t, err)
		if string(b) != content {
			t.Errorf("%s holds %q, want %q", f.Path, b, content)
		}
	}
	recs = nil
	must(t, checkpoint.ReadKeyGroups(ctx, r, ih.Extra, ih.Extra.KeyGroupRange, func(kg int, rec *checkpoint.Record) error {
		recs = append(recs, fmt.Sprintf("%d %s %q %q %x", kg, rec.Kind, rec.Key, rec.Namespace, rec.Value))
		return nil
	}))
	if w := `9 timers "t" "w" 800000000000002a`; len(recs) != 1 || recs[0] != w {
		t.Errorf("extra records %q, want %q", recs, w)
	}
}

// TestGoldenChecksumsEnforced: the current format's golden metadata with a checksum removed,
// or a format 1 metadata given one, is corrupt.
func TestGoldenChecksumsEnforced(t *testing.T) {
	raw, err := os.ReadFile(fmt.Sprintf("testdata/golden-v%d/golden/chk-1/_metadata", checkpoint.MetadataVersion))
	must(t, err)
	body := string(raw[16:])
	i := strings.Index(body, `,"sha256":"`)
	if i < 0 {
		t.Fatal("no checksum in the golden metadata")
	}
	stripped := body[:i] + body[i+len(`,"sha256":"`)+64+1:]
	checkMetadataErr(t, "checksum removed", wrapMetadataBody(checkpoint.MetadataVersion, []byte(stripped)), "has no checksum")
	v1 := strings.Replace(body, `{"version":2`, `{"version":1`, 1)
	checkMetadataErr(t, "format 1 with checksums", wrapMetadataBody(checkpoint.MetadataVersionNoChecksums, []byte(v1)), "which metadata format 1 does not record")
}

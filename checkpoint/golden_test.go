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
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// The golden checkpoints under testdata/golden-v<N> were written by the code of metadata
// format N (job "golden", checkpoint 1): an operator state handle, a full keyed handle and an
// incremental handle with a shared file, a private file and extra records. They must keep
// restoring. golden-v1 was written before files had checksums (commit 05f3bdc);
// STREAMSTATE_WRITE_GOLDEN=1 go test -run TestWriteGolden ./checkpoint/ writes the one of the
// current format if it does not exist yet.

// goldenStates are the states of the golden full handle.
var goldenStates = []snapshot.StateMeta{{Name: "count", Kind: snapshot.KindValue, Value: "int64"},
	{Name: "tags", Kind: snapshot.KindList, Value: "string"}}

var goldenTimerStates = []snapshot.StateMeta{{Name: "timers", Kind: snapshot.KindTimers, Value: "timer-ts-v1"}}

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
	dir, err := filepath.Abs(fmt.Sprintf("testdata/golden-v%d", snapshot.MetadataVersion))
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
	full, err := snapshot.WriteFull(ctx, f, keygroup.Range{Start: 0, End: 7}, "string", goldenStates, snapshot.CompressionSnappy, 1,
		func(kg int, b *snapshot.BlockBuilder) error {
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
	ow := snapshot.NewOperatorWriter(of, 0, 1)
	must(t, ow.BeginState(snapshot.OperatorStateMeta{Name: "offsets", Mode: snapshot.ModeSplit, Value: "int64"}, 2))
	ow.Element([]byte{1})
	ow.Element([]byte{2, 3})
	must(t, ow.BeginState(snapshot.OperatorStateMeta{Name: "rules", Mode: snapshot.ModeBroadcast, Value: "string", UserKey: "string"}, 1))
	ow.Entry([]byte("r"), []byte("rule"))
	oh, err := ow.Finish()
	must(t, err)
	upload := func(create func() (snapshot.OutputStream, error), content string) snapshot.FileRef {
		w, err := create()
		must(t, err)
		_, err = w.Write([]byte(content))
		must(t, err)
		ref, err := w.Close()
		must(t, err)
		return ref
	}
	sref := upload(func() (snapshot.OutputStream, error) { return p.CreateShared(ctx, "db-000005.sst") }, goldenShared)
	pref := upload(func() (snapshot.OutputStream, error) { return p.Create(ctx, "db-MANIFEST-000001") }, goldenPrivate)
	xf, err := p.Create(ctx, "db-timers")
	must(t, err)
	extra, err := snapshot.WriteFull(ctx, xf, keygroup.Range{Start: 8, End: 15}, "string", goldenTimerStates, snapshot.CompressionNone, 1,
		func(kg int, b *snapshot.BlockBuilder) error {
			if kg == 9 {
				b.Value(0, []byte("t"), []byte("w"), []byte{0x80, 0, 0, 0, 0, 0, 0, 42})
			}
			return nil
		})
	must(t, err)
	inc := &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 8, End: 15}, KeySerializer: "string", States: goldenTimerStates,
		Incremental: &snapshot.IncrementalHandle{Backend: "lsm/pebble-v2",
			Shared:  []snapshot.IncrementalFile{{Name: "000005.sst", Path: sref.Path, Size: sref.Size, SHA256: sref.SHA256}},
			Private: []snapshot.IncrementalFile{{Name: "MANIFEST-000001", Path: pref.Path, Size: pref.Size, SHA256: pref.SHA256}},
			Extra:   extra}}
	must(t, p.Complete(ctx, &snapshot.Metadata{TimestampMs: 1_780_000_000_000, Operators: []*snapshot.OperatorState{
		{ID: "source", Parallelism: 1, MaxParallelism: 16, Operator: []*snapshot.OperatorStateHandle{oh}},
		{ID: "window", Parallelism: 2, MaxParallelism: 16, Keyed: []*snapshot.KeyedStateHandle{full, inc}},
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
	for _, v := range []int{snapshot.MetadataVersionNoChecksums, snapshot.MetadataVersion} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			ctx := context.Background()
			st, _ := copyGolden(t, fmt.Sprintf("golden-v%d", v))
			cps, err := checkpoint.Open(ctx, st, "golden", checkpoint.Options{})
			must(t, err)
			m, err := cps.Restore(ctx, func(*snapshot.Metadata) error { return nil })
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
			if v != snapshot.MetadataVersion {
				return
			}
			raw, err := st.ReadRange(ctx, "golden/chk-1/_metadata", 0, -1)
			must(t, err)
			again, err := snapshot.EncodeMetadata(m)
			must(t, err)
			if !bytes.Equal(raw, again) {
				t.Errorf("the golden metadata encodes differently:\n%s\n%s", raw[16:], again[16:])
			}
		})
	}
}

// checkGoldenContent reads every handle of the golden checkpoint m and checks what it holds.
func checkGoldenContent(t *testing.T, r snapshot.Reader, m *snapshot.Metadata) {
	t.Helper()
	ctx := context.Background()
	src, win := m.Operator("source"), m.Operator("window")
	if src == nil || win == nil || len(src.Operator) != 1 || len(win.Keyed) != 2 {
		t.Fatalf("operators: %+v", m.Operators)
	}
	h := src.Operator[0]
	secs, err := snapshot.ReadOperatorSections(ctx, r, h, nil)
	must(t, err)
	var got []string
	for i, sec := range secs {
		m := h.States[i]
		got = append(got, fmt.Sprintf("%s %s %s %s keys %q values %q", m.Name, m.Mode, m.Value, m.UserKey, sec.Keys, sec.Values))
	}
	want := []string{
		fmt.Sprintf("offsets %s int64  keys [] values %q", snapshot.ModeSplit, [][]byte{{1}, {2, 3}}),
		fmt.Sprintf("rules %s string string keys %q values %q", snapshot.ModeBroadcast, [][]byte{[]byte("r")}, [][]byte{[]byte("rule")}),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("operator state %q, want %q", got, want)
	}
	var recs []string
	must(t, snapshot.ReadKeyGroups(ctx, r, win.Keyed[0], keygroup.Range{Start: 0, End: 15}, func(kg int, rec *snapshot.Record) error {
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
	for f, content := range map[snapshot.IncrementalFile]string{ih.Shared[0]: goldenShared, ih.Private[0]: goldenPrivate} {
		b, err := r.ReadRange(ctx, f.Path, 0, f.Size)
		must(t, err)
		if string(b) != content {
			t.Errorf("%s holds %q, want %q", f.Path, b, content)
		}
	}
	recs = nil
	must(t, snapshot.ReadKeyGroups(ctx, r, ih.Extra, ih.Extra.KeyGroupRange, func(kg int, rec *snapshot.Record) error {
		recs = append(recs, fmt.Sprintf("%d %s %q %q %x", kg, rec.Kind, rec.Key, rec.Namespace, rec.Value))
		return nil
	}))
	if w := `9 timers "t" "w" 800000000000002a`; len(recs) != 1 || recs[0] != w {
		t.Errorf("extra records %q, want %q", recs, w)
	}
}

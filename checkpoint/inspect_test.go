package checkpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// inTake completes checkpoint id of c with one operator: a full keyed handle over every key
// group and one operator state handle.
func inTake(t *testing.T, c *checkpoint.Checkpoints, id int64) *snapshot.Metadata {
	t.Helper()
	ctx := context.Background()
	p, err := c.Begin(id)
	if err != nil {
		t.Fatal(err)
	}
	rng := keygroup.Range{Start: 0, End: 7}
	out, err := p.Create(ctx, "keyed")
	if err != nil {
		t.Fatal(err)
	}
	w := snapshot.NewFullWriter(out, rng, "string", []snapshot.StateMeta{{Name: "count", Kind: snapshot.KindValue, Value: "int64"}}, snapshot.CompressionSnappy)
	for kg := range rng.All() {
		if err := w.BeginKeyGroup(kg); err != nil {
			t.Fatal(err)
		}
		w.Value(0, fmt.Appendf(nil, "key-%d", kg), nil, []byte(strings.Repeat("v", 100)))
	}
	kh, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	out, err = p.Create(ctx, "op")
	if err != nil {
		t.Fatal(err)
	}
	ow := snapshot.NewOperatorWriter(out, 0, 1)
	if err := ow.BeginState(snapshot.OperatorStateMeta{Name: "offsets", Mode: snapshot.ModeSplit, Value: "int64"}, 1); err != nil {
		t.Fatal(err)
	}
	ow.Element([]byte("12345678"))
	oh, err := ow.Finish()
	if err != nil {
		t.Fatal(err)
	}
	m := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 8,
		Keyed: []*snapshot.KeyedStateHandle{kh}, Operator: []*snapshot.OperatorStateHandle{oh}}}}
	if err := p.Complete(ctx, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func inPut(t *testing.T, st checkpoint.Storage, name string, b []byte) {
	t.Helper()
	w, err := st.Create(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestScan(t *testing.T) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := checkpoint.Open(ctx, st, "a", checkpoint.Options{NumRetained: 2})
	if err != nil {
		t.Fatal(err)
	}
	inTake(t, a, 1)
	inTake(t, a, 2)
	if _, err := a.Begin(3); err != nil { // in progress: one file, no metadata
		t.Fatal(err)
	}
	inPut(t, st, "a/chk-3/keyed-0", []byte("x"))
	inPut(t, st, "a/chk-03/_metadata", []byte("not canonical")) // ignored
	b, err := checkpoint.Open(ctx, st, "b", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inTake(t, b, 7)
	inPut(t, st, "sp/_metadata", []byte("a savepoint"))
	inPut(t, st, "sp/keyed-1", []byte("its data"))

	before := inNames(t, st)
	l, err := checkpoint.Scan(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := inNames(t, st); !slices.Equal(got, before) {
		t.Errorf("Scan changed the storage: %v, was %v", got, before)
	}
	if len(l.Jobs) != 2 || l.Jobs[0].JobID != "a" || l.Jobs[1].JobID != "b" {
		t.Fatalf("jobs: %+v", l.Jobs)
	}
	want := []checkpoint.CheckpointDir{{ID: 1, Complete: true, Files: 3}, {ID: 2, Complete: true, Files: 3}, {ID: 3, Files: 1}}
	if !slices.Equal(l.Job("a").Checkpoints, want) {
		t.Errorf("job a: %+v, want %+v", l.Job("a").Checkpoints, want)
	}
	if got := l.Job("a").Completed(); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("job a completed: %v", got)
	}
	if got := l.Job("b").Completed(); !slices.Equal(got, []int64{7}) || l.Job("b").Dir() != "b/" {
		t.Errorf("job b: %+v", l.Job("b"))
	}
	if l.Job("c") != nil {
		t.Error("job c found")
	}
	if !slices.Equal(l.Savepoints, []string{"sp/"}) {
		t.Errorf("savepoints: %q", l.Savepoints)
	}

	// A job's directory as the root.
	jst := &inPrefixed{Storage: st, prefix: "a/"}
	l, err = checkpoint.Scan(ctx, jst)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Jobs) != 1 || l.Jobs[0].JobID != "" || l.Jobs[0].Dir() != "" || !slices.Equal(l.Jobs[0].Completed(), []int64{1, 2}) {
		t.Errorf("job directory as root: %+v", l.Jobs)
	}
}

func inNames(t *testing.T, st checkpoint.Storage) []string {
	t.Helper()
	names, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// inPrefixed is st seen from one of its directories (read-only use).
type inPrefixed struct {
	checkpoint.Storage
	prefix string
}

func (s *inPrefixed) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := s.Storage.List(ctx, s.prefix+prefix)
	for i := range names {
		names[i] = strings.TrimPrefix(names[i], s.prefix)
	}
	return names, err
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := inTake(t, c, 1)
	kh, oh := m.Operators[0].Keyed[0], m.Operators[0].Operator[0]

	rep, err := checkpoint.Check(ctx, st, "job/", m)
	if err != nil || !rep.OK() {
		t.Fatalf("intact checkpoint: %v, %v", rep.Problems, err)
	}
	if rep.Files != 2 || rep.Bytes != kh.File.Size+oh.File.Size {
		t.Errorf("checked %d files, %d bytes; want 2, %d", rep.Files, rep.Bytes, kh.File.Size+oh.File.Size)
	}

	read := func(p string) []byte {
		b, err := st.ReadRange(ctx, "job/"+p, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	keyed, op := read(kh.File.Path), read(oh.File.Path)
	// v1 is m as metadata format 1 wrote it: without checksums, so that only the blocks'
	// and sections' CRC-32C catch a flipped byte. Both formats name the damaged block.
	v1 := stripChecksums(t, m)
	for _, tc := range []struct {
		name    string
		damage  func()
		file    string
		wantErr error
		detail  string
	}{
		{"flipped byte in a block", func() {
			b := slices.Clone(keyed)
			b[kh.Blocks[5].Offset+1] ^= 0x40
			inPut(t, st, "job/"+kh.File.Path, b)
		}, kh.File.Path, snapshot.ErrCorrupt, "checksum mismatch in the block of key group 5"},
		{"flipped byte in the header", func() {
			b := slices.Clone(keyed)
			b[0] ^= 0x01
			inPut(t, st, "job/"+kh.File.Path, b)
		}, kh.File.Path, snapshot.ErrCorrupt, "bad magic"},
		{"truncated operator state", func() {
			inPut(t, st, "job/"+oh.File.Path, op[:len(op)-3])
		}, oh.File.Path, snapshot.ErrMissing, "truncated"},
		{"longer file", func() {
			inPut(t, st, "job/"+oh.File.Path, append(slices.Clone(op), 0))
		}, oh.File.Path, snapshot.ErrCorrupt, "the metadata says"},
		{"deleted file", func() {
			if err := st.Delete(ctx, "job/"+kh.File.Path); err != nil {
				t.Fatal(err)
			}
		}, kh.File.Path, snapshot.ErrMissing, ""},
		{"operator section", func() {
			b := slices.Clone(op)
			b[len(b)-5] ^= 1
			inPut(t, st, "job/"+oh.File.Path, b)
		}, oh.File.Path, snapshot.ErrCorrupt, `operator state "offsets"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inPut(t, st, "job/"+kh.File.Path, keyed)
			inPut(t, st, "job/"+oh.File.Path, op)
			tc.damage()
			for _, md := range []*snapshot.Metadata{m, v1} {
				detail := tc.detail
				rep, err := checkpoint.Check(ctx, st, "job/", md)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Problems) != 1 {
					t.Fatalf("format %d: problems: %v, want one", md.Version, rep.Problems)
				}
				var fe *snapshot.FileError
				if p := rep.Problems[0]; !errors.As(p, &fe) || fe.Path != "job/"+tc.file || !errors.Is(p, tc.wantErr) || !strings.Contains(p.Error(), detail) {
					t.Errorf("format %d: problem %v; want a FileError of job/%s wrapping %v mentioning %q", md.Version, p, tc.file, tc.wantErr, detail)
				}
			}
		})
	}
	inPut(t, st, "job/"+kh.File.Path, keyed)
	inPut(t, st, "job/"+oh.File.Path, op)
	if rep, err := checkpoint.Check(ctx, st, "job/", v1); err != nil || !rep.OK() || rep.Unverified != 2 {
		t.Errorf("intact format 1 checkpoint: %+v, %v; want OK with 2 unverified files", rep, err)
	}

	// Every bad file is reported, not only the first.
	inPut(t, st, "job/"+kh.File.Path, keyed[:20])
	if err := st.Delete(ctx, "job/"+oh.File.Path); err != nil {
		t.Fatal(err)
	}
	rep, err = checkpoint.Check(ctx, st, "job/", m)
	if err != nil || len(rep.Problems) != 2 {
		t.Errorf("two bad files: %v, %v", rep.Problems, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := checkpoint.Check(cctx, st, "job/", m); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

// stripChecksums returns m as metadata format 1 (MetadataVersionNoChecksums) records it: the
// same handles without checksums, decoded from format 1 bytes.
func stripChecksums(t testing.TB, m *snapshot.Metadata) *snapshot.Metadata {
	t.Helper()
	c := *m
	c.Version = snapshot.MetadataVersionNoChecksums
	body, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	body = regexp.MustCompile(`,"sha256":"[0-9a-f]{64}"`).ReplaceAll(body, nil)
	v1, err := snapshot.DecodeMetadata("v1", checkpointtest.WrapMetadataBody(snapshot.MetadataVersionNoChecksums, body))
	if err != nil {
		t.Fatal(err)
	}
	return v1
}

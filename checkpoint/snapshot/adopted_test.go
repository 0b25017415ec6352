package snapshot_test

import (
	"encoding/json"
	"path"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

func TestValidAdoptedShared(t *testing.T) {
	for _, p := range []string{"../a/shared/x.sst", "../savepoints/sp-1/shared/op-000012.sst", "../a/b/c/shared/x"} {
		if err := snapshot.ValidAdoptedShared(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{
		"a/shared/x", "../", "../shared/x", "../../a/shared/x", "../a/../shared/x", "../a/shared/../x",
		"../a/shared/", "../a/shared/_metadata", "../a/chk-1/x", "../a//shared/x", "../a/./shared/x",
		`../a\b/shared/x`, "../a/shared/x/", "..//a/shared/x",
	} {
		if err := snapshot.ValidAdoptedShared(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

// adoptedMetadata is checkpoint 7 of job j with one incremental handle whose shared file is at
// shared and whose private file is at private.
func adoptedMetadata(j, shared, private string, savepoint bool) *snapshot.Metadata {
	sum := strings.Repeat("ab", 32)
	h := &snapshot.KeyedStateHandle{KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializer: "k",
		States: []snapshot.StateMeta{{Name: "v", Kind: snapshot.KindValue, Value: "string"}},
		Incremental: &snapshot.IncrementalHandle{Backend: "lsm/pebble-v2",
			Shared:  []snapshot.IncrementalFile{{Name: "000012.sst", Path: shared, Size: 10, SHA256: sum}},
			Private: []snapshot.IncrementalFile{{Name: "MANIFEST-000001", Path: private, Size: 10, SHA256: sum}}}}
	return &snapshot.Metadata{Version: snapshot.MetadataVersion, JobID: j, CheckpointID: 7, Savepoint: savepoint,
		Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128, Keyed: []*snapshot.KeyedStateHandle{h}}}}
}

// TestDecodeMetadataAdopted: a checkpoint's shared files may be adopted from elsewhere in the
// storage; nothing else may, and an adopted path never leaves the storage root, names the
// job's own directory or appears in a savepoint.
func TestDecodeMetadataAdopted(t *testing.T) {
	m := adoptedMetadata("b", "../a/shared/x-000012.sst", "chk-7/MANIFEST", false)
	b, err := snapshot.EncodeMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := snapshot.DecodeMetadata("m", b)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Files()[0].Path; p != "../a/shared/x-000012.sst" {
		t.Fatalf("adopted path decoded as %q", p)
	}
	for _, c := range []struct {
		what, job, shared, private string
		savepoint                  bool
		detail                     string
	}{
		{"escaping", "b", "../../etc/shared/x", "chk-7/M", false, "is not a clean relative path"},
		{"not shared", "b", "../a/chk-1/x", "chk-7/M", false, "is not of the form"},
		{"private adopted", "b", "shared/x", "../a/chk-1/M", false, "is not a clean relative path"},
		{"own job", "b", "../b/shared/x", "chk-7/M", false, "in the job's own directory"},
		{"in a savepoint", "b", "../a/shared/x", "M", true, "a savepoint holds every file itself"},
		{"metadata", "b", "../a/shared/_metadata", "chk-7/M", false, "names no data file"},
	} {
		body, err := json.Marshal(adoptedMetadata(c.job, c.shared, c.private, c.savepoint))
		if err != nil {
			t.Fatal(err)
		}
		checkMetadataErr(t, c.what, checkpointtest.WrapMetadataBody(snapshot.MetadataVersion, body), c.detail)
	}
}

// TestDecodeMetadataClaimed: the claimed snapshot a checkpoint records is a clean directory
// outside the job's own, and only checkpoints record one.
func TestDecodeMetadataClaimed(t *testing.T) {
	m := adoptedMetadata("b", "shared/x", "chk-7/M", false)
	m.Claimed = "savepoints/sp-1/"
	b, err := snapshot.EncodeMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := snapshot.DecodeMetadata("m", b); err != nil || got.Claimed != m.Claimed {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	for _, c := range []struct {
		claimed   string
		savepoint bool
		detail    string
	}{
		{"../x/", false, "not a clean relative directory"},
		{"a/chk-1", false, "not a clean relative directory"},
		{"/a/", false, "not a clean relative directory"},
		{"a/../b/", false, "not a clean relative directory"},
		{"b/chk-1/", false, "in the job's own directory"},
		{"a/chk-1/", true, "only checkpoints do"},
	} {
		m := adoptedMetadata("b", "shared/x", "chk-7/M", c.savepoint)
		if c.savepoint {
			m.Operators[0].Keyed[0].Incremental.Private[0].Path = "M"
		}
		m.Claimed = c.claimed
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		checkMetadataErr(t, "claimed "+c.claimed, checkpointtest.WrapMetadataBody(snapshot.MetadataVersion, body), c.detail)
	}
}

// FuzzValidAdoptedShared: whatever ValidAdoptedShared accepts stays inside the storage root
// when resolved against any job directory, and names a file directly in a shared/ directory.
func FuzzValidAdoptedShared(f *testing.F) {
	for _, p := range []string{"../a/shared/x", "../a/b/shared/x.sst", "../../a/shared/x", "../a/shared/../x", "../a//shared/x", `../a\b/shared/x`, "../a/shared/_metadata"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if snapshot.ValidAdoptedShared(p) != nil {
			return
		}
		rest, ok := snapshot.AdoptedRoot(p)
		if !ok {
			t.Fatalf("%q accepted without the adopted prefix", p)
		}
		if got := path.Join("job", p); got != rest || strings.HasPrefix(got, "../") || strings.Contains(got, "\\") {
			t.Fatalf("%q resolves to %q from a job directory, want %q inside the root", p, got, rest)
		}
		if dir, name := path.Split(rest); !strings.HasSuffix(dir, "/shared/") || name == "" || name == snapshot.MetadataName {
			t.Fatalf("%q accepted: %q in %q is no data file in a shared directory", p, name, dir)
		}
	})
}

package checkpoint_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// locateLayout fills st, a checkpoint storage root, with: job demo (checkpoint 1 complete,
// chk-2 incomplete), job other (checkpoint 3), a savepoint in sp/, a damaged one in badsp/,
// and a checkpoint's _metadata copied out of its chk-<n> directory into copied/.
func locateLayout(t *testing.T, st checkpoint.Storage) {
	ctx := context.Background()
	demo, err := checkpoint.Open(ctx, st, "demo", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkpointtest.TakeCheckpoint(t, demo, 1, "v")
	checkpointtest.PutObject(t, st, "demo/chk-2/op-0", []byte("partial"))
	other, err := checkpoint.Open(ctx, st, "other", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkpointtest.TakeCheckpoint(t, other, 3, "v")
	sp := checkpointtest.Metadata(checkpointtest.MaxP)
	sp.JobID, sp.CheckpointID, sp.Savepoint = "demo", 7, true
	b, err := snapshot.EncodeMetadata(sp)
	if err != nil {
		t.Fatal(err)
	}
	checkpointtest.PutObject(t, st, "sp/"+snapshot.MetadataName, b)
	checkpointtest.PutObject(t, st, "badsp/"+snapshot.MetadataName, []byte("not metadata"))
	checkpointtest.PutObject(t, st, "copied/"+snapshot.MetadataName, checkpointtest.ReadObject(t, st, "demo/chk-1/"+snapshot.MetadataName))
}

// locateWant is what a table case expects of Locate.
type locateWant struct {
	kind      checkpoint.LocationKind
	url       string // Location.URL, after the root's prefix
	job       string
	id        int64
	jobs      []string
	savepoint string // the savepoint's job, or "corrupt"
	err       string
}

var locateCases = []struct {
	path string // below the root
	want locateWant
}{
	{"", locateWant{kind: checkpoint.AtRoot, jobs: []string{"demo", "other"}}},
	{"/demo", locateWant{kind: checkpoint.AtJob, url: "/demo", jobs: []string{""}}},
	{"/demo/", locateWant{kind: checkpoint.AtJob, url: "/demo/", jobs: []string{""}}},
	{"/demo/chk-1", locateWant{kind: checkpoint.AtCheckpoint, job: "demo", id: 1}},
	{"/demo/chk-1/", locateWant{kind: checkpoint.AtCheckpoint, job: "demo", id: 1}},
	// The checkpoint's metadata is the caller's to load: an incomplete one is still located.
	{"/demo/chk-2", locateWant{kind: checkpoint.AtCheckpoint, job: "demo", id: 2}},
	{"/sp", locateWant{kind: checkpoint.AtSavepoint, url: "/sp", savepoint: "demo"}},
	{"/badsp", locateWant{kind: checkpoint.AtSavepoint, url: "/badsp", savepoint: "corrupt"}},
	{"/copied", locateWant{err: "no chk-<n> directory"}},
}

func checkLocation(t *testing.T, root string, loc *checkpoint.Location, err error, want locateWant) {
	t.Helper()
	if want.err != "" {
		if err == nil || !strings.Contains(err.Error(), want.err) {
			t.Fatalf("error %v, want one saying %q", err, want.err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Storage.Close()
	if loc.Kind != want.kind || loc.URL != root+want.url || loc.JobID != want.job || loc.CheckpointID != want.id {
		t.Fatalf("located %v at %s (job %q, id %d); want %v at %s (job %q, id %d)",
			loc.Kind, loc.URL, loc.JobID, loc.CheckpointID, want.kind, root+want.url, want.job, want.id)
	}
	ctx := context.Background()
	switch want.kind {
	case checkpoint.AtCheckpoint:
		// The storage is the root: the checkpoint's paths resolve from it.
		m, _, err := checkpoint.LoadCheckpoint(ctx, loc.Storage, loc.JobID, loc.CheckpointID)
		if complete := loc.CheckpointID == 1; complete != (err == nil) || (err == nil && m.CheckpointID != 1) {
			t.Errorf("LoadCheckpoint of the located checkpoint: %v, %v", m, err)
		}
	case checkpoint.AtSavepoint:
		if want.savepoint == "corrupt" {
			if loc.Metadata != nil || !errors.Is(loc.MetadataErr, snapshot.ErrCorrupt) {
				t.Errorf("damaged savepoint: metadata %v, error %v; want an ErrCorrupt", loc.Metadata, loc.MetadataErr)
			}
			break
		}
		if loc.MetadataErr != nil || loc.Metadata.JobID != want.savepoint || loc.MetadataSize == 0 {
			t.Errorf("savepoint: %+v, %v", loc.Metadata, loc.MetadataErr)
		}
		if _, _, err := checkpoint.LoadSavepoint(ctx, loc.Storage); err != nil {
			t.Errorf("LoadSavepoint of the located savepoint: %v", err)
		}
	default:
		var jobs []string
		for _, j := range loc.Listing.Jobs {
			jobs = append(jobs, j.JobID)
		}
		if !slices.Equal(jobs, want.jobs) {
			t.Errorf("jobs %q, want %q", jobs, want.jobs)
		}
	}
}

func TestLocateFile(t *testing.T) {
	dir := t.TempDir()
	root := "file://" + filepath.ToSlash(dir)
	st, err := blobstore.OpenURL(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	locateLayout(t, st)
	for _, tc := range locateCases {
		t.Run(tc.path, func(t *testing.T) {
			loc, err := checkpoint.Locate(context.Background(), root+tc.path, blobstore.OpenURL)
			checkLocation(t, root, loc, err, tc.want)
		})
	}
	// The query stays with the root.
	loc, err := checkpoint.Locate(context.Background(), root+"/demo/chk-1?no_tmp_dir=true", blobstore.OpenURL)
	if err != nil {
		t.Fatal(err)
	}
	loc.Storage.Close()
	if loc.URL != root+"?no_tmp_dir=true" {
		t.Errorf("root %s keeps no query", loc.URL)
	}
}

// memOpener serves mem://root/<dir> as the objects below <dir>/ of one memory storage.
type memOpener struct{ st *checkpointtest.MemStorage }

func (o memOpener) open(_ context.Context, url string) (checkpoint.Storage, error) {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(url, "/"), "mem://root")
	if !ok {
		return nil, errors.New("no such storage: " + url)
	}
	if rest == "" {
		return o.st, nil
	}
	return &prefixStorage{Storage: o.st, prefix: strings.TrimPrefix(rest, "/") + "/"}, nil
}

type prefixStorage struct {
	checkpoint.Storage
	prefix string
}

func (p *prefixStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	return p.Storage.Create(ctx, p.prefix+name, ifNotExist)
}
func (p *prefixStorage) ReadRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	return p.Storage.ReadRange(ctx, p.prefix+name, off, n)
}
func (p *prefixStorage) Size(ctx context.Context, name string) (int64, error) {
	return p.Storage.Size(ctx, p.prefix+name)
}
func (p *prefixStorage) Delete(ctx context.Context, name string) error {
	return p.Storage.Delete(ctx, p.prefix+name)
}
func (p *prefixStorage) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := p.Storage.List(ctx, p.prefix+prefix)
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, p.prefix)
	}
	return names, err
}
func (p *prefixStorage) Close() error { return nil }

func TestLocateMem(t *testing.T) {
	st := checkpointtest.NewMemStorage()
	locateLayout(t, st)
	// Names no job id can have: left out of the listing, never joined into a path.
	for _, name := range []string{"../chk-4/" + snapshot.MetadataName, `a\b/chk-5/` + snapshot.MetadataName, "./chk-6/" + snapshot.MetadataName} {
		checkpointtest.PutObject(t, st, name, []byte("x"))
	}
	checkpointtest.PutObject(t, st, "../"+snapshot.MetadataName, []byte("x"))
	o := memOpener{st}
	for _, tc := range locateCases {
		t.Run(tc.path, func(t *testing.T) {
			loc, err := checkpoint.Locate(context.Background(), "mem://root"+tc.path, o.open)
			checkLocation(t, "mem://root", loc, err, tc.want)
		})
	}
	loc, err := checkpoint.Locate(context.Background(), "mem://root", o.open)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"badsp/", "copied/", "sp/"}; !slices.Equal(loc.Listing.Savepoints, want) {
		t.Errorf("savepoint directories %q, want %q", loc.Listing.Savepoints, want)
	}
	// An unopenable storage is the opener's error.
	if _, err := checkpoint.Locate(context.Background(), "mem://elsewhere", o.open); err == nil || !strings.Contains(err.Error(), "no such storage") {
		t.Errorf("Locate of an unknown storage: %v", err)
	}
	if _, err := checkpoint.Locate(context.Background(), "", o.open); err == nil {
		t.Error("Locate of an empty URL succeeded")
	}
}

// TestLocateCheckpointURL: which URLs name a checkpoint by their shape, and where their
// storage root is.
func TestLocateCheckpointURL(t *testing.T) {
	for _, tc := range []struct {
		url, root, job string
		id             int64
	}{
		{"file:///data/ck/demo/chk-3", "file:///data/ck", "demo", 3},
		{"file:///demo/chk-3", "file:///", "demo", 3},
		{"s3://bucket/prefix/job-1/chk-12/?region=eu&endpoint=x", "s3://bucket/prefix?region=eu&endpoint=x", "job-1", 12},
		{"./checkpoints/demo/chk-1", "./checkpoints", "demo", 1},
		{"demo/chk-1", ".", "demo", 1},
		// Not a checkpoint's shape: located by what the storage holds.
		{"mem://demo/chk-1", "", "", 0},         // demo is the bucket, no directory
		{"file:///data/ck/../chk-1", "", "", 0}, // ".." is no job id
		{`file:///data/a\b/chk-1`, "", "", 0},
		{"file:///data/demo/chk-0", "", "", 0},
		{"file:///data/demo/chk-01", "", "", 0},
		{"file:///data/demo/chk-x", "", "", 0},
		{"chk-1", "", "", 0},
	} {
		var got string
		open := func(_ context.Context, url string) (checkpoint.Storage, error) {
			got = url
			return checkpointtest.NewMemStorage(), nil
		}
		loc, err := checkpoint.Locate(context.Background(), tc.url, open)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if tc.id == 0 {
			if loc.Kind == checkpoint.AtCheckpoint || got != tc.url {
				t.Errorf("%s: located %v at %s; want the storage at the URL itself", tc.url, loc.Kind, got)
			}
			continue
		}
		if loc.Kind != checkpoint.AtCheckpoint || got != tc.root || loc.URL != tc.root || loc.JobID != tc.job || loc.CheckpointID != tc.id {
			t.Errorf("%s: located %v of job %q id %d at %s (opened %s); want checkpoint %d of job %q at %s",
				tc.url, loc.Kind, loc.JobID, loc.CheckpointID, loc.URL, got, tc.id, tc.job, tc.root)
		}
	}
}

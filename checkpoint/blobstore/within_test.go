package blobstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/blobstore"
)

func TestWithin(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	abs := "file://" + filepath.ToSlash(filepath.Join(wd, "checkpoints"))
	for _, c := range []struct {
		root, loc, want string
		ok              bool
	}{
		{"file:///data/chk", "file:///data/chk/job/chk-5", "job/chk-5", true},
		{"file:///data/chk/", "file:///data/chk/savepoints/sp-1/", "savepoints/sp-1", true},
		{"file:///data/chk", "file:///data/chk/a/../b/chk-1", "b/chk-1", true},
		{"file://./checkpoints", abs + "/job/chk-2", "job/chk-2", true},
		{"file:///data/chk", "file:///data/chk", "", false},
		{"file:///data/chk", "file:///data/chk2/job/chk-1", "", false},
		{"file:///data/chk", "file:///data/savepoints/sp", "", false},
		{"file:///data/chk", "file:///data/chk/../x", "", false},
		{"s3://bucket/chk?region=x", "s3://bucket/chk/job/chk-3?endpoint=y", "job/chk-3", true},
		{"s3://bucket", "s3://bucket/sp/1", "sp/1", true},
		{"s3://bucket/chk", "s3://other/chk/job/chk-3", "", false},
		{"s3://bucket/chk", "s3://bucket/chkx/job", "", false},
		{"s3://bucket/chk", "s3://bucket/chk/../x", "", false},
		{"s3://bucket/chk", "file:///bucket/chk/x", "", false},
		{"mem://a", "mem://a/x", "", false},
		{"jobmanager", "jobmanager/x", "", false},
	} {
		got, ok := blobstore.Within(c.root, c.loc)
		if got != c.want || ok != c.ok {
			t.Errorf("Within(%q, %q) = %q, %v; want %q, %v", c.root, c.loc, got, ok, c.want, c.ok)
		}
	}
}

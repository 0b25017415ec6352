package main

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
)

// openStorage opens checkpoint or savepoint storage: "jobmanager", a storage URL, or a plain
// directory. A relative file:// URL (file://./dir, file://dir) or directory is taken
// relative to the current directory.
func openStorage(ctx context.Context, raw string) (checkpoint.Storage, error) {
	if raw == "jobmanager" {
		return blobstore.NewJobManagerStorage(0), nil
	}
	url, err := storageURL(raw)
	if err != nil {
		return nil, err
	}
	return blobstore.OpenURL(ctx, url)
}

// storageURL returns the storage URL raw stands for: a plain directory or a relative
// file:// URL becomes an absolute file:// URL (its query kept); other URLs are returned as
// they are.
func storageURL(raw string) (string, error) {
	dir, query, isFile := "", "", false
	if rest, ok := strings.CutPrefix(raw, "file://"); ok {
		dir, query, _ = strings.Cut(rest, "?")
		isFile = !strings.HasPrefix(dir, "/")
	} else if !strings.Contains(raw, "://") {
		dir, isFile = raw, true
	}
	if !isFile {
		return raw, nil
	}
	abs, err := filepath.Abs(filepath.FromSlash(dir))
	if err != nil {
		return "", err
	}
	url := "file://" + filepath.ToSlash(abs)
	if query != "" {
		url += "?" + query
	}
	return url, nil
}

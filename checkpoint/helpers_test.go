package checkpoint_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
)

// openURL opens storage with blobstore.OpenURL and closes it when t ends.
func openURL(t *testing.T, rawURL string) checkpoint.Storage {
	t.Helper()
	st, err := blobstore.OpenURL(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// putObject stores data as name, failing t on any error.
func putObject(t *testing.T, st checkpoint.Storage, name string, data []byte) {
	t.Helper()
	w, err := st.Create(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// readAll returns the whole object name, failing t on any error.
func readAll(t *testing.T, st checkpoint.Storage, name string) []byte {
	t.Helper()
	b, err := st.ReadRange(context.Background(), name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeInChunks writes n bytes to name in chunks and returns Commit's result.
func writeInChunks(st checkpoint.Storage, name string, n, chunk int) (int64, error) {
	w, err := st.Create(context.Background(), name, false)
	if err != nil {
		return 0, err
	}
	buf := bytes.Repeat([]byte{'s'}, chunk)
	for n > 0 {
		k := min(n, chunk)
		if _, err := w.Write(buf[:k]); err != nil {
			w.Abort()
			return 0, err
		}
		n -= k
	}
	return w.Commit()
}

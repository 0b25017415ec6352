package checkpoint_test

import (
	"context"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
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

// Shared with blobstore's tests (checkpointtest).
var (
	putObject     = checkpointtest.PutObject
	readAll       = checkpointtest.ReadObject
	writeInChunks = checkpointtest.WriteInChunks
)

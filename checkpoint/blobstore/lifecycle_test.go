package blobstore_test

// The checkpoint lifecycle helpers the durability tests of file:// storage need: checkpoints
// of two subtasks' full snapshots plus shared files (checkpointtest, shared with package
// checkpoint's tests).

import (
	"context"
	"log/slog"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
)

var (
	cpTake   = checkpointtest.TakeCheckpoint
	cpShared = checkpointtest.SharedHandle
)

// cpOpen opens job's checkpoints in st, retaining retained, logging nowhere.
func cpOpen(t *testing.T, st checkpoint.Storage, job string, retained int) *checkpoint.Checkpoints {
	t.Helper()
	c, err := checkpoint.Open(context.Background(), st, job, checkpoint.Options{
		NumRetained: retained,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

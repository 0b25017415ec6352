package blobstore

import (
	"context"
	"fmt"
	"path"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"gocloud.dev/blob/memblob"
)

// DefaultJobManagerMaxStateSize is the default size limit of one state handle in jobmanager
// checkpoint storage (Flink's 5 MiB).
const DefaultJobManagerMaxStateSize = 5 << 20

// MaxStateSizeKey is the configuration key of the jobmanager storage's limit.
const MaxStateSizeKey = "state.checkpoint-storage.jobmanager.max-state-size"

// NewJobManagerStorage returns checkpoint storage that keeps everything in the memory of this
// process, as Flink's JobManagerCheckpointStorage: for small state, tests and demos. Each state
// handle (every object except _metadata) may hold at most maxStateSize bytes
// (<= 0: DefaultJobManagerMaxStateSize); a larger one fails its checkpoint with ErrStateTooLarge.
func NewJobManagerStorage(maxStateSize int64) checkpoint.Storage {
	if maxStateSize <= 0 {
		maxStateSize = DefaultJobManagerMaxStateSize
	}
	return &jobManagerStorage{
		Storage: &blobStorage{b: memblob.OpenBucket(nil), desc: "jobmanager"},
		limit:   maxStateSize,
	}
}

type jobManagerStorage struct {
	checkpoint.Storage
	limit int64
}

func (s *jobManagerStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	w, err := s.Storage.Create(ctx, name, ifNotExist)
	if err != nil || path.Base(name) == snapshot.MetadataName {
		return w, err
	}
	return &limitWriter{Writer: w, name: name, limit: s.limit}, nil
}

// limitWriter stops storing once past the limit but keeps counting, so the error can name the
// handle's real size.
type limitWriter struct {
	checkpoint.Writer
	name  string
	limit int64
	n     int64
}

func (w *limitWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if w.n > w.limit {
		return len(p), nil
	}
	return w.Writer.Write(p)
}

func (w *limitWriter) Commit() (int64, error) {
	if w.n > w.limit {
		w.Writer.Abort()
		return 0, fmt.Errorf("%w: state handle %s is %s, over the limit of %s; raise %s or use file:// or s3:// checkpoint storage (state.checkpoints.dir)",
			checkpoint.ErrStateTooLarge, w.name, humanBytes(w.n), humanBytes(w.limit), MaxStateSizeKey)
	}
	return w.Writer.Commit()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB (%d bytes)", float64(n)/(1<<30), n)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}

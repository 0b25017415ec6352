package checkpointtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// MemStorage is a checkpoint.Storage in this process's memory, with no dependency beyond
// package checkpoint: for the tests of packages that must not link the storage drivers of
// checkpoint/blobstore (and with them a cloud SDK), such as backend/backendtest. It passes
// RunStorageSuite. Create-if-not-exists is atomic; every object is as durable as the
// process. The zero value is not usable: call NewMemStorage. Safe for concurrent use.
type MemStorage struct {
	mu      sync.Mutex
	objects map[string][]byte // committed objects; their bytes are never modified
}

// NewMemStorage returns an empty MemStorage.
func NewMemStorage() *MemStorage { return &MemStorage{objects: map[string][]byte{}} }

// String describes the storage for messages.
func (s *MemStorage) String() string { return "checkpointtest memory" }

// Close does nothing: the objects stay readable.
func (s *MemStorage) Close() error { return nil }

// Create starts writing name; nothing is visible before Commit.
func (s *MemStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create %s in %s: %w", name, s, err)
	}
	return &memWriter{s: s, name: name, ifNotExist: ifNotExist}, nil
}

// ReadRange reads length bytes at offset of name (length < 0: to the end); a short object
// returns fewer bytes, a missing one an error wrapping snapshot.ErrMissing.
func (s *MemStorage) ReadRange(ctx context.Context, name string, offset, length int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", name, s, err)
	}
	b, err := s.get(name)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("read %s in %s: negative offset %d", name, s, offset)
	}
	if offset >= int64(len(b)) {
		return []byte{}, nil
	}
	end := int64(len(b))
	if length >= 0 && length < end-offset {
		end = offset + length
	}
	return bytes.Clone(b[offset:end]), nil
}

// Size returns the size of name, or an error wrapping snapshot.ErrMissing.
func (s *MemStorage) Size(ctx context.Context, name string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("size of %s in %s: %w", name, s, err)
	}
	b, err := s.get(name)
	return int64(len(b)), err
}

func (s *MemStorage) get(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[name]
	if !ok {
		return nil, &snapshot.FileError{Path: name, Err: snapshot.ErrMissing, Detail: "in " + s.String()}
	}
	return b, nil
}

// Delete removes name; a missing object is not an error.
func (s *MemStorage) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s in %s: %w", name, s, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, name)
	return nil
}

// List returns the names of the committed objects under prefix, sorted.
func (s *MemStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", prefix, s, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.objects {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Sweep does nothing: an uncommitted write leaves no debris in memory.
func (s *MemStorage) Sweep(context.Context, string) error { return nil }

type memWriter struct {
	s          *MemStorage
	name       string
	ifNotExist bool
	buf        bytes.Buffer
	done       bool
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write %s in %s: the writer is closed", w.name, w.s)
	}
	return w.buf.Write(p)
}

func (w *memWriter) Commit() (int64, error) {
	n := int64(w.buf.Len())
	if w.done {
		return n, nil
	}
	w.done = true
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if _, ok := w.s.objects[w.name]; ok && w.ifNotExist {
		return 0, fmt.Errorf("%w: %s in %s", checkpoint.ErrExists, w.name, w.s)
	}
	w.s.objects[w.name] = bytes.Clone(w.buf.Bytes())
	return n, nil
}

func (w *memWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.buf = bytes.Buffer{}
}

var _ checkpoint.Storage = (*MemStorage)(nil)

package blobstore

import "github.com/streamstate/streamstate/checkpoint"

import (
	"context"

	"github.com/streamstate/streamstate/keygroup"
)

// SetFileSyncHook makes st, file:// storage from OpenURL, call fn with the path of every file
// and directory it fsyncs, after the fsync. It reports false for any other storage. Set it
// before st is used.
func SetFileSyncHook(st checkpoint.Storage, fn func(path string)) bool {
	b, ok := st.(*blobStorage)
	if !ok || b.dirs == nil {
		return false
	}
	b.dirs.onSync = fn
	return true
}

// ReadKeyGroupsChunked is ReadKeyGroups with ranged reads of chunk bytes, ahead of them in
// flight, so that tests can stream small files through many chunks.
func ReadKeyGroupsChunked(ctx context.Context, r Reader, h *KeyedStateHandle, rng keygroup.Range, chunk int64, ahead int, fn func(kg int, rec *Record) error) error {
	kr, err := newKeyGroupReader(ctx, r, h, rng, chunk, ahead)
	if err != nil {
		return err
	}
	defer kr.Close()
	return readAll(kr, fn)
}

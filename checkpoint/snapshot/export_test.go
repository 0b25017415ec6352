package snapshot

import (
	"context"

	"github.com/streamstate/streamstate/keygroup"
)

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

// BlockPayload returns a copy of the records b holds, unsealed.
func BlockPayload(b *BlockBuilder) []byte { return append([]byte(nil), b.payload...) }

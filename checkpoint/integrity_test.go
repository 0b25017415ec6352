package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// integrityTake completes checkpoint id of job "job" with a full keyed handle and an operator
// state handle whose bytes depend on id but whose layout does not: the file of one checkpoint
// fits the metadata of another, block and section CRCs included.
func integrityTake(t *testing.T, cps *checkpoint.Checkpoints, id int64) *snapshot.Metadata {
	t.Helper()
	ctx := context.Background()
	p, err := cps.Begin(id)
	must(t, err)
	f, err := p.Create(ctx, "keyed")
	must(t, err)
	rng := keygroup.Range{Start: 0, End: 7}
	kh, err := snapshot.WriteFull(ctx, f, rng, "string", goldenStates, snapshot.CompressionNone, 1, func(kg int, b *snapshot.BlockBuilder) error {
		b.Value(0, []byte{'k', byte('0' + kg)}, nil, bytes.Repeat([]byte{byte(id)}, 8))
		return nil
	})
	must(t, err)
	of, err := p.Create(ctx, "operator")
	must(t, err)
	ow := snapshot.NewOperatorWriter(of, 0, 1)
	must(t, ow.BeginState(snapshot.OperatorStateMeta{Name: "offsets", Mode: snapshot.ModeSplit, Value: "int64"}, 1))
	ow.Element(bytes.Repeat([]byte{byte(id)}, 8))
	oh, err := ow.Finish()
	must(t, err)
	m := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 8,
		Keyed: []*snapshot.KeyedStateHandle{kh}, Operator: []*snapshot.OperatorStateHandle{oh}}}}
	must(t, p.Complete(ctx, m))
	return m
}

// integrityRead reads all state of m as a restore at unchanged parallelism does, and returns
// the byte every value was written with.
func integrityRead(ctx context.Context, r snapshot.Reader, m *snapshot.Metadata) (byte, error) {
	o := m.Operators[0]
	var seen []byte
	err := snapshot.ReadKeyGroups(ctx, r, o.Keyed[0], keygroup.Range{Start: 0, End: 7}, func(kg int, rec *snapshot.Record) error {
		seen = append(seen, rec.Value[0])
		return nil
	})
	if err != nil {
		return 0, err
	}
	secs, err := snapshot.ReadOperatorSections(ctx, r, o.Operator[0], nil)
	if err != nil {
		return 0, err
	}
	seen = append(seen, secs[0].Values[0][0])
	for _, b := range seen[1:] {
		if b != seen[0] {
			return 0, errors.New("state of two checkpoints mixed")
		}
	}
	return seen[0], nil
}

// TestFullAndOperatorIntegrity damages the full snapshot file or the operator state file of
// the latest checkpoint: its last byte flipped (the CRC of the last block or section catches
// that already), or the file replaced by the same file of the checkpoint before (every CRC
// matches: only the file's checksum tells). Restore falls back to checkpoint 1 and restores its
// state, never checkpoint 2 with state of checkpoint 1; Check names the file.
func TestFullAndOperatorIntegrity(t *testing.T) {
	type damage func(t *testing.T, st checkpoint.Storage, m1, m2 *snapshot.Metadata) string
	put := func(t *testing.T, st checkpoint.Storage, p string, b []byte) {
		w, err := st.Create(context.Background(), "job/"+p, false)
		must(t, err)
		_, err = w.Write(b)
		must(t, err)
		_, err = w.Commit()
		must(t, err)
	}
	read := func(t *testing.T, st checkpoint.Storage, p string) []byte {
		b, err := st.ReadRange(context.Background(), "job/"+p, 0, -1)
		must(t, err)
		return b
	}
	keyed := func(m *snapshot.Metadata) string { return m.Operators[0].Keyed[0].File.Path }
	operator := func(m *snapshot.Metadata) string { return m.Operators[0].Operator[0].File.Path }
	flip := func(file func(*snapshot.Metadata) string) damage {
		return func(t *testing.T, st checkpoint.Storage, _, m2 *snapshot.Metadata) string {
			b := read(t, st, file(m2))
			b[len(b)-1] ^= 1
			put(t, st, file(m2), b)
			return file(m2)
		}
	}
	older := func(file func(*snapshot.Metadata) string) damage {
		return func(t *testing.T, st checkpoint.Storage, m1, m2 *snapshot.Metadata) string {
			put(t, st, file(m2), read(t, st, file(m1)))
			return file(m2)
		}
	}
	for _, tc := range []struct {
		name   string
		damage damage
	}{
		{"full snapshot, last byte flipped", flip(keyed)},
		{"full snapshot, the previous checkpoint's", older(keyed)},
		{"operator state, last byte flipped", flip(operator)},
		{"operator state, the previous checkpoint's", older(operator)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := blobstore.OpenURL(ctx, "mem://")
			must(t, err)
			defer st.Close()
			cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{NumRetained: 2})
			must(t, err)
			m1, m2 := integrityTake(t, cps, 1), integrityTake(t, cps, 2)
			p := tc.damage(t, st, m1, m2)

			var got byte
			m, err := cps.Restore(ctx, func(m *snapshot.Metadata) error {
				got, err = integrityRead(ctx, cps.Reader(), m)
				return err
			})
			must(t, err)
			if m.CheckpointID != 1 || got != 1 {
				t.Fatalf("restored checkpoint %d with the state of checkpoint %d; want checkpoint 1", m.CheckpointID, got)
			}
			rep, err := checkpoint.Check(ctx, st, "job/", m2)
			must(t, err)
			var fe *snapshot.FileError
			if len(rep.Problems) != 1 || !errors.As(rep.Problems[0], &fe) || fe.Path != "job/"+p || !errors.Is(fe, snapshot.ErrCorrupt) ||
				!strings.Contains(fe.Error(), "checksum mismatch") {
				t.Fatalf("Check: %v; want one ErrCorrupt checksum mismatch naming job/%s", rep.Problems, p)
			}
		})
	}
}

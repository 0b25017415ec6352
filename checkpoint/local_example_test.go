package checkpoint_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// With local recovery, a checkpoint's files are also kept on local disk, and a restore reads
// them from there once verified; RestoreReader's stats say where each file came from.
func ExampleCheckpoints_RestoreReader() {
	ctx := context.Background()
	local, err := os.MkdirTemp("", "local-state-") // taskmanager.state.local.root-dirs
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(local)
	st, err := blobstore.OpenURL(ctx, "mem://") // the remote checkpoint storage
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "wordcount", checkpoint.Options{LocalRecovery: true, LocalDirs: []string{local}})
	if err != nil {
		log.Fatal(err)
	}

	const maxP = 128
	p, err := cps.Begin(1)
	if err != nil {
		log.Fatal(err)
	}
	out, err := p.Create(ctx, "counter-0") // written to storage and to the local copy
	if err != nil {
		log.Fatal(err)
	}
	w := snapshot.NewFullWriter(out, keygroup.Range{Start: 0, End: maxP - 1}, "string",
		[]snapshot.StateMeta{{Name: "count", Kind: snapshot.KindValue, Value: "int64"}}, snapshot.CompressionNone)
	key := []byte("hello")
	if err := w.BeginKeyGroup(keygroup.Of(key, maxP)); err != nil {
		log.Fatal(err)
	}
	w.Value(0, key, nil, []byte("42"))
	h, err := w.Finish()
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
		ID: "counter", Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h}}}}); err != nil {
		log.Fatal(err)
	}

	// After a crash: the restore reads the verified local copy, not the storage.
	_, err = cps.Restore(ctx, func(m *snapshot.Metadata) error {
		r := cps.RestoreReader(m)
		h := m.Operator("counter").Keyed[0]
		err := snapshot.ReadKeyGroups(ctx, r, h, h.KeyGroupRange, func(kg int, rec *snapshot.Record) error {
			fmt.Printf("%s = %s\n", rec.Key, rec.Value)
			return nil
		})
		s := r.Stats()
		fmt.Printf("files from the local copy: %d, from storage: %d\n", s.LocalFiles, s.RemoteFiles)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// When the job has ended for good:
	if err := cps.DiscardLocal(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// hello = 42
	// files from the local copy: 1, from storage: 0
}

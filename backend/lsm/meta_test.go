package lsm

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// TestReadMetaSchema: a state record carries its schema when it has one; a record without
// one (a database written before schemas were recorded) reads with none, and a record whose
// schema is not canonical is corrupt.
func TestReadMetaSchema(t *testing.T) {
	const schema = `struct{"id" int64;"note" string}`
	for _, tc := range []struct {
		name, record string
		want         string
		corrupt      bool
	}{
		{"with schema", `{"id":1,"kind":1,"value":"json:x","schema":"struct{\"id\" int64;\"note\" string}"}`, schema, false},
		{"before schemas", `{"id":1,"kind":1,"value":"json:x"}`, "", false},
		{"bad schema", `{"id":1,"kind":1,"value":"json:x","schema":"struct{\"id\" int}"}`, "", true},
	} {
		db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{metaBackendKey: `{"version":1,"maxParallelism":128,"keySerializer":"int64"}`, metaStatePrefix + "s": tc.record} {
			if err := db.Set([]byte(k), []byte(v), pebble.NoSync); err != nil {
				t.Fatal(err)
			}
		}
		_, entries, err := readMeta(db, "db")
		db.Close()
		if tc.corrupt {
			if !errors.Is(err, snapshot.ErrCorrupt) {
				t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
			}
			continue
		}
		if err != nil || len(entries) != 1 || entries[0].meta.Schema != tc.want || entries[0].meta.Value != "json:x" {
			t.Errorf("%s: %+v, %v", tc.name, entries, err)
		}
	}
}

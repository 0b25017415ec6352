package checkpointtest

import (
	"bytes"
	"math"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
)

func suiteReadRange(t *testing.T, st checkpoint.Storage) {
	const name = "dir/sub/data"
	data := pattern(1000, 3)
	put(t, st, name, data)
	for _, c := range []struct {
		off, n int64
		want   []byte
	}{
		{0, -1, data},
		{0, 0, nil},
		{0, 1, data[:1]},
		{10, 20, data[10:30]},
		{0, 1000, data},
		{999, -1, data[999:]},
		{999, 1, data[999:]},
		{990, 100, data[990:]}, // a short object returns fewer bytes
		{500, 0, nil},
		{1000, -1, nil},
		{1000, 10, nil},
		{1500, 10, nil},
		{0, math.MaxInt64, data}, // must not allocate length bytes up front
		{5, 1 << 62, data[5:]},
	} {
		got, err := st.ReadRange(bg, name, c.off, c.n)
		if err != nil {
			t.Fatalf("ReadRange(%d, %d): %v", c.off, c.n, err)
		}
		if !bytes.Equal(got, c.want) {
			t.Fatalf("ReadRange(%d, %d) = %d bytes %q, want %d bytes %q", c.off, c.n, len(got), clip(got), len(c.want), clip(c.want))
		}
	}
}

func suiteMissing(t *testing.T, st checkpoint.Storage) {
	put(t, st, "job/chk-1/present", []byte("x"))
	for _, name := range []string{"job/chk-1/absent", "job/chk-2/_metadata", "nowhere"} {
		expectMissing(t, st, name)
		_, err := st.ReadRange(bg, name, 10, 5)
		checkMissingErr(t, "ReadRange at an offset", name, err)
	}
}

func suiteList(t *testing.T, st checkpoint.Storage) {
	expectList(t, st, "")
	all := []string{"job/chk-1/_metadata", "job/chk-1/op-0", "job/chk-10/op-0", "job/shared/sst-1",
		"job2/chk-1/_metadata", "other"}
	for i, n := range all {
		put(t, st, n, pattern(i+1, byte(i)))
	}
	// Neither an aborted nor an uncommitted object is listed.
	w, err := st.Create(bg, "job/chk-1/aborted", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("gone")); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	open, err := st.Create(bg, "job/chk-2/in-progress", false)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Abort()
	if _, err := open.Write([]byte("not yet")); err != nil {
		t.Fatal(err)
	}

	expectList(t, st, "", all...)
	expectList(t, st, "job/", all[:4]...)
	expectList(t, st, "job", all[:5]...)
	expectList(t, st, "job/chk-1", "job/chk-1/_metadata", "job/chk-1/op-0", "job/chk-10/op-0")
	expectList(t, st, "job/chk-1/", "job/chk-1/_metadata", "job/chk-1/op-0")
	expectList(t, st, "job/chk-2/")
	expectList(t, st, "job/shared/", "job/shared/sst-1")
	expectList(t, st, "nothing/")
}

func suiteString(t *testing.T, st checkpoint.Storage) {
	if st.String() == "" {
		t.Fatal("String() is empty")
	}
}

package checkpointtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
)

func suiteCreateCommit(t *testing.T, st checkpoint.Storage) {
	const name = "job/chk-1/op-0"
	w, err := st.Create(bg, name, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"hello", ", ", "world"} {
		if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	// Nothing is visible before Commit: not to List, Size or ReadRange.
	expectList(t, st, "")
	expectMissing(t, st, name)
	n, err := w.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n != int64(len("hello, world")) {
		t.Fatalf("Commit returned size %d, want %d", n, len("hello, world"))
	}
	expectList(t, st, "", name)
	expectContent(t, st, name, []byte("hello, world"))
	// Abort after Commit does nothing.
	w.Abort()
	expectContent(t, st, name, []byte("hello, world"))
}

func suiteEmptyObject(t *testing.T, st checkpoint.Storage) {
	const name = "empty"
	w, err := st.Create(bg, name, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.Commit(); err != nil || n != 0 {
		t.Fatalf("Commit of an empty object = %d, %v", n, err)
	}
	expectList(t, st, "", name)
	expectContent(t, st, name, nil)
	for _, r := range [][2]int64{{0, 0}, {0, 10}, {1, -1}} {
		got, err := st.ReadRange(bg, name, r[0], r[1])
		if err != nil || len(got) != 0 {
			t.Fatalf("ReadRange(%q, %d, %d) of an empty object = %q, %v; want no bytes, no error", name, r[0], r[1], got, err)
		}
	}
}

func suiteAbort(t *testing.T, st checkpoint.Storage) {
	w, err := st.Create(bg, "a/written", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(10000, 1)); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	w.Abort() // twice is fine

	w, err = st.Create(bg, "a/unwritten", false)
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()

	expectList(t, st, "")
	expectMissing(t, st, "a/written")
	expectMissing(t, st, "a/unwritten")

	// Aborting a replacement leaves the original.
	put(t, st, "a/kept", []byte("original"))
	for _, ifNotExist := range []bool{false, true} {
		w, err = st.Create(bg, "a/kept", ifNotExist)
		if err != nil {
			if ifNotExist && errors.Is(err, checkpoint.ErrExists) {
				continue
			}
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("replacement")); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		expectContent(t, st, "a/kept", []byte("original"))
	}
	expectList(t, st, "", "a/kept")
}

func suiteOverwrite(t *testing.T, st checkpoint.Storage) {
	put(t, st, "x", []byte("first version, the longer one"))
	put(t, st, "x", []byte("second"))
	expectContent(t, st, "x", []byte("second"))
	expectList(t, st, "", "x")
}

func suiteIfNotExist(t *testing.T, st checkpoint.Storage) {
	const name = "job/chk-1/_metadata"
	if _, err := write(st, name, true, []byte("first")); err != nil {
		t.Fatalf("create-if-not-exists of a new object: %v", err)
	}
	expectContent(t, st, name, []byte("first"))
	_, err := write(st, name, true, []byte("second, longer"))
	if !errors.Is(err, checkpoint.ErrExists) {
		t.Fatalf("create-if-not-exists of an existing object: error %v, want one wrapping checkpoint.ErrExists", err)
	}
	expectContent(t, st, name, []byte("first"))
	expectList(t, st, "", name)
	// After a Delete the name is free again.
	if err := st.Delete(bg, name); err != nil {
		t.Fatal(err)
	}
	if _, err := write(st, name, true, []byte("third")); err != nil {
		t.Fatalf("create-if-not-exists after Delete: %v", err)
	}
	expectContent(t, st, name, []byte("third"))
}

func suiteLargeObject(t *testing.T, st checkpoint.Storage) {
	const name = "big"
	data := pattern(1<<20, 9)
	w, err := st.Create(bg, name, false)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; p = p[min(len(p), 64<<10):] {
		if _, err := w.Write(p[:min(len(p), 64<<10)]); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := w.Commit(); err != nil || n != int64(len(data)) {
		t.Fatalf("Commit = %d, %v", n, err)
	}
	expectContent(t, st, name, data)
	got, err := st.ReadRange(bg, name, 300000, 5000)
	if err != nil || !bytes.Equal(got, data[300000:305000]) {
		t.Fatalf("ReadRange inside a large object = %d bytes, %v", len(got), err)
	}
}

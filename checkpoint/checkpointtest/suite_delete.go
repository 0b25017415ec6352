package checkpointtest

import (
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
)

func suiteDelete(t *testing.T, st checkpoint.Storage) {
	put(t, st, "d/a", []byte("a"))
	put(t, st, "d/ab", []byte("ab"))
	put(t, st, "d/c/a", []byte("c"))
	if err := st.Delete(bg, "d/a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	expectMissing(t, st, "d/a")
	expectList(t, st, "", "d/ab", "d/c/a")
	for _, name := range []string{"d/a", "d/none", "none/at/all"} {
		if err := st.Delete(bg, name); err != nil {
			t.Fatalf("Delete(%q) of a missing object: %v, want nil", name, err)
		}
	}
	expectContent(t, st, "d/ab", []byte("ab"))
	expectContent(t, st, "d/c/a", []byte("c"))
}

// suiteDeleteLeavesNothing: deleting every object under a "directory" leaves nothing a List
// shows, and the same names can be written again (a file:// storage removes the emptied
// directories and creates them again).
func suiteDeleteLeavesNothing(t *testing.T, st checkpoint.Storage) {
	names := []string{"job/chk-1/a", "job/chk-1/b", "job/chk-1/sub/c", "job/shared/s"}
	for i, n := range names {
		put(t, st, n, pattern(100, byte(i)))
	}
	for _, n := range names {
		if err := st.Delete(bg, n); err != nil {
			t.Fatalf("Delete(%q): %v", n, err)
		}
	}
	expectList(t, st, "")
	for i, n := range names {
		put(t, st, n, pattern(50, byte(i+10)))
		expectContent(t, st, n, pattern(50, byte(i+10)))
	}
	// An aborted write into a new "directory" leaves nothing either.
	w, err := st.Create(bg, "job/chk-2/x", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("never committed")); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	expectList(t, st, "", names...)
}

// suiteSweep: Sweep never touches committed objects, accepts a directory that holds nothing
// and the whole storage (""), and leaves a storage fully usable.
func suiteSweep(t *testing.T, st checkpoint.Storage) {
	names := []string{"job/chk-1/_metadata", "job/chk-1/op-0", "job/shared/s", "other/chk-1/_metadata"}
	for i, n := range names {
		put(t, st, n, pattern(10+i, byte(i)))
	}
	for _, dir := range []string{"job/", "nothing/here/", ""} {
		if err := st.Sweep(bg, dir); err != nil {
			t.Fatalf("Sweep(%q): %v", dir, err)
		}
		expectList(t, st, "", names...)
	}
	for i, n := range names {
		expectContent(t, st, n, pattern(10+i, byte(i)))
	}
	put(t, st, "job/chk-2/_metadata", []byte("after a sweep"))
}

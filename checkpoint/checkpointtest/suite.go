package checkpointtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// RunStorageSuite runs the conformance suite of checkpoint.Storage. open returns a new, empty
// storage for one subtest; the suite closes it when the subtest ends (a second Close, if open
// also registered one, is ignored). The objects the suite writes are at most 1 MiB, so it
// passes over jobmanager storage with its default limit. No name is used both as an object
// and as a "directory" prefix of another object (a filesystem cannot hold both).
func RunStorageSuite(t *testing.T, open func(t *testing.T) checkpoint.Storage) {
	RunStorageSuiteWith(t, open, Features{})
}

// Features says what a storage under test cannot do, for the cases of the suite that need it;
// the zero value claims everything. Each field names the behaviour and why a storage may lack it.
type Features struct {
	// NoCreateWhileDeleting skips CreateWhileDeleting, with this reason: a storage whose
	// writes into a "directory" fail while a delete empties it (a known server-side race, not
	// our code's) says so here rather than fail the suite at random. The reason is reported
	// as the subtest's skip.
	NoCreateWhileDeleting string
}

// RunStorageSuiteWith is RunStorageSuite for a storage that lacks some Features.
func RunStorageSuiteWith(t *testing.T, open func(t *testing.T) checkpoint.Storage, f Features) {
	skip := map[string]string{"CreateWhileDeleting": f.NoCreateWhileDeleting}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, st checkpoint.Storage)
	}{
		{"CreateCommit", suiteCreateCommit},
		{"EmptyObject", suiteEmptyObject},
		{"Abort", suiteAbort},
		{"Overwrite", suiteOverwrite},
		{"IfNotExist", suiteIfNotExist},
		{"IfNotExistConcurrent", suiteIfNotExistConcurrent},
		{"ReadRange", suiteReadRange},
		{"Missing", suiteMissing},
		{"Delete", suiteDelete},
		{"List", suiteList},
		{"ConcurrentWriters", suiteConcurrentWriters},
		{"LargeObject", suiteLargeObject},
		{"DeleteLeavesNothing", suiteDeleteLeavesNothing},
		{"CreateWhileDeleting", suiteCreateWhileDeleting},
		{"Sweep", suiteSweep},
		{"String", suiteString},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if reason := skip[tc.name]; reason != "" {
				t.Skip(reason)
			}
			st := open(t)
			t.Cleanup(func() { _ = st.Close() })
			tc.fn(t, st)
		})
	}
}

var bg = context.Background()

// put writes and commits one object, failing the test on error.
func put(t *testing.T, st checkpoint.Storage, name string, data []byte) {
	t.Helper()
	n, err := write(st, name, false, data)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Commit(%q) = %d bytes, wrote %d", name, n, len(data))
	}
}

// write creates name (create-if-not-exists if ifNotExist), writes data in one Write and
// commits it. It returns Commit's size, or the first error, which names the operation and the
// object and wraps the storage's error; a failed Write aborts the object.
func write(st checkpoint.Storage, name string, ifNotExist bool, data []byte) (int64, error) {
	w, err := st.Create(bg, name, ifNotExist)
	if err != nil {
		return 0, fmt.Errorf("Create(%q): %w", name, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return 0, fmt.Errorf("Write(%q): %w", name, err)
	}
	n, err := w.Commit()
	if err != nil {
		return 0, fmt.Errorf("Commit(%q): %w", name, err)
	}
	return n, nil
}

// expectContent checks an object's size and bytes.
func expectContent(t *testing.T, st checkpoint.Storage, name string, want []byte) {
	t.Helper()
	size, err := st.Size(bg, name)
	if err != nil {
		t.Fatalf("Size(%q): %v", name, err)
	}
	if size != int64(len(want)) {
		t.Fatalf("Size(%q) = %d, want %d", name, size, len(want))
	}
	got, err := st.ReadRange(bg, name, 0, -1)
	if err != nil {
		t.Fatalf("ReadRange(%q, 0, -1): %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadRange(%q, 0, -1) = %q, want %q", name, clip(got), clip(want))
	}
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return append(slices.Clip(b[:64]), "..."...)
	}
	return b
}

// expectMissing checks that Size and ReadRange of name fail with an error wrapping
// ErrMissing that names the object.
func expectMissing(t *testing.T, st checkpoint.Storage, name string) {
	t.Helper()
	_, err := st.Size(bg, name)
	checkMissingErr(t, "Size", name, err)
	_, err = st.ReadRange(bg, name, 0, -1)
	checkMissingErr(t, "ReadRange", name, err)
}

func checkMissingErr(t *testing.T, op, name string, err error) {
	t.Helper()
	if !errors.Is(err, snapshot.ErrMissing) {
		t.Fatalf("%s(%q) of a missing object: error %v, want one wrapping snapshot.ErrMissing", op, name, err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Fatalf("%s(%q) of a missing object: error %q does not name the object", op, name, err)
	}
}

// list returns the sorted result of List.
func list(t *testing.T, st checkpoint.Storage, prefix string) []string {
	t.Helper()
	names, err := st.List(bg, prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	names = slices.Clone(names)
	slices.Sort(names)
	return names
}

func expectList(t *testing.T, st checkpoint.Storage, prefix string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if got := list(t, st, prefix); !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", prefix, got, want)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

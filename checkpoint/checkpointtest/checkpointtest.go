package checkpointtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
)

// ---------------------------------------------------------------------------------------------
// Conformance suite

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
	w, err := st.Create(bg, name, false)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		t.Fatalf("Write(%q): %v", name, err)
	}
	n, err := w.Commit()
	if err != nil {
		t.Fatalf("Commit(%q): %v", name, err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Commit(%q) = %d bytes, wrote %d", name, n, len(data))
	}
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
	if !errors.Is(err, checkpoint.ErrMissing) {
		t.Fatalf("%s(%q) of a missing object: error %v, want one wrapping checkpoint.ErrMissing", op, name, err)
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

// createIfNotExist writes data to name with ifNotExist and returns the error of Create or
// Commit.
func createIfNotExist(st checkpoint.Storage, name string, data []byte) error {
	w, err := st.Create(bg, name, true)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	_, err = w.Commit()
	return err
}

func suiteIfNotExist(t *testing.T, st checkpoint.Storage) {
	const name = "job/chk-1/_metadata"
	if err := createIfNotExist(st, name, []byte("first")); err != nil {
		t.Fatalf("create-if-not-exists of a new object: %v", err)
	}
	expectContent(t, st, name, []byte("first"))
	err := createIfNotExist(st, name, []byte("second, longer"))
	if !errors.Is(err, checkpoint.ErrExists) {
		t.Fatalf("create-if-not-exists of an existing object: error %v, want one wrapping checkpoint.ErrExists", err)
	}
	expectContent(t, st, name, []byte("first"))
	expectList(t, st, "", name)
	// After a Delete the name is free again.
	if err := st.Delete(bg, name); err != nil {
		t.Fatal(err)
	}
	if err := createIfNotExist(st, name, []byte("third")); err != nil {
		t.Fatalf("create-if-not-exists after Delete: %v", err)
	}
	expectContent(t, st, name, []byte("third"))
}

func suiteIfNotExistConcurrent(t *testing.T, st checkpoint.Storage) {
	const rounds, writers = 10, 6
	for r := range rounds {
		name := fmt.Sprintf("race/%d/_metadata", r)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				w, err := st.Create(bg, name, true)
				if err != nil {
					errs[i] = err
					return
				}
				if _, err := w.Write(pattern(100+i, byte(i))); err != nil {
					w.Abort()
					errs[i] = err
					return
				}
				runtime.Gosched()
				_, errs[i] = w.Commit()
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("%s: writers %d and %d both committed with create-if-not-exists", name, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, checkpoint.ErrExists):
				t.Fatalf("%s: writer %d: %v, want success or checkpoint.ErrExists", name, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("%s: no writer committed", name)
		}
		expectContent(t, st, name, pattern(100+winner, byte(winner)))
	}
}

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

func suiteConcurrentWriters(t *testing.T, st checkpoint.Storage) {
	const writers, objects, chunk = 6, 6, 3000
	content := func(w, o int) []byte { return pattern(chunk*3+w*objects+o, byte(w*objects+o)) }
	var wg sync.WaitGroup
	errs := make(chan error, writers*objects)
	var want []string
	for w := range writers {
		for o := range objects {
			want = append(want, fmt.Sprintf("job/chk-%d/op-%d", o, w))
		}
		wg.Go(func() {
			for o := range objects {
				name := fmt.Sprintf("job/chk-%d/op-%d", o, w)
				data := content(w, o)
				wr, err := st.Create(bg, name, false)
				if err != nil {
					errs <- err
					return
				}
				for len(data) > 0 {
					n := min(chunk, len(data))
					if _, err := wr.Write(data[:n]); err != nil {
						wr.Abort()
						errs <- err
						return
					}
					data = data[n:]
					runtime.Gosched()
				}
				if _, err := wr.Commit(); err != nil {
					errs <- fmt.Errorf("commit %s: %w", name, err)
					return
				}
				// Read back an object committed by this writer while others write.
				got, err := st.ReadRange(bg, name, 1, chunk)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, content(w, o)[1:1+chunk]) {
					errs <- fmt.Errorf("%s reads back wrong bytes", name)
					return
				}
				if _, err := st.List(bg, "job/"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	expectList(t, st, "", want...)
	for w := range writers {
		for o := range objects {
			expectContent(t, st, fmt.Sprintf("job/chk-%d/op-%d", o, w), content(w, o))
		}
	}
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

// suiteCreateWhileDeleting: writers create, commit and delete objects in one "directory"
// concurrently, so that one's delete empties it while another creates a file in it. Every
// commit succeeds and reads back (a file:// storage that removes empty directories must not
// fail a writer whose directory a delete removed under it).
func suiteCreateWhileDeleting(t *testing.T, st checkpoint.Storage) {
	const writers, rounds = 6, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				name := fmt.Sprintf("job/chk-1/w%d-%d", w, r)
				data := pattern(64+r, byte(w))
				wr, err := st.Create(bg, name, false)
				if err != nil {
					errs <- fmt.Errorf("Create(%q): %w", name, err)
					return
				}
				if _, err := wr.Write(data); err != nil {
					wr.Abort()
					errs <- fmt.Errorf("Write(%q): %w", name, err)
					return
				}
				if _, err := wr.Commit(); err != nil {
					errs <- fmt.Errorf("Commit(%q): %w", name, err)
					return
				}
				got, err := st.ReadRange(bg, name, 0, -1)
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("%s reads back %d bytes, %v", name, len(got), err)
					return
				}
				if err := st.Delete(bg, name); err != nil {
					errs <- fmt.Errorf("Delete(%q): %w", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	expectList(t, st, "")
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

func suiteString(t *testing.T, st checkpoint.Storage) {
	if st.String() == "" {
		t.Fatal("String() is empty")
	}
}

// ---------------------------------------------------------------------------------------------
// FaultStorage

// Op is a storage operation FaultStorage can fail and count.
type Op int

// The operations of checkpoint.Storage and checkpoint.Writer.
const (
	OpCreate    Op = iota + 1 // Storage.Create
	OpWrite                   // Writer.Write
	OpCommit                  // Writer.Commit
	OpReadRange               // Storage.ReadRange
	OpSize                    // Storage.Size
	OpDelete                  // Storage.Delete
	OpList                    // Storage.List (the name is the prefix)
	OpSweep                   // Storage.Sweep (the name is the directory)
)

func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpWrite:
		return "write"
	case OpCommit:
		return "commit"
	case OpReadRange:
		return "read-range"
	case OpSize:
		return "size"
	case OpDelete:
		return "delete"
	case OpList:
		return "list"
	case OpSweep:
		return "sweep"
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// ErrInjected is wrapped by every failure FaultStorage injects through FailNth or FailAlways.
var ErrInjected = errors.New("checkpointtest: injected fault")

// ReadStats counts the ReadRange calls on one object and the bytes they returned.
type ReadStats struct {
	Calls int
	Bytes int64
}

// FaultStorage wraps a checkpoint.Storage for tests: it fails chosen operations, makes
// objects read truncated, runs a hook before every operation, and counts calls and read
// bytes per object name. With no fault configured it behaves exactly as the storage it wraps.
// Safe for concurrent use.
type FaultStorage struct {
	inner checkpoint.Storage

	mu     sync.Mutex
	rules  []*rule
	truncs []truncation
	delays []delay
	hook   func(op Op, name string) error
	reads  map[string]ReadStats
	calls  map[Op]map[string]int
}

type rule struct {
	op      Op
	substr  string
	nth     int // fire on the nth match; <= 0: on every match
	matched int
	err     error // nil: an error wrapping ErrInjected
}

type delay struct {
	op     Op
	substr string
	d      time.Duration
}

type truncation struct {
	substr string
	size   int64
}

// NewFaultStorage wraps st. Closing the FaultStorage closes st.
func NewFaultStorage(st checkpoint.Storage) *FaultStorage {
	return &FaultStorage{inner: st, reads: map[string]ReadStats{}, calls: map[Op]map[string]int{}}
}

// Inner returns the wrapped storage (to act on it without faults or counting).
func (s *FaultStorage) Inner() checkpoint.Storage { return s.inner }

// FailNth makes the n-th call of op (1-based, counted from now) on an object whose name
// contains nameContains fail with an error wrapping ErrInjected; "" matches every name.
// n <= 0 fails every such call. A failed Create, ReadRange, Size, Delete or List does not
// reach the wrapped storage; a failed Write writes nothing; a failed Commit aborts the object,
// so nothing is stored.
func (s *FaultStorage) FailNth(op Op, nameContains string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{op: op, substr: nameContains, nth: n})
}

// FailNthWith is FailNth with the error to fail with: for example an error wrapping
// checkpoint.ErrCorrupt or a permission error, which a retrying storage does not retry
// (ErrInjected itself counts as transient, as any error of unknown kind).
func (s *FaultStorage) FailNthWith(op Op, nameContains string, n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{op: op, substr: nameContains, nth: n, err: err})
}

// Slow makes every call of op on an object whose name contains nameContains wait d before
// it runs (or until the call's context is done, which then fails it): a slow network or an
// overloaded store.
func (s *FaultStorage) Slow(op Op, nameContains string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays = append(s.delays, delay{op: op, substr: nameContains, d: d})
}

// FailAlways makes every call of op on an object whose name contains nameContains fail.
func (s *FaultStorage) FailAlways(op Op, nameContains string) { s.FailNth(op, nameContains, 0) }

// TruncateReads makes every object whose name contains nameContains read as if it had only
// size bytes: ReadRange returns no byte at or past size. Size and List are unaffected, as
// with a torn read or a file that changed under the reader.
func (s *FaultStorage) TruncateReads(nameContains string, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncs = append(s.truncs, truncation{substr: nameContains, size: size})
}

// SetHook sets a function that runs before every operation (nil: none), after the operation
// is counted and before any injected fault; a non-nil error fails the operation with exactly
// that error, as FailNth describes. The hook runs without FaultStorage's lock held, so it may
// use the storage; its own calls run the hook again.
func (s *FaultStorage) SetHook(hook func(op Op, name string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

// ClearFaults removes every fault, truncation, delay and the hook; counts are kept.
func (s *FaultStorage) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules, s.truncs, s.delays, s.hook = nil, nil, nil, nil
}

// Reads returns the ReadRange calls on the object name (exactly) that reached the wrapped
// storage, and the bytes they returned (after truncation).
func (s *FaultStorage) Reads(name string) ReadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[name]
}

// AllReads returns the ReadRange counts of every object read so far.
func (s *FaultStorage) AllReads() map[string]ReadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]ReadStats, len(s.reads))
	for k, v := range s.reads {
		out[k] = v
	}
	return out
}

// Calls returns how many calls of op were made on objects whose name contains nameContains
// (failed ones included).
func (s *FaultStorage) Calls(op Op, nameContains string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for name, c := range s.calls[op] {
		if strings.Contains(name, nameContains) {
			n += c
		}
	}
	return n
}

// ResetCounts zeroes the call and read counts.
func (s *FaultStorage) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = map[string]ReadStats{}
	s.calls = map[Op]map[string]int{}
}

// before counts the call, waits its delays, runs the hook and returns the error to fail it
// with, if any.
func (s *FaultStorage) before(ctx context.Context, op Op, name string) error {
	s.mu.Lock()
	if s.calls[op] == nil {
		s.calls[op] = map[string]int{}
	}
	s.calls[op][name]++
	hook := s.hook
	var wait time.Duration
	for _, d := range s.delays {
		if d.op == op && strings.Contains(name, d.substr) {
			wait += d.d
		}
	}
	s.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s in %s: %w", op, name, s.inner, ctx.Err())
		}
	}
	if hook != nil {
		if err := hook(op, name); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var fire *rule
	for _, r := range s.rules {
		if r.op != op || !strings.Contains(name, r.substr) {
			continue
		}
		r.matched++
		if fire == nil && (r.nth <= 0 || r.matched == r.nth) {
			fire = r
		}
	}
	if fire != nil && fire.err != nil {
		return fire.err
	}
	if fire != nil {
		return fmt.Errorf("%w: %s %s in %s (matching call %d)", ErrInjected, op, name, s.inner, fire.matched)
	}
	return nil
}

// String describes the wrapped storage.
func (s *FaultStorage) String() string { return "faulty " + s.inner.String() }

// Close closes the wrapped storage.
func (s *FaultStorage) Close() error { return s.inner.Close() }

// Create implements checkpoint.Storage.
func (s *FaultStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	if err := s.before(ctx, OpCreate, name); err != nil {
		return nil, err
	}
	w, err := s.inner.Create(ctx, name, ifNotExist)
	if err != nil {
		return nil, err
	}
	return &faultWriter{s: s, w: w, name: name, ctx: ctx}, nil
}

type faultWriter struct {
	s    *FaultStorage
	ctx  context.Context
	w    checkpoint.Writer
	name string
}

func (w *faultWriter) Write(p []byte) (int, error) {
	if err := w.s.before(w.ctx, OpWrite, w.name); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

func (w *faultWriter) Commit() (int64, error) {
	if err := w.s.before(w.ctx, OpCommit, w.name); err != nil {
		w.w.Abort()
		return 0, err
	}
	return w.w.Commit()
}

func (w *faultWriter) Abort() { w.w.Abort() }

// ReadRange implements checkpoint.Storage.
func (s *FaultStorage) ReadRange(ctx context.Context, name string, offset, length int64) ([]byte, error) {
	if err := s.before(ctx, OpReadRange, name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	limit := int64(-1)
	for _, tr := range s.truncs {
		if strings.Contains(name, tr.substr) && (limit < 0 || tr.size < limit) {
			limit = max(tr.size, 0)
		}
	}
	s.mu.Unlock()
	b, err := s.inner.ReadRange(ctx, name, offset, length)
	if err == nil && limit >= 0 {
		b = b[:max(0, min(int64(len(b)), limit-offset))]
	}
	s.mu.Lock()
	r := s.reads[name]
	r.Calls++
	r.Bytes += int64(len(b))
	s.reads[name] = r
	s.mu.Unlock()
	return b, err
}

// Size implements checkpoint.Storage.
func (s *FaultStorage) Size(ctx context.Context, name string) (int64, error) {
	if err := s.before(ctx, OpSize, name); err != nil {
		return 0, err
	}
	return s.inner.Size(ctx, name)
}

// Delete implements checkpoint.Storage.
func (s *FaultStorage) Delete(ctx context.Context, name string) error {
	if err := s.before(ctx, OpDelete, name); err != nil {
		return err
	}
	return s.inner.Delete(ctx, name)
}

// List implements checkpoint.Storage.
func (s *FaultStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := s.before(ctx, OpList, prefix); err != nil {
		return nil, err
	}
	return s.inner.List(ctx, prefix)
}

// Sweep implements checkpoint.Storage.
func (s *FaultStorage) Sweep(ctx context.Context, dir string) error {
	if err := s.before(ctx, OpSweep, dir); err != nil {
		return err
	}
	return s.inner.Sweep(ctx, dir)
}

var _ checkpoint.Storage = (*FaultStorage)(nil)

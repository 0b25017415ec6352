package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// checkpointtest.FaultStorage over mem:// storage.

func TestFaultStorageFailNth(t *testing.T) {
	ctx := context.Background()
	for _, op := range []checkpointtest.Op{checkpointtest.OpCreate, checkpointtest.OpWrite, checkpointtest.OpCommit,
		checkpointtest.OpReadRange, checkpointtest.OpSize, checkpointtest.OpDelete, checkpointtest.OpList} {
		t.Run(op.String(), func(t *testing.T) {
			fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
			putObject(t, fs, "job/chk-1/other", []byte("x"))
			fs.FailNth(op, "chk-1/target", 2)
			// do runs op once on name and returns its error.
			do := func(name string) error {
				switch op {
				case checkpointtest.OpCreate, checkpointtest.OpWrite, checkpointtest.OpCommit:
					w, err := fs.Create(ctx, name, false)
					if err != nil {
						return err
					}
					if _, err := w.Write([]byte("data")); err != nil {
						w.Abort()
						return err
					}
					_, err = w.Commit()
					return err
				case checkpointtest.OpReadRange:
					_, err := fs.ReadRange(ctx, name, 0, -1)
					return err
				case checkpointtest.OpSize:
					_, err := fs.Size(ctx, name)
					return err
				case checkpointtest.OpDelete:
					return fs.Delete(ctx, name)
				default:
					_, err := fs.List(ctx, name)
					return err
				}
			}
			if op != checkpointtest.OpCreate && op != checkpointtest.OpWrite && op != checkpointtest.OpCommit {
				putObject(t, fs.Inner(), "job/chk-1/target", []byte("data"))
			}
			if err := do("job/chk-1/other"); err != nil {
				t.Fatalf("a non-matching name failed: %v", err)
			}
			if err := do("job/chk-1/target"); err != nil {
				t.Fatalf("the first matching call failed: %v", err)
			}
			if op == checkpointtest.OpDelete {
				putObject(t, fs.Inner(), "job/chk-1/target", []byte("data"))
			}
			err := do("job/chk-1/target")
			if !errors.Is(err, checkpointtest.ErrInjected) || !strings.Contains(err.Error(), "job/chk-1/target") {
				t.Fatalf("the second matching call: %v, want an injected error naming the object", err)
			}
			if err := do("job/chk-1/target"); err != nil {
				t.Fatalf("the third matching call failed: %v", err)
			}
			if got := fs.Calls(op, "target"); got != 3 {
				t.Errorf("Calls(%v, target) = %d, want 3", op, got)
			}
		})
	}
}

// A failed Commit stores nothing; a failed Delete deletes nothing; FailAlways keeps failing
// until ClearFaults.
func TestFaultStorageEffects(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	fs.FailAlways(checkpointtest.OpCommit, "_metadata")
	for range 3 {
		if _, err := writeInChunks(fs, "job/chk-1/_metadata", 10, 10); !errors.Is(err, checkpointtest.ErrInjected) {
			t.Fatalf("commit: %v", err)
		}
	}
	if names, _ := fs.Inner().List(ctx, ""); len(names) != 0 {
		t.Fatalf("a failed commit stored %q", names)
	}
	putObject(t, fs, "keep", []byte("k"))
	fs.FailAlways(checkpointtest.OpDelete, "")
	if err := fs.Delete(ctx, "keep"); !errors.Is(err, checkpointtest.ErrInjected) {
		t.Fatalf("delete: %v", err)
	}
	if got := readAll(t, fs.Inner(), "keep"); string(got) != "k" {
		t.Fatalf("a failed delete deleted: %q", got)
	}
	fs.ClearFaults()
	if _, err := writeInChunks(fs, "job/chk-1/_metadata", 10, 10); err != nil {
		t.Fatal(err)
	}
	if err := fs.Delete(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
}

func TestFaultStorageHook(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	var seen []string
	boom := errors.New("boom")
	fs.SetHook(func(op checkpointtest.Op, name string) error {
		seen = append(seen, fmt.Sprintf("%v %s", op, name))
		if op == checkpointtest.OpSize && name == "fail" {
			return boom
		}
		if op == checkpointtest.OpCommit {
			// The hook may use the storage: here it sees the object is not yet visible.
			if _, err := fs.Size(ctx, name); !errors.Is(err, snapshot.ErrMissing) {
				t.Errorf("object visible before its commit: %v", err)
			}
		}
		return nil
	})
	putObject(t, fs, "a", []byte("1"))
	if _, err := fs.Size(ctx, "fail"); err != boom {
		t.Fatalf("Size = %v, want the hook's error as is", err)
	}
	want := []string{"create a", "write a", "commit a", "size a", "size fail"}
	if !slices.Equal(seen, want) {
		t.Fatalf("hook saw %q, want %q", seen, want)
	}
}

func TestFaultStorageTruncateAndCount(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	data := []byte("0123456789")
	putObject(t, fs, "f", data)
	putObject(t, fs, "g", data)
	fs.TruncateReads("f", 6)
	for _, c := range []struct {
		off, n int64
		want   string
	}{{0, -1, "012345"}, {2, 2, "23"}, {4, 10, "45"}, {6, -1, ""}, {8, 1, ""}} {
		got, err := fs.ReadRange(ctx, "f", c.off, c.n)
		if err != nil || string(got) != c.want {
			t.Fatalf("truncated ReadRange(%d, %d) = %q, %v; want %q", c.off, c.n, got, err, c.want)
		}
	}
	if size, err := fs.Size(ctx, "f"); err != nil || size != 10 {
		t.Fatalf("Size of a truncated object = %d, %v; want the real size", size, err)
	}
	if got := readAll(t, fs, "g"); string(got) != string(data) {
		t.Fatalf("an object not truncated reads %q", got)
	}
	if got, want := fs.Reads("f"), (checkpointtest.ReadStats{Calls: 5, Bytes: 10}); got != want {
		t.Fatalf("Reads(f) = %+v, want %+v", got, want)
	}
	if got := fs.AllReads(); len(got) != 2 || got["g"].Bytes != 10 {
		t.Fatalf("AllReads = %+v", got)
	}
	fs.ResetCounts()
	if got := fs.Reads("f"); got != (checkpointtest.ReadStats{}) {
		t.Fatalf("Reads after ResetCounts = %+v", got)
	}
}

// The purpose of the read counts: prove that a restore of some key groups reads only their
// part of a full snapshot file, and that a truncated read is reported, not decoded.
func TestFaultStorageCountsPartialRestore(t *testing.T) {
	ctx := context.Background()
	fs := checkpointtest.NewFaultStorage(openURL(t, "mem://"))
	c, err := checkpoint.Open(ctx, fs, "job", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const maxP = 32
	all := keygroup.Range{Start: 0, End: maxP - 1}
	p, err := c.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	h := cpWrite(t, p, "op-0", all, strings.Repeat("v", 200))
	if err := p.Complete(ctx, cpMetadata(maxP, h)); err != nil {
		t.Fatal(err)
	}
	name := "job/" + h.File.Path
	fs.ResetCounts()
	part := keygroup.RangeFor(maxP, 4, 1)
	got, err := cpReadHandle(ctx, c.Reader(), h, part)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != part.Len() {
		t.Fatalf("read %d records, want %d", len(got), part.Len())
	}
	r := fs.Reads(name)
	var span int64
	for kg := range part.All() {
		span += h.Blocks[kg].Length
	}
	if r.Bytes >= h.File.Size/2 || r.Bytes > span+64 {
		t.Fatalf("restoring %v of %v read %d bytes in %d calls of a %d byte file (the blocks are %d bytes)",
			part, all, r.Bytes, r.Calls, h.File.Size, span)
	}
	// A torn read of the file is reported as a missing (short) file that names it.
	fs.TruncateReads(name, h.Blocks[part.Start].Offset+10)
	_, err = cpReadHandle(ctx, c.Reader(), h, part)
	if !errors.Is(err, snapshot.ErrMissing) || !strings.Contains(err.Error(), h.File.Path) {
		t.Fatalf("truncated read: %v, want ErrMissing naming %s", err, h.File.Path)
	}
}

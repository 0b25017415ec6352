package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestRawReadFiles(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int{"a": 0, "b": 1, "c": 1000, "d": 4097}
	var files []RawFile
	var want int64
	for name, n := range sizes {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, RawFile{Name: name, Size: int64(n)})
		want += int64(n)
	}
	var reads, inFlight, peak atomic.Int64
	file := FileRangeReader(dir)
	read := func(ctx context.Context, name string, off, n int64) ([]byte, error) {
		reads.Add(1)
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		return file(ctx, name, off, n)
	}
	n, d, err := RawRead(context.Background(), read, files, 512, 3)
	if err != nil {
		t.Fatal(err)
	}
	if n != want || d <= 0 {
		t.Fatalf("read %d bytes in %v, want %d", n, d, want)
	}
	if got := reads.Load(); got != 1+2+9 { // 1, 1000 and 4097 bytes in 512-byte reads
		t.Fatalf("%d reads, want 12", got)
	}
	if peak.Load() > 3 {
		t.Fatalf("%d reads in flight, want at most 3", peak.Load())
	}
	if err := DropPageCache([]string{filepath.Join(dir, "d")}); err != nil {
		t.Fatal(err)
	}
	copyDir := t.TempDir()
	if n, _, err := RawCopy(context.Background(), file, files, 512, 3, copyDir); err != nil || n != want {
		t.Fatalf("raw copy: %d bytes, %v; want %d bytes", n, err, want)
	}
	if left, _ := os.ReadDir(copyDir); len(left) != 0 {
		t.Fatalf("raw copy left %v", left)
	}

	// A file shorter than listed is an error naming it: the baseline must read what the
	// restore reads.
	files = append(files, RawFile{Name: "c", Size: 2000})
	if _, _, err := RawRead(context.Background(), file, files, 512, 3); err == nil || !strings.Contains(err.Error(), "raw read of c") {
		t.Fatalf("short file: err = %v", err)
	}
	if _, _, err := RawRead(context.Background(), file, []RawFile{{Name: "missing", Size: 10}}, 512, 3); err == nil {
		t.Fatal("missing file read")
	}
}

package stream

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCommittedLines reads only the published part files, and refuses one whose last line is
// cut.
func TestCommittedLines(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("part-w-1-0-r-0", "a\nb\n")
	write("part-w-2-0-r-0", "")
	write(".part-w-0-r-1.inprogress", "in progress\n")
	write(".part-w-3-0-r-0.pending", "pending\n")
	write(".part-w-1-1-r-0.retracted", "retracted\n")
	got, err := CommittedLines(dir)
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("CommittedLines = %q, %v; want [a b]", got, err)
	}
	write("part-w-4-0-r-0", "c\nd")
	if _, err := CommittedLines(dir); err == nil || !strings.Contains(err.Error(), "part-w-4-0-r-0: the last line is incomplete") {
		t.Fatalf("cut file: %v", err)
	}
}

package blobstore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A storage directory that OpenURL creates is linked durably into the existing directories
// above it: each new directory's parent is fsynced, deepest first.
func TestFileRootCreatedDurably(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "a", "b", "c")
	var synced []string
	if _, err := openFileDirs(root, func(p string) { synced = append(synced, p) }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("root not created: %v", err)
	}
	want := []string{filepath.Join(base, "a", "b"), filepath.Join(base, "a"), base}
	if !slices.Equal(synced, want) {
		t.Fatalf("fsynced %q, want %q", synced, want)
	}
	// An existing directory needs nothing.
	synced = nil
	if _, err := openFileDirs(root, func(p string) { synced = append(synced, p) }); err != nil || len(synced) != 0 {
		t.Fatalf("reopen: fsynced %q, %v; want nothing", synced, err)
	}
}

func TestFileblobTempTime(t *testing.T) {
	name := "job/chk-1/op-0-ab.18eac6b57239f12d.tmp"
	if got, ok := fileblobTempTime(name); !ok || got.UnixNano() != 0x18eac6b57239f12d {
		t.Fatalf("fileblobTempTime(%q) = %v, %v", name, got, ok)
	}
	if _, ok := fileblobTempTime("x." + "18eac6b57239f12" + ".tmp"); ok {
		t.Fatal("15 hex digits taken for a temporary file")
	}
	for _, n := range []string{"a.tmp", "a.b.tmp", "x.18EAC6B57239F12D.tmp", "x.18eac6b57239f12d.tmpx", "x18eac6b57239f12d.tmp"} {
		if _, ok := fileblobTempTime(n); ok {
			t.Errorf("%q taken for a temporary file", n)
		}
	}
}

func TestPlainName(t *testing.T) {
	for name, want := range map[string]bool{
		"job/chk-1/_metadata": true, "job/shared/x": true, "a": true,
		"": false, "/a": false, "a/": false, "a//b": false, "a/./b": false, "a/../b": false, "..": false,
		"a\x01b": false, `a\b`: false,
	} {
		if got := plainName(name); got != want {
			t.Errorf("plainName(%q) = %v, want %v", name, got, want)
		}
	}
}

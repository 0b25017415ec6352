package config

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLocalRecoveryKeys(t *testing.T) {
	c := Default()
	if c.LocalRecovery || c.LocalRootDirs != nil {
		t.Fatalf("local recovery defaults: %v %q; want off, no dirs (the checkpoint package's default)", c.LocalRecovery, c.LocalRootDirs)
	}
	for _, key := range []string{KeyLocalRecovery, KeyLocalRecoveryLegacy} {
		c, err := Parse(map[string]string{key: "true", KeyLocalRootDirs: " /a/b , /c" + string(filepath.ListSeparator) + "/d"})
		if err != nil {
			t.Fatal(err)
		}
		if !c.LocalRecovery || !slices.Equal(c.LocalRootDirs, []string{"/a/b", "/c", "/d"}) {
			t.Fatalf("%s: parsed %v %q", key, c.LocalRecovery, c.LocalRootDirs)
		}
	}
	for _, tc := range []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{KeyLocalRecovery: "yes please"}, KeyLocalRecovery},
		{map[string]string{KeyLocalRootDirs: " , "}, KeyLocalRootDirs},
		{map[string]string{KeyLocalRecovery: "true", KeyLocalRecoveryLegacy: "false"}, "disagree"},
	} {
		if _, err := Parse(tc.kv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%v) = %v, want an error naming %q", tc.kv, err, tc.want)
		}
	}
	if _, err := Parse(map[string]string{KeyLocalRecovery: "true", KeyLocalRecoveryLegacy: "true"}); err != nil {
		t.Errorf("both spellings agreeing: %v", err)
	}
}

// Build hands the keys to the job's checkpoints.
func TestBuildLocalRecovery(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Parse(map[string]string{KeyCheckpointsDir: "file://" + t.TempDir(), KeyLocalRecovery: "true", KeyLocalRootDirs: dir})
	if err != nil {
		t.Fatal(err)
	}
	j, err := cfg.Build(context.Background(), "job-1", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	on, roots := j.Options.Checkpoints.LocalRecovery()
	if !on || len(roots) != 1 || !strings.HasPrefix(roots[0], dir+string(filepath.Separator)+"job-1-") {
		t.Fatalf("LocalRecovery() = %v, %q; want on, in %s", on, roots, dir)
	}
	cfg.LocalRecovery = false
	j2, err := cfg.Build(context.Background(), "job-1", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if on, _ := j2.Options.Checkpoints.LocalRecovery(); on {
		t.Fatal("local recovery on although the configuration turns it off")
	}
}

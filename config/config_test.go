package config

import (
	"context"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

func TestDefaults(t *testing.T) {
	c := Default()
	if c.Backend != "hashmap" || c.CheckpointStorage != "jobmanager" || c.NumRetained != 1 ||
		c.SnapshotCompression || c.Incremental || c.Parallelism != 1 || c.MaxParallelism != 128 ||
		c.JobManagerMaxStateSize != 5<<20 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(map[string]string{
		KeyBackend: "rocksdb", KeyCheckpointsDir: "file:///tmp/x", KeyNumRetained: "3",
		KeySnapshotCompression: "true", KeyJobManagerMaxState: "10 mb", KeyParallelism: "100",
		"state.backend.rocksdb.block.cache-size": "64mb", "state.backend.lsm.writebuffer.count": "3",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "lsm" || c.CheckpointStorage != "filesystem" || c.NumRetained != 3 || !c.SnapshotCompression ||
		c.JobManagerMaxStateSize != 10<<20 || c.MaxParallelism != 256 || c.Compression() != snapshot.CompressionSnappy {
		t.Fatalf("parsed: %+v", c)
	}
	if c.LSM.Options.BlockCacheSize != 64<<20 || c.LSM.Options.WriteBufferCount != 3 {
		t.Fatalf("lsm keys: %+v", c.LSM)
	}
	if _, err := Parse(map[string]string{"state.backend.rocksdb.block.cache-sise": "64mb"}); err == nil || !strings.Contains(err.Error(), "cache-sise") {
		t.Fatalf("unknown lsm key: %v", err)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse(map[string]string{"state.bakend.type": "lsm", KeyNumRetained: "zero", KeyBackend: "cassandra", KeyJobManagerMaxState: "5 parsecs"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"state.bakend.type", KeyNumRetained, KeyBackend, KeyJobManagerMaxState} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if _, err := Parse(map[string]string{KeyParallelism: "300", KeyMaxParallelism: "128"}); err == nil || !strings.Contains(err.Error(), "parallelism") {
		t.Fatalf("parallelism above max parallelism: %v", err)
	}
	if _, err := Parse(map[string]string{KeyCheckpointStorage: "filesystem"}); err == nil || !strings.Contains(err.Error(), KeyCheckpointsDir) {
		t.Fatalf("filesystem without dir: %v", err)
	}
}

func TestParseMemorySize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "12": 12, "5 mb": 5 << 20, "5MB": 5 << 20, "256m": 256 << 20, "1 gb": 1 << 30, "3kb": 3 << 10, "2 tebibytes": 2 << 40} {
		got, err := ParseMemorySize(in)
		if err != nil || got != want {
			t.Errorf("ParseMemorySize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "mb", "5 parsecs", "99999999999999999999", "9999999999 tb"} {
		if _, err := ParseMemorySize(in); err == nil {
			t.Errorf("ParseMemorySize(%q) accepted", in)
		}
	}
}

func TestLoadYAML(t *testing.T) {
	kv, err := LoadYAML(strings.NewReader("state.backend.type: lsm\nstate:\n  checkpoints:\n    num-retained: 2\n    dir: file:///tmp/c\nexecution.checkpointing.snapshot-compression: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(kv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "lsm" || c.NumRetained != 2 || c.CheckpointsDir != "file:///tmp/c" || !c.SnapshotCompression {
		t.Fatalf("%+v", c)
	}
	if _, err := LoadYAML(strings.NewReader("a: [1, 2]")); err == nil {
		t.Fatal("list accepted")
	}
	if _, err := LoadYAML(strings.NewReader("state.backend.type: lsm\nstate: {backend: {type: hashmap}}")); err == nil {
		t.Fatal("conflicting duplicate accepted")
	}
	if _, err := LoadYAML(strings.NewReader(":\n  - [")); err == nil {
		t.Fatal("broken YAML accepted")
	}
}

func TestOpenCheckpointStorage(t *testing.T) {
	c := Default()
	st, err := c.OpenCheckpointStorage(context.Background())
	if err != nil || st.String() != "jobmanager" {
		t.Fatalf("%v %v", st, err)
	}
	c, _ = Parse(map[string]string{KeyCheckpointsDir: "file://" + t.TempDir()})
	st, err = c.OpenCheckpointStorage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestIncremental: state.backend.incremental is accepted with both backends, and the
// hashmap backend's chain bounds are parsed (bad values named with their key) and reach its
// StateBackend.
func TestIncremental(t *testing.T) {
	for _, kv := range []map[string]string{
		{KeyBackend: "rocksdb", KeyIncremental: "true"},
		{KeyBackend: "hashmap", KeyIncremental: "true"},
		{KeyBackend: "hashmap", KeyIncremental: "false"},
	} {
		c, err := Parse(kv)
		if err != nil {
			t.Fatalf("%v: %v", kv, err)
		}
		if c.Incremental != (kv[KeyIncremental] == "true") {
			t.Fatalf("%v: Incremental %v", kv, c.Incremental)
		}
	}
	c, err := Parse(map[string]string{KeyIncremental: "true", KeyHashmapMaxDeltas: "4", KeyHashmapMaxDeltaRatio: "0.25"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Hashmap != (heap.IncrementalOptions{MaxDeltas: 4, MaxDeltaRatio: 0.25}) {
		t.Fatalf("Hashmap = %+v", c.Hashmap)
	}
	sb, err := c.StateBackend(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := sb.(*heap.StateBackend); !ok || !h.Incremental || h.IncrementalOptions != c.Hashmap {
		t.Fatalf("state backend %#v: want an incremental hashmap backend with %+v", sb, c.Hashmap)
	}
	_, err = Parse(map[string]string{KeyHashmapMaxDeltas: "0", KeyHashmapMaxDeltaRatio: "-1"})
	for _, want := range []string{KeyHashmapMaxDeltas, KeyHashmapMaxDeltaRatio} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad %s: error %v does not name it", want, err)
		}
	}
}

// TestLSMLocalDir: Flink's state.backend.rocksdb.localdir and state.backend.lsm.localdir set
// the root of the lsm working directories; the two names must not disagree.
func TestLSMLocalDir(t *testing.T) {
	for _, key := range []string{KeyLSMLocalDir, KeyRocksDBLocalDir} {
		c, err := Parse(map[string]string{key: "/var/lib/streamstate/lsm"})
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if c.LSM.Options.Dir != "/var/lib/streamstate/lsm" {
			t.Fatalf("%s: Dir = %q", key, c.LSM.Options.Dir)
		}
	}
	_, err := Parse(map[string]string{KeyLSMLocalDir: "/a", KeyRocksDBLocalDir: "/b"})
	if err == nil || !strings.Contains(err.Error(), "localdir") {
		t.Fatalf("conflicting localdir keys: %v", err)
	}
	_, err = Parse(map[string]string{KeyRocksDBLocalDir: "/a,/b"})
	if err == nil || !strings.Contains(err.Error(), KeyRocksDBLocalDir) {
		t.Fatalf("a list of directories: %v", err)
	}
	if c := Default(); c.LSM.Options.Dir != "" {
		t.Fatalf("default localdir = %q, want unset (the backend's default)", c.LSM.Options.Dir)
	}
}

package config

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
)

// TestBuild checks that one configuration gives the runtime's options, the state backend and
// the checkpoint storage it names, and that the lsm backend's metrics come with it.
func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		backend     string
		wantMetrics bool
	}{{"hashmap", false}, {"lsm", true}} {
		t.Run(tc.backend, func(t *testing.T) {
			cfg, err := Parse(map[string]string{KeyBackend: tc.backend, KeyParallelism: "2", KeyCheckpointInterval: "2 s",
				KeyCheckpointsDir: "file://" + t.TempDir(), KeyNumRetained: "3", KeySnapshotCompression: "true",
				KeyLSMLocalDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			j, err := cfg.Build(ctx, "job-1", 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			o := j.Options
			if o.JobID != "job-1" || o.Parallelism != 2 || o.MaxParallelism != 0 || o.Checkpointing.Interval != 2*time.Second ||
				o.Checkpoints == nil || o.Compression != cfg.Compression() || o.Logger == nil {
				t.Errorf("options %+v do not follow the configuration", o)
			}
			if o.StateBackend == nil || o.StateBackend.Name() != tc.backend {
				t.Fatalf("state backend %v, want %s", o.StateBackend, tc.backend)
			}
			if (j.Metrics != nil) != tc.wantMetrics {
				t.Fatalf("metrics collector %v, want one: %v", j.Metrics, tc.wantMetrics)
			}
			kb, err := o.StateBackend.CreateKeyedBackend(ctx, backend.Options{OperatorID: "op", MaxParallelism: 128,
				KeyGroupRange: keygroup.RangeFor(128, 2, 0), KeySerializerID: serde.String{}.ID()})
			if err != nil {
				t.Fatal(err)
			}
			if j.Metrics != nil {
				reg := prometheus.NewPedanticRegistry()
				reg.MustRegister(j.Metrics)
				if n, err := testutil.GatherAndCount(reg, "streamstate_pebble_block_cache_bytes"); err != nil || n != 1 {
					t.Errorf("an open lsm backend gives %d block-cache series (%v), want 1", n, err)
				}
			}
			ob, err := o.StateBackend.CreateOperatorBackend(ctx, backend.OperatorOptions{OperatorID: "op", Parallelism: 2})
			if err != nil {
				t.Fatal(err)
			}
			if err := kb.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ob.Close(); err != nil {
				t.Fatal(err)
			}
			if j.Metrics != nil {
				reg := prometheus.NewPedanticRegistry()
				reg.MustRegister(j.Metrics)
				if n, _ := testutil.GatherAndCount(reg, "streamstate_pebble_block_cache_bytes"); n != 0 {
					t.Errorf("a closed lsm backend still gives %d series", n)
				}
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBuildFailsLoudly checks that a storage that cannot be opened fails Build, naming it.
func TestBuildFailsLoudly(t *testing.T) {
	cfg, err := Parse(map[string]string{KeyBackend: "lsm", KeyCheckpointsDir: "nosuchscheme://x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Build(context.Background(), "job", 1, nil); err == nil || !strings.Contains(err.Error(), "nosuchscheme://x") {
		t.Fatalf("Build with an unknown storage scheme: got %v, want an error naming the URL", err)
	}
}

package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/config"
)

// TestClaimModeRefusals: claim mode refuses a snapshot outside the checkpoint storage and
// no-claim mode a checkpoint of the job itself, each naming the fix; the rest passes.
func TestClaimModeRefusals(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(map[string]string{config.KeyCheckpointsDir: "file://" + dir + "/chk"})
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"file://" + dir + "/savepoints/sp-1", dir + "/chk2/job/chk-1", "s3://bucket/chk/job/chk-1"} {
		_, _, err := claimSnapshot(context.Background(), from, cfg, nil)
		if !errors.Is(err, checkpoint.ErrClaimOutsideStorage) || !strings.Contains(err.Error(), "--claim-mode no-claim") {
			t.Errorf("claim of %s: %v, want ErrClaimOutsideStorage naming the fix", from, err)
		}
	}
	jm, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := claimSnapshot(context.Background(), "file://"+dir+"/chk/job/chk-1", jm, nil); !errors.Is(err, checkpoint.ErrClaimOutsideStorage) {
		t.Errorf("claim with jobmanager checkpoint storage: %v", err)
	}

	for _, c := range []struct {
		from, job string
		refused   bool
	}{
		{"file://" + dir + "/chk/fraud/chk-3", "fraud", true},
		{dir + "/chk/fraud/chk-3/", "fraud", true},
		{"file://" + dir + "/chk/fraud/chk-3", "other", false},
		{"file://" + dir + "/chk/savepoints/sp-1", "fraud", false},
		{"file://" + dir + "/elsewhere/fraud/chk-3", "fraud", false},
	} {
		err := noClaimOwnCheckpoint(cfg, c.from, c.job)
		if (err != nil) != c.refused || (err != nil && !strings.Contains(err.Error(), "--resume")) {
			t.Errorf("no-claim restore of %s into job %s: %v, want refused %v (naming --resume)", c.from, c.job, err, c.refused)
		}
	}
}

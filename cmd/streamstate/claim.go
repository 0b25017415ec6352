package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/config"
)

// claimSnapshot loads the snapshot at url (a savepoint directory or <root>/<job-id>/chk-<n>)
// for a restore in claim mode (execution.state-recovery.claim-mode: CLAIM): the job's
// checkpoints take it over (checkpoint.Checkpoints.ClaimCheckpoint, ClaimSavepoint), so it
// must lie in the job's checkpoint storage, cfg.CheckpointsDir. The metadata's incremental
// shared files are rewritten relative to the job's directory; the Reader reads its paths.
func claimSnapshot(ctx context.Context, url string, cfg *config.Config, cps *checkpoint.Checkpoints) (*snapshot.Metadata, snapshot.Reader, error) {
	shown := blobstore.RedactURL(url)
	fix := fmt.Sprintf("restore it with --claim-mode no-claim (%s: NO_CLAIM, the default), or move the snapshot into the checkpoint storage %s first",
		config.KeyClaimMode, blobstore.RedactURL(cfg.CheckpointsDir))
	if cfg.CheckpointStorage != "filesystem" {
		return nil, nil, fmt.Errorf("--from %s in claim mode: %w, and checkpoints go to %s storage, which holds no snapshot across runs; %s",
			shown, checkpoint.ErrClaimOutsideStorage, cfg.CheckpointStorage, fix)
	}
	rel, ok := within(cfg.CheckpointsDir, url)
	if !ok {
		return nil, nil, fmt.Errorf("--from %s in claim mode: %w; %s", shown, checkpoint.ErrClaimOutsideStorage, fix)
	}
	l, err := checkpoint.Locate(ctx, url, openStorage)
	if err != nil {
		return nil, nil, fmt.Errorf("--from %s: %w", shown, err)
	}
	l.Storage.Close() // read through the job's checkpoint storage from here on
	var m *snapshot.Metadata
	var r snapshot.Reader
	switch l.Kind {
	case checkpoint.AtCheckpoint:
		if rel != l.JobID+"/chk-"+fmt.Sprint(l.CheckpointID) {
			return nil, nil, fmt.Errorf("--from %s in claim mode: %w (its job's directory is not at the storage root); %s", shown, checkpoint.ErrClaimOutsideStorage, fix)
		}
		if m, r, err = cps.ClaimCheckpoint(ctx, l.JobID, l.CheckpointID); err != nil {
			err = fmt.Errorf("--from %s: claim checkpoint %d of job %s: %w", shown, l.CheckpointID, l.JobID, err)
		}
	case checkpoint.AtSavepoint:
		if m, r, err = cps.ClaimSavepoint(ctx, strings.TrimSuffix(rel, "/")); err != nil {
			err = fmt.Errorf("--from %s: claim the savepoint: %w", shown, err)
		}
	default:
		err = fmt.Errorf("--from %s: not a savepoint (nor a checkpoint directory <checkpoints>/<job-id>/chk-<n>): it is a checkpoint %v; give a savepoint's directory or a checkpoint's <job-id>/chk-<n> in it (or --resume)",
			shown, l.Kind)
	}
	if err != nil {
		return nil, nil, err
	}
	return m, r, nil
}

// restoreModeNote is how the run's header names the restore mode of a restore from a given
// snapshot.
func restoreModeNote(claim bool) string {
	if claim {
		return " (claim mode: the job takes the snapshot over)"
	}
	return " (no-claim mode: the snapshot stays untouched)"
}

// noClaimOwnCheckpoint refuses a no-claim restore from a checkpoint of the job itself
// (<checkpoints>/<job-id>/chk-<n> with this run's job id): it is among the job's own
// checkpoints, which its retention deletes once subsumed, and no-claim mode promises never to
// delete the snapshot.
func noClaimOwnCheckpoint(cfg *config.Config, url, jobID string) error {
	if cfg.CheckpointStorage != "filesystem" {
		return nil
	}
	rel, ok := within(cfg.CheckpointsDir, url)
	if !ok {
		return nil
	}
	job, chk, ok := strings.Cut(rel, "/")
	if !ok || job != jobID || !strings.HasPrefix(chk, "chk-") || strings.Contains(chk, "/") {
		return nil
	}
	return fmt.Errorf("--from %s is checkpoint %s of job %s itself, which the job's retention deletes once subsumed; no-claim mode (%s: NO_CLAIM, the default) never deletes the snapshot: continue the job with --resume, take the checkpoint over with --claim-mode claim, or give this run another --job-id",
		blobstore.RedactURL(url), strings.TrimPrefix(chk, "chk-"), jobID, config.KeyClaimMode)
}

// within is blobstore.Within for URLs as the command line takes them: a plain directory or a
// relative file:// URL is a file:// URL (storageURL).
func within(root, loc string) (string, bool) {
	r, err1 := storageURL(root)
	l, err2 := storageURL(loc)
	if err1 != nil || err2 != nil {
		return "", false
	}
	return blobstore.Within(r, l)
}

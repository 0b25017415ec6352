package config

import (
	"fmt"
	"strings"
)

// The values of execution.state-recovery.claim-mode (Flink 2's RecoveryClaimMode).
const (
	// ClaimModeClaim: the job takes the snapshot it is restored from over. Its checkpoints
	// reference the snapshot's files (the first incremental checkpoint uploads only what
	// changed), and the snapshot is deleted once the job's checkpoints subsume it. The
	// snapshot must be in the job's checkpoint storage.
	ClaimModeClaim = "CLAIM"
	// ClaimModeNoClaim: the snapshot stays the user's. It is never modified or deleted, and
	// the first checkpoint after the restore holds everything itself. Flink 2's default.
	ClaimModeNoClaim = "NO_CLAIM"
)

// ParseClaimMode returns the claim mode s names: CLAIM or NO_CLAIM in any case, as Flink
// accepts enum values, with a hyphen for the underscore as the command line writes it
// (no-claim). Flink 1's LEGACY mode, removed in Flink 2, is refused naming the modes left.
func ParseClaimMode(s string) (string, error) {
	switch v := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "-", "_"); v {
	case ClaimModeClaim, ClaimModeNoClaim:
		return v, nil
	case "LEGACY":
		return "", fmt.Errorf("LEGACY was removed in Flink 2; use NO_CLAIM (the snapshot stays yours) or CLAIM (the job takes it over)")
	}
	return "", fmt.Errorf("want CLAIM or NO_CLAIM")
}

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/streamstate/streamstate/checkpoint"
)

// localRecoveryNote describes local recovery for run's header: ", local recovery in <dirs>"
// when it is on (execution.state-recovery.from-local), else nothing.
func localRecoveryNote(cps *checkpoint.Checkpoints) string {
	on, dirs := cps.LocalRecovery()
	if !on {
		return ""
	}
	return ", local recovery in " + strings.Join(dirs, ", ")
}

// restoredFromNote says, for a run that resumed from its own checkpoints with local recovery
// on, where the restored files came from: " (local copy: n files, x; storage: m files, y)".
func restoredFromNote(cps *checkpoint.Checkpoints, resumed bool) string {
	if on, _ := cps.LocalRecovery(); !on || !resumed {
		return ""
	}
	s, ok := cps.LastRestoreStats()
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (local copy: %d files, %s; checkpoint storage: %d files, %s)",
		s.LocalFiles, formatBytes(s.LocalBytes), s.RemoteFiles, formatBytes(s.RemoteBytes))
}

// discardLocal deletes the job's local copy when the job has ended for good (finished,
// stopped with a savepoint, canceled), as Flink discards local state when a job terminates.
// A job that fails, or a process that is killed, keeps it for the next --resume.
func discardLocal(cps *checkpoint.Checkpoints, log io.Writer) {
	if err := cps.DiscardLocal(); err != nil {
		fmt.Fprintf(log, "warning: %v\n", err)
	}
}

//go:build unix

package stream

import (
	"syscall"
	"time"
)

// processCPUTime is the CPU time (user and system) the process has used, all threads and so
// the garbage collector included; a benchmark on a shared machine reports it per operation
// because, unlike wall time, it hardly grows when other processes take the cores.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:build linux

package heap_test

import "syscall"

// threadCPU returns the CPU time (ns) the calling thread has used, or -1 if unknown. The
// benchmarks that report it lock their goroutine to its thread: on a machine shared with
// other work, CPU time per operation is steadier than wall time.
func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// processCPU returns the CPU time (ns) the process has used, all threads, or -1 if unknown.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

//go:build !linux

package heap_test

// threadCPU returns -1: the thread's CPU time is only read on Linux.
func threadCPU() int64 { return -1 }

// processCPU returns -1: the process's CPU time is only read on Linux.
func processCPU() int64 { return -1 }

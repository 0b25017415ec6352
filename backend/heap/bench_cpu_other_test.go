//go:build !linux

package heap_test

// threadCPU returns -1: the thread's CPU time is only read on Linux.
func threadCPU() int64 { return -1 }

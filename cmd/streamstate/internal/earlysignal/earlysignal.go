// Package earlysignal registers the signals streamstate handles as early as a Go program
// can: in the init of a package that imports nothing but os/signal, syscall and testing (for
// testing.Testing), so it runs as soon as os/signal is initialized, tens of milliseconds
// before main on a busy machine (the AWS SDK's, Pebble's and Prometheus's package
// initialization run between). A signal
// that arrives in that time is queued, not lost, and SIGUSR1 does not kill the process by
// its default action.
//
// Importing the package registers the signals; Take hands them over, once. This is the one
// package-level state of the command, on purpose: nothing that runs later can be earlier.
package earlysignal

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// Handled are the signals registered: SIGUSR1, SIGUSR2, SIGINT and SIGTERM.
func Handled() []os.Signal {
	return []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGTERM}
}

// queue holds the signals from init until Take; its capacity is the number of signals kept
// before anyone reads them (later ones are dropped, as os/signal does with a full channel).
var queue = make(chan os.Signal, 64)

// A test binary that links the command (its in-process tests) keeps the default actions, so
// that Ctrl-C still ends `go test`; the signal tests run the built command.
func init() {
	if !testing.Testing() {
		signal.Notify(queue, Handled()...)
	}
}

// Take returns the channel of the registered signals, which receives every one since the
// process started. Stop unregisters them (their default actions apply again).
func Take() (signals <-chan os.Signal, stop func()) {
	return queue, func() { signal.Stop(queue) }
}

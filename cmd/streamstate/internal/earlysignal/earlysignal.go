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

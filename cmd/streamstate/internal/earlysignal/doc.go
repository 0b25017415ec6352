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
//
// It imports only os/signal, syscall and testing, and must never import more: every import
// initializes before it.
package earlysignal

// Command streamstate is the command line of streamstate: a demo job that writes, checkpoints,
// rescales and restores keyed state, and micro-benchmarks of the state backends.
//
//	streamstate demo                      # the main demo job, on the embedded defaults
//	streamstate bench state --json        # state micro-benchmark against plain Go maps
//	streamstate bench state --backend lsm # the lsm backend against raw Pebble
//	streamstate bench checkpoint --backend lsm --incremental --keys 1000000 --change-percent 1
//
// One file per subcommand (demo.go, bench_state.go, bench_checkpoint.go; bench_state_pebble.go
// is the raw Pebble baseline of bench state); backends.go names the state backends.
package main

// Command streamstate is the command line of streamstate: a demo job that writes, checkpoints,
// rescales and restores keyed state, and micro-benchmarks of the state backends.
//
//	streamstate demo                      # the main demo job, on the embedded defaults
//	streamstate bench state --json        # state micro-benchmark against plain Go maps
//
// One file per subcommand (demo.go, bench_state.go); backends.go names the state backends.
package main

// Command streamstate is the command line of streamstate: it runs the shipped stateful jobs
// with checkpoints, looks into checkpoint storage, takes savepoints, and benchmarks.
//
//	streamstate run fraud                 # the main job: lsm backend, checkpoints in ./checkpoints
//	streamstate run fraud --resume        # continue after a crash from the latest checkpoint
//	streamstate run nexmark-q5 -p 3 --from savepoints/savepoint-…  # restore elsewhere
//	streamstate savepoint [<pid>] [--stop] [--type native] # savepoint of a running job; prints where it went
//	streamstate checkpoints list|inspect|validate ./checkpoints
//	streamstate demo                      # the state API alone: checkpoint, rescale, verify
//	streamstate bench state --backend lsm # state micro-benchmark against raw Pebble
//	streamstate bench checkpoint --backend hashmap --incremental --keys 1000000 --checkpoints 11
//	streamstate bench nexmark --query q5 --intervals 0,10s,1s --rounds 3
//	streamstate bench state --ttl 1h     # the cost of state TTL, against the same backend without
//	streamstate bench ttl --rate 20000 --ttl 3s --duration 63s  # TTL state levels off?
//
// A running job keeps a record in a runtime directory (runtimefiles.go) through which
// savepoint finds it and learns where its savepoint went; jobsignals.go handles a job's
// signals from the start of the process.
//
// One file per subcommand: run.go, savepoint.go, demo.go (its stream job in demo_job.go),
// checkpoints_{list,inspect,validate}.go (what they share, the URL's location, in
// checkpoints.go), bench_state.go, bench_checkpoint.go, bench_nexmark.go, bench_ttl.go. The machinery
// of bench state, with its one table of operations and its baselines, and of bench ttl is
// internal/bench.
// Helpers: jobs.go lists the shipped jobs, backends.go the state backends, storage.go opens
// storage URLs, format.go formats tables, sizes and times for people.
//
// The command builds jobs through config (the composition root) and prints; it holds no
// runtime or snapshot protocol of its own (stream runs jobs, backend.SnapshotOperator drives a
// snapshot outside a job, checkpoint.Locate says what a URL holds).
package main

// Package stream is streamstate's small stream runtime: typed dataflow jobs whose state lives
// in a state backend and is checkpointed with Flink's protocol.
//
// A job is a Graph: FromSource → Map/Filter/FlatMap → KeyBy → Process (a
// KeyedProcessFunction with keyed state and timers) or a window → SinkToFiles. Operators up
// to the next KeyBy are chained: they run as plain calls on one goroutine per subtask (a
// vertex). A KeyBy edge is a bounded channel from every upstream subtask to every downstream
// subtask; records travel in batches, each to the subtask owning its key's key group, and a
// full channel blocks the sender (backpressure).
//
// Event time: sources emit watermarks per split (bounded out-of-orderness, idle splits hold
// no one back); a subtask's watermark is the least over its active inputs; keyed operators
// fire their event-time timers when it advances.
//
// Checkpoints (Flink's aligned checkpoints): the coordinator triggers the sources every
// interval; a source snapshots its split positions and emits a barrier; a subtask that has a
// barrier from one input blocks that input until every input delivered it, then runs the
// synchronous phase of its operators' snapshots on its own goroutine, forwards the barrier and
// runs the asynchronous phase in the background. When every subtask acknowledged, the
// coordinator writes _metadata and notifies the subtasks (the lsm backend's shared-file
// bookkeeping, the file sink's commits). Timeouts, min-pause, max-concurrent checkpoints and
// tolerable failures are Flink's settings. When every source has finished, a final
// checkpoint commits the last output before the job ends. The coordinator's rules are a pure
// state machine (events in, actions out, time passed in) driven by one goroutine; retention
// of old checkpoints runs on a goroutine of its own. What a subtask needs for its snapshot
// travels with the barrier: no subtask reads the coordinator's state.
//
// Exactly once: sources rewind to their checkpointed positions on restore, and SinkToFiles
// publishes a checkpoint's output only once that checkpoint completes (two-phase commit), so
// the output after any number of crashes holds the same multiset of lines as that of an
// uninterrupted run (split into other part files). Restore from
// the latest checkpoint (Restore.Latest, with fallback past corrupt ones, failing when none
// can be read) or from any checkpoint or savepoint, at another parallelism and, from a
// savepoint, on another backend.
//
// Failures: the first error of any subtask fails the job, and Job.Wait returns it once every
// subtask has stopped. A keyed state backend that fails on goroutines of its own (the lsm
// backend: a flush or MANIFEST write of Pebble on a full disk) fails the job at once, even
// while the subtask is blocked inside it; a subtask still stalled in its failed backend after
// a grace of seconds is not waited for: Pebble has no way to end that stall, so the goroutine
// and its working directory are left until the process exits (watchdog.go).
//
// Windows are Flink's WindowOperator (tumbling, sliding and session assigners, triggers,
// allowed lateness). A Reduce window can pre-aggregate in memory (WindowedStream.MiniBatch)
// and, for sliding windows, by slice (Slicing): windows then fire from memory without
// touching the state backend, and checkpoints copy the pending batch into operator state.
//
// The timer service (InternalTimerService) keeps event- and processing-time timers in the
// keyed backend's timer queues, so they are in every snapshot and rescale with their keys.
//
// The runtime never picks a state backend or a storage driver: Options.StateBackend (a
// backend.StateBackend) and Options.Checkpoints come from the caller, usually config.Build.
// This package imports the backend SPI, the user API (state) and the checkpoint lifecycle; it
// must not import a concrete backend, a storage driver, or config.
package stream

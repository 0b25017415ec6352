// Package bench is the machinery of `streamstate bench state` and `bench ttl`. bench state is
// a state micro-benchmark in the spirit of Apache flink-benchmarks (ValueStateBenchmark,
// ListStateBenchmark, MapStateBenchmark), run against a keyed state backend and, in the same
// run and with the same key sequence, against its baseline: plain Go maps for the hashmap
// backend, raw Pebble for the lsm backend.
//
// Every operation is defined once, in the table Ops, as calls on a store; the backend under
// test and each baseline are stores. Each state kind gets a fresh backend that owns all key
// groups, preloaded with Config.Keys int64 keys: a value per key, a list of ListLen elements
// per key, a map of MapKeys user keys per key. Every operation starts with SetCurrentKey on
// a key of a precomputed random sequence (valueAdd, listAdd: on a key that has no state yet),
// then does one state call. The operations mean what they mean in flink-benchmarks: listAdd
// is Update with a one-element list on a new key, listAppend is Add on a preloaded key,
// mapIterator's time is per entry.
//
// Operations that grow state (valueAdd, listAdd, listAppend, listAddAll, mapAdd) run in
// batches; after each batch, outside the timing, the keys it touched are put back as
// preloaded, so the state keeps its size however long the measurement runs.
//
// With Config.TTL the same table measures the cost of state TTL instead: the backend's
// states have the TTL and the baseline is the same backend without it (NewTTLFixture).
//
// Run measures and reports; `go test -bench` on this package runs the same table
// (BenchmarkState). The package creates no state backend itself: Config.StateBackend does.
//
// RunPlateau is the machinery of `streamstate bench ttl`, a long-running benchmark rather
// than a micro-benchmark: new keys arrive at a fixed rate into states with a TTL of a few
// seconds, and every interval it samples the keys stored, the Go heap and the lsm disk
// bytes, which level off when the backend's TTL cleanup keeps up.
package bench

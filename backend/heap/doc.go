// Package heap is the hashmap state backend: keyed state lives on the Go heap as plain Go
// values, in one map per state and key group, like Flink's HashMapStateBackend.
//
// # Snapshots
//
// Snapshots are copy-on-write at two levels. The synchronous phase marks every state's
// key-group tables frozen: O(states x key groups), whatever the amount of state. A frozen
// table is never modified again; the first write to a key group after a snapshot clones that
// key group's map (pointers only), and a cell (a value, list or map of one key and namespace)
// is copied before its first modification in the new table. The asynchronous phase serializes
// the frozen tables in the canonical full format while the task keeps reading and writing.
//
// Values are stored as given: do not modify a value after handing it to the state.
//
// # Restore
//
// A restored state stays serialized until its descriptor is registered (only then are its
// serializers known); unregistered states are carried into later snapshots unchanged.
package heap

// Package timerheap is the key-group-partitioned timer priority queue that the backends keep
// in memory (the hashmap backend always, the lsm backend with heap timers), as Flink's heap
// timer service: a binary heap and a uniqueness set per key group, and a heap of the key
// groups' smallest timers that gives the overall minimum.
//
// Key groups are addressed by their index in the owning backend's key-group range, 0 to n-1.
// Timers are unique per (Timestamp, Key, Namespace) and ordered by timestamp, then key bytes,
// then namespace bytes, as backend.Timer.Less.
//
// Snapshots: Freeze returns a view of every key group's timers that later modifications do
// not change; a key group's heap is copied on its first modification after a freeze, so the
// freeze itself is O(key groups). A Queue is used from one goroutine; a Frozen view may be
// read from several goroutines at once while the queue goes on changing.
//
// Example:
//
//	q := timerheap.New(rng.Len())
//	q.Add(kg-rng.Start, timerheap.Timer{Timestamp: 10, Key: k})
//	for t, i, ok := q.Poll(); ok; t, i, ok = q.Poll() {
//		fire(rng.Start+i, t)
//	}
//
// It imports only the standard library; the backends import it, nobody else.
package timerheap

package backend

import (
	"bytes"
	"fmt"
)

// Timer is a timer of one key and namespace. Timers are unique per (Timestamp, Key,
// Namespace); a queue orders them by timestamp, then key and namespace bytes, so firing order
// is deterministic. Key is the serialized key (serde.AppendKey form).
type Timer struct {
	Timestamp int64
	Key       []byte
	Namespace []byte
}

func (t Timer) String() string {
	return fmt.Sprintf("timer(%d, key %x, namespace %q)", t.Timestamp, t.Key, t.Namespace)
}

// Less orders timers by timestamp, then key, then namespace.
func (t Timer) Less(o Timer) bool {
	if t.Timestamp != o.Timestamp {
		return t.Timestamp < o.Timestamp
	}
	if c := bytes.Compare(t.Key, o.Key); c != 0 {
		return c < 0
	}
	return bytes.Compare(t.Namespace, o.Namespace) < 0
}

// TimerQueue is a backend's set of timers, partitioned by key group so that it is snapshotted
// and rescaled with the keyed state. It is used from the task goroutine only; timers are in
// every snapshot of the backend that created the queue.
type TimerQueue interface {
	// Add adds t, whose key is in key group kg; false if it was already there.
	Add(kg int, t Timer) (bool, error)
	// Remove removes t; false if it was not there.
	Remove(kg int, t Timer) (bool, error)
	// Peek returns the smallest timer without removing it; ok is false when empty. The
	// returned slices are valid until the queue is modified.
	Peek() (t Timer, ok bool, err error)
	// Poll removes and returns the smallest timer and its key group; ok is false when empty.
	// The caller owns the returned slices.
	Poll() (t Timer, kg int, ok bool, err error)
	// Len returns the number of timers.
	Len() int
}

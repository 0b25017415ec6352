package stream

import (
	"fmt"

	"github.com/streamstate/streamstate/serde"
)

// Graph is a job's dataflow: sources, the transformations between them and the sinks. Build
// it with FromSource, Map, Filter, FlatMap, KeyBy, Process, Window… and run it with Execute.
// A Graph is built once, from one goroutine, and not changed after Execute.
type Graph struct {
	vertices []*vertex
	uids     map[string]bool
	// sides holds, per stream (a *Stream[T]), the builders of its side outputs by tag.
	sides map[any]map[string]func(t *task) (output[any], error)
}

// NewGraph returns an empty job graph.
func NewGraph() *Graph {
	return &Graph{uids: map[string]bool{}, sides: map[any]map[string]func(t *task) (output[any], error){}}
}

// vertex is a chain of operators that runs as one goroutine per subtask: a source or a keyed
// operator at its head, then every operator chained to it up to the next KeyBy or sink.
// Records cross between vertices only through keyed edges.
type vertex struct {
	g    *Graph
	name string
	// parallelism is the vertex's parallelism; 0 means the job's.
	parallelism int
	// upstream feeds this vertex through a keyed edge; nil for a source.
	upstream *vertex
	// connect creates the edge from upstream once both parallelisms are known.
	connect func(up, down int)
	// instantiate builds subtask t's chain and sets t.run.
	instantiate func(t *task) error
}

// addVertex adds a vertex whose head operator has the given uid.
func (g *Graph) addVertex(name string, upstream *vertex) *vertex {
	v := &vertex{g: g, name: name, upstream: upstream}
	g.vertices = append(g.vertices, v)
	return v
}

// claimUID registers an operator uid; uids name operators in checkpoints, so they must be
// unique and stable across versions of a job, as Flink's uid().
func (g *Graph) claimUID(uid string) {
	if uid == "" {
		panic("stream: an operator needs a non-empty name (its uid in checkpoints)")
	}
	if g.uids[uid] {
		panic(fmt.Sprintf("stream: two operators are named %q; names are uids in checkpoints and must be unique", uid))
	}
	g.uids[uid] = true
}

// Stream is a stream of records of type T. Records carry an event timestamp (NoTimestamp
// when they have none); watermarks flow with them.
type Stream[T any] struct {
	g *Graph
	v *vertex
	// consumers build, for a subtask, the outputs this stream feeds.
	consumers []func(t *task) (output[T], error)
}

func newStream[T any](g *Graph, v *vertex) *Stream[T] { return &Stream[T]{g: g, v: v} }

// addConsumer feeds this stream into what build returns for each subtask.
func (s *Stream[T]) addConsumer(build func(t *task) (output[T], error)) {
	s.consumers = append(s.consumers, build)
}

// outputFor builds the outputs of subtask t that this stream feeds.
func (s *Stream[T]) outputFor(t *task) (output[T], error) {
	outs := make([]output[T], 0, len(s.consumers))
	for _, c := range s.consumers {
		o, err := c(t)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	switch len(outs) {
	case 0:
		return discard[T]{}, nil
	case 1:
		return outs[0], nil
	}
	return fanOut[T](outs), nil
}

// SetParallelism sets the parallelism of the operators this stream comes from (their whole
// chain); by default they run at the job's parallelism.
func (s *Stream[T]) SetParallelism(p int) *Stream[T] {
	if p < 1 {
		panic(fmt.Sprintf("stream: parallelism %d of %q must be at least 1", p, s.v.name))
	}
	s.v.parallelism = p
	return s
}

// Map transforms every record; the timestamp is kept.
func Map[T, U any](s *Stream[T], f func(T) U) *Stream[U] {
	out := newStream[U](s.g, s.v)
	s.addConsumer(func(t *task) (output[T], error) {
		next, err := out.outputFor(t)
		return &mapOut[T, U]{f: f, next: next}, err
	})
	return out
}

// Filter keeps the records for which keep returns true.
func Filter[T any](s *Stream[T], keep func(T) bool) *Stream[T] {
	out := newStream[T](s.g, s.v)
	s.addConsumer(func(t *task) (output[T], error) {
		next, err := out.outputFor(t)
		return &filterOut[T]{keep: keep, next: next}, err
	})
	return out
}

// FlatMap calls f for every record; f emits zero or more records, each with the input's
// timestamp. An error from f fails the job.
func FlatMap[T, U any](s *Stream[T], f func(v T, emit func(U)) error) *Stream[U] {
	out := newStream[U](s.g, s.v)
	s.addConsumer(func(t *task) (output[T], error) {
		next, err := out.outputFor(t)
		return &flatMapOut[T, U]{f: f, next: next}, err
	})
	return out
}

// KeyedStream is a stream partitioned by key: every record goes to the subtask that owns its
// key's key group, where keyed state and timers are scoped to that key.
type KeyedStream[K, T any] struct {
	s   *Stream[T]
	key func(T) K
	ser serde.Serializer[K]
}

// KeyBy partitions s by key. ser encodes keys for key groups and state (the key-group hash is
// over its bytes, so it must not change between runs of a job); nil means serde.Of[K]().
// As in Flink, key must be deterministic and a record must not change after it is emitted: the
// key is serialized and hashed once, where the record is routed, and the keyed task keys its
// state by those bytes (it runs key again only to give the function the typed key).
func KeyBy[T, K any](s *Stream[T], key func(T) K, ser serde.Serializer[K]) *KeyedStream[K, T] {
	if ser == nil {
		ser = serde.Of[K]()
	}
	return &KeyedStream[K, T]{s: s, key: key, ser: ser}
}

// mapOut, filterOut, flatMapOut, fanOut and discard are chained operators: plain calls on the
// subtask's goroutine.
type mapOut[T, U any] struct {
	f    func(T) U
	next output[U]
}

func (m *mapOut[T, U]) collect(v T, ts int64) error { return m.next.collect(m.f(v), ts) }
func (m *mapOut[T, U]) watermark(wm int64) error    { return m.next.watermark(wm) }

type filterOut[T any] struct {
	keep func(T) bool
	next output[T]
}

func (m *filterOut[T]) collect(v T, ts int64) error {
	if !m.keep(v) {
		return nil
	}
	return m.next.collect(v, ts)
}
func (m *filterOut[T]) watermark(wm int64) error { return m.next.watermark(wm) }

type flatMapOut[T, U any] struct {
	f    func(T, func(U)) error
	next output[U]
	ts   int64
	err  error
	emit func(U)
}

func (m *flatMapOut[T, U]) collect(v T, ts int64) error {
	if m.emit == nil {
		m.emit = func(u U) {
			if m.err == nil {
				m.err = m.next.collect(u, m.ts)
			}
		}
	}
	m.ts, m.err = ts, nil
	if err := m.f(v, m.emit); err != nil {
		return err
	}
	return m.err
}
func (m *flatMapOut[T, U]) watermark(wm int64) error { return m.next.watermark(wm) }

type fanOut[T any] []output[T]

func (f fanOut[T]) collect(v T, ts int64) error {
	for _, o := range f {
		if err := o.collect(v, ts); err != nil {
			return err
		}
	}
	return nil
}

func (f fanOut[T]) watermark(wm int64) error {
	for _, o := range f {
		if err := o.watermark(wm); err != nil {
			return err
		}
	}
	return nil
}

type discard[T any] struct{}

func (discard[T]) collect(T, int64) error { return nil }
func (discard[T]) watermark(int64) error  { return nil }

// Sink calls fn for every record of s, on the subtask's goroutine: a sink without
// checkpointed state, so it is at least once (records after the last checkpoint are sent
// again after a restore). For exactly-once output use SinkToFiles.
func Sink[T any](s *Stream[T], fn func(v T, ts int64) error) {
	s.addConsumer(func(t *task) (output[T], error) { return funcSink[T](fn), nil })
}

type funcSink[T any] func(v T, ts int64) error

func (f funcSink[T]) collect(v T, ts int64) error { return f(v, ts) }
func (f funcSink[T]) watermark(int64) error       { return nil }

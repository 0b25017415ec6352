package state

import (
	"errors"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/serde"
)

// Descriptor is implemented by all state descriptors.
type Descriptor interface {
	// backend.Spec returns the erased description a backend registers.
	Spec() backend.Spec
}

func validateName(name string) error {
	if name == "" {
		return errors.New("state: descriptor has an empty name")
	}
	return nil
}

// ValueDescriptor describes a ValueState[V]: a single value per key and namespace.
type ValueDescriptor[V any] struct {
	// Name identifies the state in its operator and in snapshots. Required.
	Name string
	// Serializer encodes values. Default: serde.Of[V]().
	Serializer serde.Serializer[V]
}

// backend.Spec implements Descriptor.
func (d ValueDescriptor[V]) Spec() backend.Spec {
	ser := orDefault(d.Serializer)
	return backend.Spec{Name: d.Name, Kind: backend.KindValue, Value: serde.Erase(ser), Word: wordOf(ser)}
}

// ListDescriptor describes a ListState[V].
type ListDescriptor[V any] struct {
	// Name identifies the state. Required.
	Name string
	// Serializer encodes one element. Default: serde.Of[V]().
	Serializer serde.Serializer[V]
}

// backend.Spec implements Descriptor.
func (d ListDescriptor[V]) Spec() backend.Spec {
	ser := orDefault(d.Serializer)
	return backend.Spec{Name: d.Name, Kind: backend.KindList, Value: serde.Erase(ser), Word: wordOf(ser)}
}

// MapDescriptor describes a MapState[UK, UV].
type MapDescriptor[UK comparable, UV any] struct {
	// Name identifies the state. Required.
	Name string
	// KeySerializer encodes user keys. Default: serde.Of[UK](). Two user keys are the same
	// entry exactly when their encodings are equal.
	KeySerializer serde.Serializer[UK]
	// ValueSerializer encodes user values. Default: serde.Of[UV]().
	ValueSerializer serde.Serializer[UV]
}

// backend.Spec implements Descriptor.
func (d MapDescriptor[UK, UV]) Spec() backend.Spec {
	uk, v := orDefault(d.KeySerializer), orDefault(d.ValueSerializer)
	return backend.Spec{Name: d.Name, Kind: backend.KindMap, Value: serde.Erase(v), Word: wordOf(v),
		UserKey: serde.Erase(uk), UserKeyWord: wordOf(uk)}
}

// ReducingDescriptor describes a ReducingState[V]: Add folds each value into one with Reduce.
type ReducingDescriptor[V any] struct {
	// Name identifies the state. Required.
	Name string
	// Reduce combines the current value with an added one. Required. It also merges
	// namespaces.
	Reduce func(acc, v V) (V, error)
	// Serializer encodes values. Default: serde.Of[V]().
	Serializer serde.Serializer[V]
}

// backend.Spec implements Descriptor.
func (d ReducingDescriptor[V]) Spec() backend.Spec {
	ser := orDefault(d.Serializer)
	return backend.Spec{Name: d.Name, Kind: backend.KindReducing, Value: serde.Erase(ser), Word: wordOf(ser)}
}

// AggregateFunction is Flink's AggregateFunction: an accumulator of type ACC folds inputs IN
// and yields results OUT. Merge combines two accumulators (session window merging).
type AggregateFunction[IN, ACC, OUT any] interface {
	CreateAccumulator() ACC
	Add(v IN, acc ACC) (ACC, error)
	GetResult(acc ACC) (OUT, error)
	Merge(a, b ACC) (ACC, error)
}

// AggregatingDescriptor describes an AggregatingState[IN, OUT] with accumulator ACC.
type AggregatingDescriptor[IN, ACC, OUT any] struct {
	// Name identifies the state. Required.
	Name string
	// Function aggregates. Required.
	Function AggregateFunction[IN, ACC, OUT]
	// Serializer encodes accumulators. Default: serde.Of[ACC]().
	Serializer serde.Serializer[ACC]
}

// backend.Spec implements Descriptor.
func (d AggregatingDescriptor[IN, ACC, OUT]) Spec() backend.Spec {
	return backend.Spec{Name: d.Name, Kind: backend.KindAggregating, Value: serde.Erase(orDefault(d.Serializer))}
}

func orDefault[T any](s serde.Serializer[T]) serde.Serializer[T] {
	if s == nil {
		return serde.Of[T]()
	}
	return s
}

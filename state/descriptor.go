package state

import (
	"errors"
	"fmt"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state/ttl"
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
	// TTL makes values expire (package ttl). Default: never.
	TTL ttl.Config
	// Migration reads state recorded with another serializer (MigrateFrom). Default: none.
	Migration *backend.Migration
}

// Spec implements Descriptor.
func (d ValueDescriptor[V]) Spec() backend.Spec {
	ser := orDefault(d.Serializer)
	return evolving(backend.Spec{Name: d.Name, Kind: backend.KindValue, Value: serde.Erase(ser), Word: wordOf(ser)}, d.TTL, d.Migration)
}

// ListDescriptor describes a ListState[V].
type ListDescriptor[V any] struct {
	// Name identifies the state. Required.
	Name string
	// Serializer encodes one element. Default: serde.Of[V]().
	Serializer serde.Serializer[V]
	// TTL makes elements expire one by one (package ttl). Default: never.
	TTL ttl.Config
	// Migration reads elements recorded with another serializer (MigrateFrom). Default: none.
	Migration *backend.Migration
}

// Spec implements Descriptor.
func (d ListDescriptor[V]) Spec() backend.Spec {
	ser := orDefault(d.Serializer)
	return evolving(backend.Spec{Name: d.Name, Kind: backend.KindList, Value: serde.Erase(ser), Word: wordOf(ser)}, d.TTL, d.Migration)
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
	// TTL makes entries expire one by one (package ttl). Default: never.
	TTL ttl.Config
	// Migration reads user values recorded with another serializer (MigrateFrom); user keys
	// cannot be migrated. Default: none.
	Migration *backend.Migration
}

// Spec implements Descriptor.
func (d MapDescriptor[UK, UV]) Spec() backend.Spec {
	uk, v := orDefault(d.KeySerializer), orDefault(d.ValueSerializer)
	return evolving(backend.Spec{Name: d.Name, Kind: backend.KindMap, Value: serde.Erase(v), Word: wordOf(v),
		UserKey: serde.Erase(uk), UserKeyWord: wordOf(uk)}, d.TTL, d.Migration)
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
	// TTL makes the reduced value expire (package ttl). Default: never.
	TTL ttl.Config
	// Migration reads values recorded with another serializer (MigrateFrom). Default: none.
	Migration *backend.Migration
}

// Spec implements Descriptor.
func (d ReducingDescriptor[V]) Spec() backend.Spec {
	ser := orDefault(d.Serializer)
	return evolving(backend.Spec{Name: d.Name, Kind: backend.KindReducing, Value: serde.Erase(ser), Word: wordOf(ser)}, d.TTL, d.Migration)
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
	// TTL makes the accumulator expire (package ttl). Default: never.
	TTL ttl.Config
	// Migration reads accumulators recorded with another serializer (MigrateFrom). Default: none.
	Migration *backend.Migration
}

// Spec implements Descriptor.
func (d AggregatingDescriptor[IN, ACC, OUT]) Spec() backend.Spec {
	return evolving(backend.Spec{Name: d.Name, Kind: backend.KindAggregating, Value: serde.Erase(orDefault(d.Serializer))}, d.TTL, d.Migration)
}

// evolving adds a descriptor's TTL (when enabled) and migration to its spec.
func evolving(spec backend.Spec, cfg ttl.Config, m *backend.Migration) backend.Spec {
	if cfg.Enabled() {
		spec.TTL = &cfg
	}
	spec.Migration = m
	return spec
}

// MigrateFrom returns the migration of a descriptor whose state was recorded with the
// serializer old (values of type Old) and is now read as V: at the first registration after a
// restore, every recorded value is decoded with old, passed to fn and encoded with the
// descriptor's serializer, before the state is used. It is needed only when the recorded
// values cannot be read as they are (a field whose type changed, another codec: JSON to
// CBOR); a registration over state already recorded with the descriptor's serializer ignores
// it, so it can stay on the descriptor. fn must not keep or change its argument.
func MigrateFrom[Old, V any](old serde.Serializer[Old], fn func(Old) (V, error)) *backend.Migration {
	return &backend.Migration{From: serde.Erase(old), Func: func(v any) (any, error) {
		o, ok := v.(Old)
		if !ok && v != nil {
			return nil, fmt.Errorf("state: migration from %s got a %T", old.ID(), v)
		}
		return fn(o)
	}}
}

func orDefault[T any](s serde.Serializer[T]) serde.Serializer[T] {
	if s == nil {
		return serde.Of[T]()
	}
	return s
}

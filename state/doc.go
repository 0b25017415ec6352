// Package state is the API a job author uses: state descriptors, the keyed and operator state
// interfaces, timers as a function sees them, and the errors to check. It holds no storage:
// the contract a backend implements is package backend (the SPI), and the implementations
// are backend/heap and backend/lsm.
//
// # Keyed state
//
// A keyed backend holds the state of one operator subtask. Every access is scoped to the
// backend's current key (KeyedBackend.SetCurrentKey) and to the state object's namespace
// (SetNamespace; void unless a window operator sets one). The kinds are Flink's:
// ValueState, ListState, MapState, ReducingState and AggregatingState, each created from a
// descriptor with GetValueState, GetListState, ... List, Reducing and Aggregating state can
// merge namespaces (session windows).
//
//	kb, _ := state.NewKeyedBackend[string](backend, serde.String{})
//	count, _ := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "count"})
//	_ = kb.SetCurrentKey("alice")
//	n, _, _ := count.Value()
//	_ = count.Update(n + 1)
//
// # Time-to-live and changing a state's type
//
// Every keyed descriptor takes a ttl.Config (package state/ttl, Flink's StateTtlConfig):
// values, list elements and map entries then expire by processing time or, with
// ttl.EventTime, by the operator's watermark; expired entries are never returned and are
// cleaned up by the backend without any call. A descriptor's Migration (MigrateFrom) reads
// state recorded with another serializer (a changed field type, JSON to CBOR): the backend
// rewrites it when the descriptor is registered, before the state is used. The README's
// "State TTL" and "How do I change my state type" say what a restore accepts.
//
// # Contracts
//
// Threading: a backend and its states are used from one goroutine, the task's; only the
// asynchronous phase of a snapshot runs beside it. Errors: the lsm backend does IO, so every
// access returns an error; sentinel errors (ErrNoCurrentKey, ErrIncompatibleSerializer, ...)
// are declared in errors.go and checked with errors.Is. Ownership: a backend may keep the
// values it is given (the hashmap backend stores them as they are), so do not modify a value
// after handing it to Update, Add or Put, nor a value returned by Value or Get.
//
// Backends implement backend.Keyed and its states, which speak serialized keys and boxed
// values; the typed wrappers here convert. This package imports backend, keygroup and serde
// (and through backend the checkpoint formats) and nothing else of the module: never a concrete
// backend, a storage driver, Pebble or a cloud SDK, so a process function links none of them.
package state

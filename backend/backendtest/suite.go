package backendtest

import (
	"slices"
	"testing"

	"github.com/streamstate/streamstate/state"
)

// Run runs the conformance suite against the backends f creates. A backend is done when this
// passes.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"Value", testValue},
		{"List", testList},
		{"Map", testMap},
		{"MapRemoveWhileIterating", testMapRemoveWhileIterating},
		{"Reducing", testReducing},
		{"Aggregating", testAggregating},
		{"MergeNamespaces", testMergeNamespaces},
		{"MutableValuesInSnapshots", testMutableValues},
		{"MutableValuesMergedInSnapshots", testMutableMerge},
		{"Keys", testKeys},
		{"CurrentKey", testCurrentKey},
		{"Closed", testClosed},
		{"Errors", testErrors},
		{"EmptyValues", testEmptyValues},
		{"WordValues", testWordValues},
		{"WordKeyMaps", testWordKeyMaps},
		{"WordWrongType", testWordWrongType},
		{"LargeValue", testLargeValue},
		{"SnapshotRestore", testSnapshotRestore},
		{"EmptySnapshot", testEmptySnapshot},
		{"SubtaskWithoutStateRescale", testSubtaskWithoutState},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"ConcurrentAsyncPhase", testConcurrentAsyncPhase},
		{"Rescale", testRescale},
		{"RescaleReadsOnlyOwnedKeyGroups", testRescaleReadsOnlyOwned},
		{"RestoredStateKeptUntilRegistered", testUnregisteredRestoredState},
		{"IncompatibleSerializer", testIncompatibleSerializer},
		{"RenamedTypeWithAlias", testRenamedType},
		{"RenamedTypeRegisteredAgain", testRenamedRegistered},
		{"RenamedTypePartlyRegisteredRescale", testRenamedPartlyRegistered},
		{"KeySerializerAlias", testKeySerializerAlias},
		{"SchemaSame", testSchemaSame},
		{"SchemaAddedField", testSchemaAddedField},
		{"SchemaRemovedField", testSchemaRemovedField},
		{"SchemaChangedTypeRefusedAtRegistration", testSchemaChangedType},
		{"SchemaAbsentInOldCheckpoint", testSchemaOldFormat},
		{"SchemaPartlyRegisteredRescale", testSchemaPartlyRegisteredRescale},
		{"CorruptAndTruncated", testCorrupt},
		{"TimerQueue", testTimerQueue},
		{"TimersRescale", testTimersRescale},
		{"RandomizedModel", testModel},
		{"LiveStateAcrossSnapshots", testLiveStateAcrossSnapshots},
		{"TTLBasics", testTTLBasics},
		{"TTLInvalidConfig", testTTLInvalidConfig},
		{"TTLEventTime", testTTLEventTime},
		{"TTLKinds", testTTLKinds},
		{"TTLRestoreRescale", testTTLRestoreRescale},
		{"TTLChanged", testTTLChanged},
		{"TTLFullSnapshotDropsExpired", testTTLFullSnapshotDropsExpired},
		{"TTLSwitchedOn", testTTLSwitchedOn},
		{"TTLSwitchedOff", testTTLSwitchedOff},
		{"TTLTimeSwitchRefused", testTTLTimeSwitchRefused},
		{"TTLRandomizedModel", testTTLModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get[V any](t testing.TB, s interface{ Value() (V, bool, error) }) (V, bool) {
	t.Helper()
	v, ok, err := s.Value()
	must(t, err)
	return v, ok
}

func collect[V any](t testing.TB, seq func(func(V, error) bool)) []V {
	t.Helper()
	var out []V
	for v, err := range seq {
		must(t, err)
		out = append(out, v)
	}
	return out
}

var (
	valueDesc = state.ValueDescriptor[string]{Name: "value"}
	listDesc  = state.ListDescriptor[int64]{Name: "list"}
	mapDesc   = state.MapDescriptor[string, int64]{Name: "map"}
	wmapDesc  = state.MapDescriptor[int64, int64]{Name: "wmap"}
	sumDesc   = state.ReducingDescriptor[int64]{Name: "sum", Reduce: func(a, b int64) (int64, error) { return a + b, nil }}
	avgDesc   = state.AggregatingDescriptor[int64, avgAcc, float64]{Name: "avg", Function: avgFn{}}
)

type avgAcc struct{ Sum, N int64 }

type avgFn struct{}

func (avgFn) CreateAccumulator() avgAcc                 { return avgAcc{} }
func (avgFn) Add(v int64, a avgAcc) (avgAcc, error)     { return avgAcc{a.Sum + v, a.N + 1}, nil }
func (avgFn) GetResult(a avgAcc) (float64, error)       { return float64(a.Sum) / float64(a.N), nil }
func (avgFn) Merge(a, b avgAcc) (avgAcc, error)         { return avgAcc{a.Sum + b.Sum, a.N + b.N}, nil }
func single(t *testing.T, f Factory) (*env, *subtask)   { e := newEnv(t, f); return e, e.open(1, nil)[0] }
func setKey(t testing.TB, s *subtask, k int64)          { t.Helper(); must(t, s.kb.SetCurrentKey(k)) }
func nsBytes(s string) []byte                           { return []byte(s) }
func sorted[T interface{ ~int64 | ~string }](v []T) []T { slices.Sort(v); return v }

// Package backendtest is the conformance suite every state backend runs: a backend is done
// when Run passes, not when it compiles.
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t testing.TB, opts backend.Options) (backend.Keyed, error) {
//			b, err := mybackend.New(context.Background(), opts)
//			if err == nil {
//				t.Cleanup(func() { b.Close() })
//			}
//			return b, err
//		})
//	}
//
// It checks the semantics of every state kind, namespaces and merging, key iteration, Clear,
// empty and 64 MiB values, snapshot isolation (also with the asynchronous phase running on
// another goroutine while the task mutates: run with -race), that objects the task reads and
// changes in place (mutable accumulators, for every state kind and through namespace merging)
// never change a running snapshot, that a backend without state writes no savepoint file and
// a subtask without a handle restores empty, restore, rescale 1→3→2→1,
// that a rescaled restore reads only the key groups it owns, serializer and schema checks, corrupt and
// truncated files, and a randomized model test against plain Go maps across
// snapshot/restore/rescale cycles; and state TTL: every option with every state kind, across
// restores, rescales, TTL changes and backend switches, and a randomized model with a clock.
// The model tests log their seed; set STREAMSTATE_SEED to
// replay one. With -short the 64 MiB test is skipped and the model tests run fewer operations.
//
// # Where the cases are
//
// suite.go holds Run and the descriptors and helpers the cases share, harness.go the env that
// opens, snapshots and restores subtasks. Each group of cases has its file, named for it:
//
//   - kinds.go: Value, List, Map, MapRemoveWhileIterating, Reducing, Aggregating,
//     MergeNamespaces
//   - mutable.go: MutableValuesInSnapshots, MutableValuesMergedInSnapshots
//   - keys.go: Keys, CurrentKey
//   - errors.go: Errors, Closed
//   - values.go: EmptyValues, LargeValue
//   - words.go: WordValues, WordKeyMaps, WordWrongType (and CheckWordPaths)
//   - snapshot.go: SnapshotRestore, SnapshotIsolation, ConcurrentAsyncPhase
//   - empty.go: EmptySnapshot, SubtaskWithoutStateRescale
//   - rescale.go: Rescale, RescaleReadsOnlyOwnedKeyGroups, RestoredStateKeptUntilRegistered
//   - corrupt.go: IncompatibleSerializer, CorruptAndTruncated
//   - identity.go: RenamedTypeWithAlias, RenamedTypeRegisteredAgain,
//     RenamedTypePartlyRegisteredRescale, KeySerializerAlias
//   - schema.go: SchemaSame, SchemaAddedField, SchemaRemovedField,
//     SchemaChangedTypeRefusedAtRegistration, SchemaAbsentInOldCheckpoint,
//     SchemaPartlyRegisteredRescale (and CheckEvolutionLogged)
//   - timers.go: TimerQueue, TimersRescale
//   - model.go: RandomizedModel; live.go: LiveStateAcrossSnapshots
//   - ttl.go: TTLBasics, TTLEventTime; ttlkinds.go: TTLKinds (every kind, namespaces and namespace merges
//     under every update type, visibility and time characteristic)
//   - ttlrestore.go: TTLRestoreRescale, TTLChanged, TTLFullSnapshotDropsExpired,
//     TTLSwitchedOn, TTLSwitchedOff, TTLTimeSwitchRefused (and CheckTTLBackendSwitch, which a
//     backend's tests call with another backend's factory)
//   - ttlmodel.go, ttlmodelrun.go: TTLRandomizedModel, a randomized test against a model with
//     its own clock (the model; its run)
//
// It imports the backend SPI, the user API and the checkpoint packages, never a concrete
// backend: each backend's tests call Run with their own factory.
package backendtest

// Package lsm is the embedded LSM state backend, Flink's RocksDB state backend built on
// Pebble (github.com/cockroachdb/pebble/v2): keyed state lives on local disk, in one Pebble
// database per backend (one operator subtask), so it can grow far beyond memory.
//
// A job gets its keyed backends from a StateBackend (NewStateBackend, or config.Build), the
// factory that owns what they share: the slot's memory budget and the Prometheus Collector of
// their Pebble metrics. New creates one backend alone:
//
//	b, err := lsm.New(ctx, lsm.Options{Options: backend.Options{
//		MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
//		KeySerializerID: serde.Int64{}.ID()}})
//	...
//	kb, _ := state.NewKeyedBackend[int64](b, serde.Int64{})
//
// # Layout
//
// Every state entry is one database key:
//
//	[key group: 2 bytes BE][state id: 2 bytes BE][uvarint len][key][uvarint len][namespace][user key]
//
// so the entries of a key-group range are one contiguous span (a rescaled restore clips the
// database with two range deletions), and the entries of one map (key and namespace) are a
// prefix scan, yielded in user-key byte order. State ids are small integers assigned at
// registration; they and the serializer IDs are persisted in the database (keys starting
// 0xFFFF, outside every key-group span), so a database restored from an incremental
// checkpoint knows its states, and registering a state with another serializer fails with
// backend.ErrIncompatibleSerializer naming the state and both serializers, unless it declares
// the recorded ID as an alias (backend.CheckRegistration); the registration then records the
// new ID. The value serializer's schema (serde.Schema, for JSON and CBOR) is persisted beside
// the IDs, so a struct field whose type changed is refused at registration, never on the
// first read of a key (backend.CheckSchema); records without a schema (databases written
// before schemas were recorded) are checked by ID alone.
//
// Values are stored serialized with the descriptor's serializers. A list is one value of
// length-prefixed elements; Add and AddAll are blind writes through the merge operator
// "streamstate.list.v1", which concatenates, never a read-modify-write. Reducing and
// aggregating state are values holding the accumulator.
//
// Timers (CreateTimerQueue) live in the database too, in their key's key group, laid out by
// timestamp, key and namespace, so a key group's timers are a scan in firing order; the queue
// keeps each key group's earliest timer in memory, as Flink's RocksDB timer service does.
// With Options.TimerService = TimerServiceHeap (state.backend.lsm.timer-service.factory: heap)
// they live in memory instead, in the hashmap backend's key-group-partitioned heap
// (internal/timerheap), frozen copy-on-write for snapshots: full snapshots and savepoints write
// them in the canonical format with the keyed state, incremental checkpoints as an extra
// canonical-format file referenced by the handle (snapshot.IncrementalHandle.Extra). A
// restore of any snapshot brings them back into whichever store is configured.
//
// Every level has bloom filters (10 bits per key): point reads dominate state access.
//
// The write-ahead log is disabled, as in Flink: the working state is not durable by itself,
// checkpoints are. The working directory (a fresh directory under Options.Dir,
// state.backend.lsm.localdir) is removed on Close. It holds a lock file naming its owner,
// flock'd while the backend is open; a backend that starts removes the directories whose lock
// is free and names an owner, left by processes killed before Close (workdir.go). Every
// file of the working directory is read and written through Options.FS (a Pebble vfs.FS), so
// tests run on vfs.NewMem and inject faults with Pebble's errorfs; only the lock and the sweep
// use the operating system directly, and only when Options.FS is the operating system's.
//
// Pebble's failures reach the task (faults.go): a flush or compaction that cannot write (a
// full disk), corruption found by any read, and Pebble's Fatalf are recorded, logged to
// Options.Logger, and returned by the next state access and every snapshot, naming the
// working directory and the fix. Corruption is snapshot.ErrCorrupt naming the stored file it
// was restored from. The synchronous flush of an incremental checkpoint stops waiting at such
// a failure or at the checkpoint's deadline (backend.SnapshotOptions.Deadline). Failed and Err
// report the failure from Pebble's goroutines at once, and Stalled tells a runtime that the
// task's goroutine is stuck in a Pebble write stall that nothing can end (a MANIFEST write
// failed after every memtable filled): the runtime then fails the job without it.
//
// State writes are batched: they go into one pending Pebble batch, committed at 256 writes or
// 256 KiB and before anything reads the database (a read, an iterator, a snapshot), so every
// read sees every earlier write, and a run of blind writes (ListState.Add, value updates, map
// puts) pays Pebble's commit pipeline once per batch instead of once per write. An error of a
// commit is returned by the call that commits, which may come after the write that caused it.
//
// # Snapshots
//
// A full snapshot (the default, and every savepoint) takes a Pebble snapshot in the
// synchronous phase, O(1), and writes it key group by key group in the canonical full format
// in the asynchronous phase, so savepoints move between this backend and the hashmap backend
// in both directions.
//
// With Options.Incremental (state.backend.incremental) a checkpoint's synchronous phase
// flushes the memtables and hard-links the database files into a local directory (Pebble's
// Checkpoint); the asynchronous phase uploads, at most Options.TransferConcurrency at a time,
// the SST files that the last completed checkpoint does not reference to the job's shared/
// directory, and the MANIFEST, OPTIONS and marker files privately into chk-<n>/. A file is
// reused only once a checkpoint referencing it is reported complete
// (backend.Keyed.NotifyCheckpointComplete); files of checkpoints that fail or are aborted are never reused
// and are deleted by the checkpoint's Abort, and files not yet confirmed are uploaded again,
// under a new name. Shared files are deleted by checkpoint retention when no retained
// checkpoint references them, which is derived from the checkpoints' metadata and so
// survives restarts. The first checkpoint after a restore uploads every file (Flink's
// no-claim mode): nothing new ever depends on the restored checkpoint.
//
// # Restore
//
// Full handles (canonical format, from either backend) are read key group by key group,
// only the groups in the backend's range, and written with batched writes. Incremental
// handles: the one with the largest key-group overlap is downloaded (in parallel) and opened
// as the database, clipped to the range with range deletions; the key groups of the others
// are imported with batched writes, their state ids translated. A descriptor registered
// with another TTL (switched on or off) or with a Migration (backend.CheckRegistration) has
// every stored value of its state rewritten before the state is returned, in bounded
// batches, with progress on Options.Logger. The rewritten values go under a fresh state id,
// and one last batch records the state under it and deletes the old id's entries: a rewrite
// that fails leaves the state as it was restored. Corrupt stored bytes fail it with
// snapshot.ErrCorrupt naming the state and key group.
//
// # State TTL
//
// Values of TTL states carry a stamp (ttlview.Stamped); expired ones are never returned, are
// removed when read, and are left out of full snapshots and savepoints (incremental
// checkpoints ship the files as they are). The rest is removed by a sweep that runs on the
// task goroutine while it uses TTL states, at most Options.TTLCleanupRate entries per second
// (ttlcleanup.go; docs/design.md, "TTL cleanup on lsm"); TTLCleanupStats reports its work.
// The raw states under ttlview.With's view (stampedwords.go, from ttlview.RawWordSpec) read
// and write the stored bytes (the 8-byte stamp, then the serializer's encoding) without a
// Stamped box: value states are ttlview.StampedValue, and states of word values (value,
// reducing, list, and maps of word user keys) the stamped word interfaces, so the view is a
// WordValue, WordList or WordMap and the typed state above it boxes nothing.
//
// # Memory
//
// By default each backend has a block cache of Options.BlockCacheSize and memtables of
// Options.WriteBufferSize. With a SlotResources in Options.Slot ("managed memory"), every
// backend of the slot shares one cache, and memtables are sized from write-buffer-ratio ×
// budget. Pebble charges memtables to its block cache, as RocksDB's write buffer manager
// does in Flink, so the shared cache has the whole budget: memtables take at most
// write-buffer-ratio × budget of it and data blocks at least (1 − write-buffer-ratio) ×
// budget, together never more than the budget. Precedence, lowest first: the
// backend's defaults, the predefined profile, explicit sizes, the slot's memory budget
// (managed memory wins over cache and memtable sizes), and last Options.OptionsHook (the
// hook wins over everything). ParseConfig reads the state.backend.lsm.* configuration keys
// (and Flink's state.backend.rocksdb.* spellings).
//
// # Contracts
//
// Threading: as every backend, the backend and its states are used from the task's
// goroutine; only AsyncSnapshot.Run runs beside it. Errors: every access can fail with an
// IO error, wrapped with the operator and state; bytes read from disk or from a checkpoint
// that do not decode give errors (snapshot.ErrCorrupt for checkpoints), never panics.
// Values returned by reads are decoded copies: modifying them does not change the state.
//
// This package implements package backend; it must not import the runtime (stream), config,
// or a storage driver: it reads and writes checkpoints through snapshot.Reader and
// snapshot.StreamFactory only.
package lsm

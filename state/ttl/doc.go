// Package ttl configures state time-to-live, Flink's StateTtlConfig: a keyed state whose
// descriptor carries a Config forgets a value (a list element, a map entry) TTL after it was
// last written, or last read or written.
//
// The time is processing time (the wall clock, as in Flink) or, with EventTime, the
// operator's watermark: an entry is stamped with the timestamp of the record that wrote it and
// expires once the watermark passes that stamp plus TTL, so a replay after a restore expires
// exactly what the first run expired.
//
// Expired entries are never returned (unless Visibility says otherwise), are left out of full
// checkpoints and savepoints, and are removed in the background: the hashmap backend checks a
// few entries on every state access (Config.CleanupSize), the lsm backend sweeps the blocks
// of its store whose entries may have expired at a bounded rate. Nothing has to be called.
//
// The stamps are part of the state: they travel in checkpoints and savepoints and across
// backends. Changing TTL, Update or Visibility between runs needs nothing; switching TTL on
// stamps the restored entries with the time of the restore, switching it off drops the
// stamps, and switching between processing and event time is refused (the recorded stamps
// are of the other clock).
package ttl

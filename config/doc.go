// Package config turns flink-conf style keys into streamstate's options: which state backend,
// which checkpoint storage, retention, compression, parallelism. Keys are spelled as in Flink
// where Flink has the same setting (state.backend.type, state.checkpoints.dir,
// state.checkpoints.num-retained, ...), and the lsm backend's keys accept Flink's
// state.backend.rocksdb.* spellings.
//
// Parse reports every unknown key and bad value at once, each error naming its key. LoadYAML
// reads a YAML file in flat or nested form.
package config

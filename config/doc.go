// Package config is streamstate's composition root: it turns flink-conf style keys into what a
// job runs with — stream.Options, a state backend (backend.StateBackend: hashmap or lsm) and
// checkpoint storage (jobmanager, file://, s3://, mem://) — in one place, Build. Keys are
// spelled as in Flink where Flink has the same setting (state.backend.type,
// state.checkpoints.dir, state.checkpoints.num-retained, ...), and the lsm backend's keys
// accept Flink's state.backend.rocksdb.* spellings.
//
// Parse reports every unknown key and bad value at once, each error naming its key. LoadYAML
// reads a YAML file in flat or nested form.
//
//	cfg, err := config.Parse(map[string]string{"state.backend.type": "lsm",
//		"state.checkpoints.dir": "file:///var/lib/myjob/checkpoints"})
//	built, err := cfg.Build(ctx, "myjob", keyedOperators, logger)
//	defer built.Close()
//	job, err := stream.Execute(ctx, graph, built.Options)
//
// Only this package, the CLI and tests pick a concrete backend or storage driver; it must not
// be imported by the runtime (stream), the backends or the checkpoint formats.
package config

package config

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/internal/units"
	"github.com/streamstate/streamstate/keygroup"
)

// The configuration keys, spelled as in Flink where Flink has the same setting.
const (
	KeyBackend             = "state.backend.type"
	KeyIncremental         = "state.backend.incremental"
	KeyCheckpointStorage   = "state.checkpoint-storage"
	KeyCheckpointsDir      = "state.checkpoints.dir"
	KeySavepointsDir       = "state.savepoints.dir"
	KeyNumRetained         = "state.checkpoints.num-retained"
	KeySnapshotCompression = "execution.checkpointing.snapshot-compression"
	KeyJobManagerMaxState  = blobstore.MaxStateSizeKey
	KeyParallelism         = "parallelism.default"
	KeyMaxParallelism      = "pipeline.max-parallelism"

	KeyCheckpointInterval    = "execution.checkpointing.interval"
	KeyCheckpointTimeout     = "execution.checkpointing.timeout"
	KeyCheckpointMinPause    = "execution.checkpointing.min-pause"
	KeyMaxConcurrent         = "execution.checkpointing.max-concurrent-checkpoints"
	KeyTolerableFailures     = "execution.checkpointing.tolerable-failed-checkpoints"
	KeyAutoWatermarkInterval = "pipeline.auto-watermark-interval"

	KeyClaimMode = "execution.state-recovery.claim-mode"
)

// Local recovery keys (Flink's): KeyLocalRecovery turns it on (KeyLocalRecoveryLegacy is
// Flink's older spelling, accepted), KeyLocalRootDirs says where the local copy goes.
const (
	KeyLocalRecovery       = "execution.state-recovery.from-local"
	KeyLocalRecoveryLegacy = "state.backend.local-recovery"
	KeyLocalRootDirs       = "taskmanager.state.local.root-dirs"
)

// The hashmap backend's keys for its incremental checkpoints (heap.IncrementalOptions).
const (
	KeyHashmapMaxDeltas     = "state.backend.hashmap.incremental.max-deltas"
	KeyHashmapMaxDeltaRatio = "state.backend.hashmap.incremental.max-delta-ratio"
)

// LSMPrefix and RocksDBPrefix start the lsm backend's keys; the RocksDB spelling is accepted
// so a Flink user's configuration works. They are validated by lsm.ParseConfig.
const (
	LSMPrefix     = lsm.ConfigPrefix
	RocksDBPrefix = lsm.FlinkConfigPrefix
)

// KeyLSMLocalDir is the root of the lsm backend's working directories (Flink's
// state.backend.rocksdb.localdir, KeyRocksDBLocalDir, is the same key). Each backend works in
// a directory of its own there, locked while it runs; a start removes the directories whose
// owner is gone. It sets LSM.Options.Dir.
const (
	KeyLSMLocalDir     = lsm.LocalDirKey
	KeyRocksDBLocalDir = RocksDBPrefix + "localdir"
)

// Key describes one configuration key for documentation and validation.
type Key struct {
	Name    string
	Default string
	Doc     string
}

// Keys lists every top-level key with its default; README's table is generated from the same
// facts.
var Keys = []Key{
	{KeyBackend, "hashmap", "State backend: hashmap (Go heap) or lsm (embedded Pebble; rocksdb is accepted as an alias)."},
	{KeyIncremental, "false", "Incremental checkpoints: lsm uploads new database files, hashmap writes what changed since the last confirmed checkpoint as a delta on its chain."},
	{KeyHashmapMaxDeltas, "10", "hashmap incremental checkpoints: deltas on one base before the next checkpoint writes a new base."},
	{KeyHashmapMaxDeltaRatio, "0.5", "hashmap incremental checkpoints: a new base once the chain's deltas exceed this fraction of its base's bytes."},
	{KeyCheckpointStorage, "jobmanager, or filesystem when state.checkpoints.dir is set", "Where checkpoints go: jobmanager (memory of this process) or filesystem (the URL in state.checkpoints.dir)."},
	{KeyCheckpointsDir, "(none)", "Checkpoint storage URL: file:///path, s3://bucket/prefix?..., mem://."},
	{KeySavepointsDir, "(none)", "Default savepoint target URL."},
	{KeyNumRetained, "1", "Completed checkpoints to keep; older ones are deleted."},
	{KeySnapshotCompression, "false", "Compress full snapshots per key group (Snappy-compatible s2)."},
	{KeyJobManagerMaxState, "5 mb", "Largest state handle jobmanager storage accepts."},
	{KeyParallelism, "1", "Parallelism of operators."},
	{KeyMaxParallelism, "min(max(roundUpPow2(p + p/2), 128), 32768)", "Number of key groups: the upper bound for rescaling."},
	{KeyCheckpointInterval, "10 s for streamstate run (0: off)", "Time between checkpoints, e.g. 10 s, 500 ms, 1 min."},
	{KeyCheckpointTimeout, "10 min", "A checkpoint not complete after this long is given up."},
	{KeyCheckpointMinPause, "0", "Least time between the end of a checkpoint and the start of the next."},
	{KeyMaxConcurrent, "1", "Checkpoints in flight at once."},
	{KeyTolerableFailures, "0", "Consecutive failed checkpoints tolerated before the job fails."},
	{KeyAutoWatermarkInterval, "200 ms", "How often sources emit watermarks."},
	{KeyLocalRecovery, "false", "Local recovery: keep a local copy of every checkpoint file and restore from it after verifying its checksum, falling back to checkpoint storage file by file (state.backend.local-recovery is accepted)."},
	{KeyLocalRootDirs, "$TMPDIR/streamstate-local-state", "Directories of the local copy, separated by commas (or the OS's path list separator); files are spread over them."},
	{KeyClaimMode, ClaimModeNoClaim, "Restore mode of a run from a given checkpoint or savepoint (Flink 2's claim mode): NO_CLAIM never modifies or deletes the snapshot and the first checkpoint holds everything itself; CLAIM takes the snapshot over (it must be in the checkpoint storage): incremental checkpoints reuse its files, and it is deleted once subsumed."},
	{KeyLSMLocalDir, "the system temporary directory ($TMPDIR)", "Root of the lsm backend's working directories (state.backend.rocksdb.localdir is accepted); directories left by killed processes are removed at start."},
}

// Config is the parsed configuration. Every field states its default.
type Config struct {
	// Backend is "hashmap" or "lsm". Default: "hashmap".
	Backend string
	// Incremental enables incremental checkpoints, of either backend. Default: false.
	Incremental bool
	// Hashmap holds the options of the hashmap backend's incremental checkpoints, from the
	// state.backend.hashmap.incremental.* keys. Default: heap.IncrementalOptions's defaults.
	Hashmap heap.IncrementalOptions
	// CheckpointStorage is "jobmanager" or "filesystem". Default: filesystem when
	// CheckpointsDir is set, else jobmanager.
	CheckpointStorage string
	// CheckpointsDir is the checkpoint storage URL. Default: none.
	CheckpointsDir string
	// SavepointsDir is the default savepoint URL. Default: none.
	SavepointsDir string
	// NumRetained is the number of completed checkpoints kept. Default: 1.
	NumRetained int
	// SnapshotCompression compresses full snapshots. Default: false.
	SnapshotCompression bool
	// JobManagerMaxStateSize limits one state handle in jobmanager storage. Default: 5 MiB.
	JobManagerMaxStateSize int64
	// Parallelism of operators. Default: 1.
	Parallelism int
	// MaxParallelism is the number of key groups. Default: keygroup.DefaultMaxParallelism.
	MaxParallelism int
	// CheckpointInterval is the time between checkpoints; 0 disables them. Default: 0 here
	// (the CLI's run command defaults to 10 s).
	CheckpointInterval time.Duration
	// CheckpointTimeout gives up a checkpoint. Default: 10 min.
	CheckpointTimeout time.Duration
	// CheckpointMinPause is the least pause between checkpoints. Default: 0.
	CheckpointMinPause time.Duration
	// MaxConcurrentCheckpoints in flight. Default: 1.
	MaxConcurrentCheckpoints int
	// TolerableFailedCheckpoints before the job fails. Default: 0.
	TolerableFailedCheckpoints int
	// AutoWatermarkInterval is how often sources emit watermarks. Default: 200 ms.
	AutoWatermarkInterval time.Duration
	// LocalRecovery keeps a local copy of the checkpoints and restores from it
	// (execution.state-recovery.from-local, or state.backend.local-recovery). Default: false.
	LocalRecovery bool
	// LocalRootDirs are the directories of the local copy (taskmanager.state.local.root-dirs).
	// Default: none, which is checkpoint.DefaultLocalDirs() (under os.TempDir()).
	LocalRootDirs []string
	// ClaimMode is the restore mode of a restore from a given snapshot: ClaimModeClaim or
	// ClaimModeNoClaim. Default: ClaimModeNoClaim, as in Flink 2.
	ClaimMode string
	// Set records which keys were given, so a command line can tell a default from a
	// setting.
	Set map[string]bool
	// LSM is the lsm backend's configuration from the state.backend.lsm.* keys (and Flink's
	// state.backend.rocksdb.* spellings) and state.backend.incremental.
	LSM lsm.Config
}

// Default returns the configuration with every default applied.
func Default() *Config {
	c, _ := Parse(nil)
	return c
}

// Parse builds a Config from flat keys. It reports every unknown key and bad value at once,
// each naming its key.
func Parse(kv map[string]string) (*Config, error) {
	c := &Config{Backend: "hashmap", NumRetained: 1, JobManagerMaxStateSize: blobstore.DefaultJobManagerMaxStateSize,
		Parallelism: 1, CheckpointTimeout: 10 * time.Minute, MaxConcurrentCheckpoints: 1,
		AutoWatermarkInterval: 200 * time.Millisecond, ClaimMode: ClaimModeNoClaim, Set: map[string]bool{}}
	lsmKeys := map[string]string{}
	var errs []error
	bad := func(key, val, want string) {
		errs = append(errs, fmt.Errorf("config key %s: bad value %q: %s", key, val, want))
	}
	maxPSet := false
	duration := func(key, val string, zeroOK bool) time.Duration {
		d, err := ParseDuration(val)
		if err != nil || d < 0 || (d == 0 && !zeroOK) {
			bad(key, val, "want a duration such as 10 s, 500 ms or 1 min")
		}
		return d
	}
	for _, key := range slices.Sorted(mapsKeys(kv)) {
		val := strings.TrimSpace(kv[key])
		c.Set[key] = true
		switch key {
		case KeyCheckpointInterval:
			c.CheckpointInterval = duration(key, val, true)
		case KeyCheckpointTimeout:
			c.CheckpointTimeout = duration(key, val, false)
		case KeyCheckpointMinPause:
			c.CheckpointMinPause = duration(key, val, true)
		case KeyAutoWatermarkInterval:
			c.AutoWatermarkInterval = duration(key, val, false)
		case KeyMaxConcurrent:
			c.MaxConcurrentCheckpoints = parseInt(key, val, 1, 64, bad)
		case KeyTolerableFailures:
			c.TolerableFailedCheckpoints = parseInt(key, val, 0, 1<<30, bad)
		case KeyBackend:
			if b, ok := BackendName(val); ok {
				c.Backend = b
			} else {
				bad(key, val, "want hashmap or lsm")
			}
		case KeyIncremental:
			c.Incremental = parseBool(key, val, bad)
			lsmKeys[key] = val
		case KeyHashmapMaxDeltas:
			c.Hashmap.MaxDeltas = parseInt(key, val, 1, snapshot.MaxChainLength-1, bad)
		case KeyHashmapMaxDeltaRatio:
			if f, err := strconv.ParseFloat(val, 64); err != nil || !(f > 0) || f > 1e6 {
				bad(key, val, "want a positive fraction such as 0.5")
			} else {
				c.Hashmap.MaxDeltaRatio = f
			}
		case KeyCheckpointStorage:
			switch strings.ToLower(val) {
			case "jobmanager", "filesystem":
				c.CheckpointStorage = strings.ToLower(val)
			default:
				bad(key, val, "want jobmanager or filesystem")
			}
		case KeyCheckpointsDir:
			c.CheckpointsDir = val
		case KeySavepointsDir:
			c.SavepointsDir = val
		case KeyNumRetained:
			c.NumRetained = parseInt(key, val, 1, 1<<20, bad)
		case KeySnapshotCompression:
			c.SnapshotCompression = parseBool(key, val, bad)
		case KeyJobManagerMaxState:
			n, err := ParseMemorySize(val)
			if err != nil || n <= 0 {
				bad(key, val, "want a positive memory size such as 5 mb")
			}
			c.JobManagerMaxStateSize = n
		case KeyLocalRecovery, KeyLocalRecoveryLegacy:
			b := parseBool(key, val, bad)
			if other := kv[KeyLocalRecoveryLegacy]; key == KeyLocalRecovery && other != "" {
				if ob, err := units.ParseBool(strings.TrimSpace(other)); err == nil && ob != b {
					errs = append(errs, fmt.Errorf("config keys %s (%s) and %s (%s) disagree; they are one setting: set %s only",
						KeyLocalRecovery, val, KeyLocalRecoveryLegacy, strings.TrimSpace(other), KeyLocalRecovery))
				}
			}
			c.LocalRecovery = b
		case KeyLocalRootDirs:
			c.LocalRootDirs = parseDirs(key, val, bad)
		case KeyParallelism:
			c.Parallelism = parseInt(key, val, 1, keygroup.UpperBoundMaxParallelism, bad)
		case KeyClaimMode:
			m, err := ParseClaimMode(val)
			if err != nil {
				bad(key, val, err.Error())
			}
			c.ClaimMode = m
		case KeyMaxParallelism:
			c.MaxParallelism = parseInt(key, val, 1, keygroup.UpperBoundMaxParallelism, bad)
			maxPSet = true
		default:
			if strings.HasPrefix(key, RocksDBPrefix) || strings.HasPrefix(key, LSMPrefix) {
				lsmKeys[key] = val
			} else {
				errs = append(errs, fmt.Errorf("unknown config key %q; see the README's configuration table", key))
			}
		}
	}
	lc, err := lsm.ParseConfig(lsmKeys)
	if err != nil {
		errs = append(errs, err)
	}
	c.LSM = lc
	if c.CheckpointStorage == "" {
		c.CheckpointStorage = "jobmanager"
		if c.CheckpointsDir != "" {
			c.CheckpointStorage = "filesystem"
		}
	}
	if c.CheckpointStorage == "filesystem" && c.CheckpointsDir == "" {
		errs = append(errs, fmt.Errorf("config key %s is filesystem but %s is not set; set it to a URL such as file:///var/lib/streamstate/checkpoints", KeyCheckpointStorage, KeyCheckpointsDir))
	}
	if !maxPSet {
		c.MaxParallelism = keygroup.DefaultMaxParallelism(c.Parallelism)
	}
	if len(errs) == 0 {
		if err := keygroup.Validate(c.MaxParallelism, c.Parallelism); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// BackendName returns the canonical name of a state backend as state.backend.type accepts it
// ("hashmap" for hashmap or heap, "lsm" for lsm, rocksdb or pebble; any case), and whether
// name is one.
func BackendName(name string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "hashmap", "heap":
		return "hashmap", true
	case "lsm", "rocksdb", "pebble":
		return "lsm", true
	}
	return "", false
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func parseBool(key, val string, bad func(string, string, string)) bool {
	b, err := units.ParseBool(val)
	if err != nil {
		bad(key, val, "want true or false")
	}
	return b
}

// parseDirs splits a list of directories as Flink does: by commas and the operating system's
// path list separator. An empty entry is an error.
func parseDirs(key, val string, bad func(string, string, string)) []string {
	parts := strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == filepath.ListSeparator })
	var dirs []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			dirs = append(dirs, p)
		}
	}
	if len(dirs) == 0 {
		bad(key, val, "want one or more directories separated by commas, e.g. /mnt/disk1/local-state,/mnt/disk2/local-state")
	}
	return dirs
}

func parseInt(key, val string, lo, hi int, bad func(string, string, string)) int {
	n, err := strconv.Atoi(val)
	if err != nil || n < lo || n > hi {
		bad(key, val, fmt.Sprintf("want an integer in [%d, %d]", lo, hi))
	}
	return n
}

// ParseDuration parses a duration as Flink does: a number and an optional unit (ms, s, min,
// h, d and their long forms; no unit means milliseconds). Go's form ("1m30s") is accepted too.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("duration %q does not start with a number", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	var unit time.Duration
	switch strings.TrimSpace(s[i:]) {
	case "", "ms", "milli", "millis", "millisecond", "milliseconds":
		unit = time.Millisecond
	case "s", "sec", "secs", "second", "seconds":
		unit = time.Second
	case "min", "mins", "minute", "minutes":
		unit = time.Minute
	case "h", "hour", "hours":
		unit = time.Hour
	case "d", "day", "days":
		unit = 24 * time.Hour
	default:
		return 0, fmt.Errorf("duration %q has an unknown unit; use ms, s, min, h or d", s)
	}
	if n > int64(1<<63-1)/int64(unit) {
		return 0, fmt.Errorf("duration %q overflows", s)
	}
	return time.Duration(n) * unit, nil
}

// ParseMemorySize parses a memory size as Flink writes it (internal/units.ParseMemorySize):
// a number and an optional unit, powers of 1024, e.g. "5 mb".
func ParseMemorySize(s string) (int64, error) { return units.ParseMemorySize(s) }

// OpenCheckpointStorage opens the configured checkpoint storage.
func (c *Config) OpenCheckpointStorage(ctx context.Context) (checkpoint.Storage, error) {
	if c.CheckpointStorage == "jobmanager" {
		return blobstore.NewJobManagerStorage(c.JobManagerMaxStateSize), nil
	}
	return blobstore.OpenURL(ctx, c.CheckpointsDir)
}

// Compression returns the snapshot compression to use.
func (c *Config) Compression() snapshot.Compression {
	if c.SnapshotCompression {
		return snapshot.CompressionSnappy
	}
	return snapshot.CompressionNone
}

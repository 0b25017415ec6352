package lsm

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/streamstate/streamstate/internal/units"
)

// Configuration keys of the lsm backend. Each is also accepted with Flink's
// "state.backend.rocksdb." prefix instead of ConfigPrefix, so a Flink user's keys work.
const (
	ConfigPrefix      = "state.backend.lsm."
	FlinkConfigPrefix = "state.backend.rocksdb."
	// IncrementalKey is state.backend.incremental (boolean, default false).
	IncrementalKey = "state.backend.incremental"
)

// The keys after the prefix, with what they set.
const (
	keyManaged          = "memory.managed"            // bool, default true
	keyFixedPerSlot     = "memory.fixed-per-slot"     // memory size
	keyWriteBufferRatio = "memory.write-buffer-ratio" // float in (0, 1), default 0.5
	keyCacheSize        = "block.cache-size"          // memory size -> BlockCacheSize
	keyBlockSize        = "block.blocksize"           // memory size -> BlockSize
	keyWriteBufferSize  = "writebuffer.size"          // memory size -> WriteBufferSize
	keyWriteBufferCount = "writebuffer.count"         // int -> WriteBufferCount
	keyThreads          = "thread.num"                // int -> CompactionConcurrency
	keyFilesOpen        = "files.open"                // int (-1: unlimited) -> MaxOpenFiles
	keyProfile          = "predefined-options"        // Profile
	keyTimerService     = "timer-service.factory"     // lsm (alias rocksdb) | heap -> TimerService
	keyLocalDir         = "localdir"                  // directory -> Dir
	keyTTLCleanupRate   = "ttl-cleanup-rate"          // int entries/s (-1: off) -> TTLCleanupRate
)

// LocalDirKey is the key of the root of the working directories (Options.Dir), as Flink
// spells it for RocksDB after either prefix: state.backend.lsm.localdir or
// state.backend.rocksdb.localdir.
const LocalDirKey = ConfigPrefix + keyLocalDir

var configKeys = []string{keyManaged, keyFixedPerSlot, keyWriteBufferRatio, keyCacheSize, keyBlockSize,
	keyWriteBufferSize, keyWriteBufferCount, keyThreads, keyFilesOpen, keyProfile, keyTimerService, keyLocalDir,
	keyTTLCleanupRate}

// Config is the lsm backend's configuration read from configuration keys.
type Config struct {
	// Options holds the per-backend settings (Incremental, Dir, BlockCacheSize, WriteBufferSize,
	// WriteBufferCount, BlockSize, CompactionConcurrency, MaxOpenFiles, Profile, TimerService, TTLCleanupRate); unset keys
	// leave the zero value, i.e. the default. NewStateBackend fills in Slot; the runtime, backend.Options.
	Options Options
	// ManagedMemory is memory.managed: the backends of a slot share the slot's managed memory.
	// Default: true.
	ManagedMemory bool
	// FixedPerSlot is memory.fixed-per-slot: a fixed memory budget per slot, which overrides
	// ManagedMemory. Default: 0 (unset).
	FixedPerSlot int64
	// WriteBufferRatio is memory.write-buffer-ratio. Default: 0.5.
	WriteBufferRatio float64
}

// SlotOptions returns the memory budget of a slot whose managed memory is managedBytes, and
// whether the slot's memory is shared at all. memory.fixed-per-slot wins over managed memory;
// without either (memory.managed=false and no fixed size), ok is false and each backend uses
// its own block.cache-size and writebuffer.size.
func (c Config) SlotOptions(managedBytes int64, backends int) (o SlotOptions, ok bool) {
	o = SlotOptions{WriteBufferRatio: c.WriteBufferRatio, Backends: backends}
	switch {
	case c.FixedPerSlot > 0:
		o.Budget = c.FixedPerSlot
	case c.ManagedMemory:
		o.Budget = managedBytes
	default:
		return o, false
	}
	return o, true
}

// ParseConfig reads the lsm backend's keys from conf: state.backend.incremental and every key
// under state.backend.lsm. or its alias prefix state.backend.rocksdb.; other keys are
// ignored. An unknown key under those prefixes, a bad value, or a key given under both
// prefixes with different values is an error naming the key; all are reported at once.
//
// Precedence of the resulting settings (see the package documentation): predefined-options
// is applied first, then the explicit sizes; managed memory or fixed-per-slot (a Slot) wins
// over block.cache-size and writebuffer.size; Options.OptionsHook, set in code, wins over all.
func ParseConfig(conf map[string]string) (Config, error) {
	c := Config{ManagedMemory: true, WriteBufferRatio: DefaultWriteBufferRatio}
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	values := map[string]string{}  // suffix -> value
	sources := map[string]string{} // suffix -> full key it came from
	for _, key := range slices.Sorted(maps.Keys(conf)) {
		val := strings.TrimSpace(conf[key])
		if key == IncrementalKey {
			b, err := units.ParseBool(val)
			if err != nil {
				bad(key, "%v", err)
			}
			c.Options.Incremental = b
			continue
		}
		var suffix string
		if s, ok := strings.CutPrefix(key, ConfigPrefix); ok {
			suffix = s
		} else if s, ok := strings.CutPrefix(key, FlinkConfigPrefix); ok {
			suffix = s
		} else {
			continue
		}
		if !slices.Contains(configKeys, suffix) {
			bad(key, "unknown configuration key; the known keys under %s (or %s) are %s", ConfigPrefix, FlinkConfigPrefix, strings.Join(configKeys, ", "))
			continue
		}
		if prev, ok := sources[suffix]; ok {
			if values[suffix] != val {
				bad(key, "conflicts with %s (%q vs %q)", prev, val, values[suffix])
			}
			continue
		}
		values[suffix], sources[suffix] = val, key
	}
	for _, suffix := range configKeys {
		val, ok := values[suffix]
		if !ok {
			continue
		}
		key := sources[suffix]
		var err error
		switch suffix {
		case keyManaged:
			c.ManagedMemory, err = units.ParseBool(val)
		case keyFixedPerSlot:
			c.FixedPerSlot, err = parsePositiveSize(val)
		case keyWriteBufferRatio:
			c.WriteBufferRatio, err = strconv.ParseFloat(val, 64)
			if err == nil && !(c.WriteBufferRatio > 0 && c.WriteBufferRatio < 1) {
				err = fmt.Errorf("%v is outside (0, 1)", c.WriteBufferRatio)
			}
		case keyCacheSize:
			c.Options.BlockCacheSize, err = parsePositiveSize(val)
		case keyBlockSize:
			var n int64
			n, err = parsePositiveSize(val)
			c.Options.BlockSize = int(min(n, math.MaxInt32))
		case keyWriteBufferSize:
			c.Options.WriteBufferSize, err = parsePositiveSize(val)
		case keyWriteBufferCount:
			c.Options.WriteBufferCount, err = parseIntMin(val, 2)
		case keyThreads:
			c.Options.CompactionConcurrency, err = parseIntMin(val, 1)
		case keyFilesOpen:
			c.Options.MaxOpenFiles, err = strconv.Atoi(val)
			if err == nil && c.Options.MaxOpenFiles < -1 {
				err = fmt.Errorf("%d is below -1 (unlimited)", c.Options.MaxOpenFiles)
			}
		case keyProfile:
			p := Profile(strings.ToUpper(val))
			if !p.valid() {
				err = fmt.Errorf("%q is not one of DEFAULT, SPINNING_DISK_OPTIMIZED, SPINNING_DISK_OPTIMIZED_HIGH_MEM, FLASH_SSD_OPTIMIZED", val)
			}
			c.Options.Profile = p
		case keyTimerService:
			switch strings.ToLower(val) {
			case "lsm", "rocksdb":
				c.Options.TimerService = TimerServiceLSM
			case "heap":
				c.Options.TimerService = TimerServiceHeap
			default:
				err = fmt.Errorf("%q is not one of lsm (or rocksdb), heap", val)
			}
		case keyTTLCleanupRate:
			c.Options.TTLCleanupRate, err = strconv.Atoi(val)
			if err == nil && (c.Options.TTLCleanupRate < -1 || c.Options.TTLCleanupRate == 0 || c.Options.TTLCleanupRate > MaxTTLCleanupRate) {
				err = fmt.Errorf("%d must be -1 (off) or in [1, %d] entries per second", c.Options.TTLCleanupRate, MaxTTLCleanupRate)
			}
		case keyLocalDir:
			// Flink accepts a list of directories for RocksDB; one is used here.
			switch {
			case val == "":
				err = fmt.Errorf("is empty; give the directory for the lsm working directories, e.g. /var/lib/streamstate/lsm")
			case strings.ContainsAny(val, ",\x00"):
				err = fmt.Errorf("%q is not one directory; a list of directories is not supported", val)
			default:
				c.Options.Dir = val
			}
		}
		if err != nil {
			bad(key, "%v", err)
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("lsm backend configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func parseIntMin(s string, lo int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	if n < lo {
		return 0, fmt.Errorf("%d is below %d", n, lo)
	}
	return n, nil
}

func parsePositiveSize(s string) (int64, error) {
	n, err := units.ParseMemorySize(s)
	if err == nil && n <= 0 {
		err = fmt.Errorf("%q must be positive", s)
	}
	return n, err
}

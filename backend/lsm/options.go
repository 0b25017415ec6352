package lsm

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/streamstate/streamstate/backend"
)

// Profile is one of Flink's predefined RocksDB option sets (state.backend.lsm.predefined-options),
// translated to Pebble. Explicit options and the memory budget are applied after the profile;
// Options.OptionsHook is applied last and wins over everything.
type Profile string

// The predefined profiles.
const (
	// ProfileDefault leaves Pebble's defaults (after the backend's own settings).
	ProfileDefault Profile = "DEFAULT"
	// ProfileSpinningDisk favours sequential IO: larger blocks and files, one compaction.
	ProfileSpinningDisk Profile = "SPINNING_DISK_OPTIMIZED"
	// ProfileSpinningDiskHighMem is ProfileSpinningDisk with larger memtables and blocks.
	ProfileSpinningDiskHighMem Profile = "SPINNING_DISK_OPTIMIZED_HIGH_MEM"
	// ProfileFlashSSD keeps Pebble's defaults and an unlimited number of open files.
	ProfileFlashSSD Profile = "FLASH_SSD_OPTIMIZED"
)

func (p Profile) valid() bool {
	switch p {
	case ProfileDefault, ProfileSpinningDisk, ProfileSpinningDiskHighMem, ProfileFlashSSD:
		return true
	}
	return false
}

// Defaults of Options.
const (
	DefaultBlockCacheSize      = 64 << 20
	DefaultWriteBufferSize     = 16 << 20
	DefaultWriteBufferCount    = 8
	DefaultBlockSize           = 4 << 10
	DefaultTransferConcurrency = 4
	DefaultWriteBufferRatio    = 0.5
	// DefaultTTLCleanupRate is the default of Options.TTLCleanupRate, in entries per
	// second: 4-9% of one core (BenchmarkTTLCleanup: an examined entry costs 0.7 µs when
	// kept, 1.8 µs when deleted), and enough for keys that expire at up to half that rate
	// to keep the store within twice the live state.
	DefaultTTLCleanupRate = 50_000
	// MaxTTLCleanupRate is the largest valid Options.TTLCleanupRate.
	MaxTTLCleanupRate = 100_000_000
)

// Options configures an lsm backend. The zero value of every field but the embedded
// backend.Options' required ones is a valid default.
type Options struct {
	backend.Options

	// Dir is the root of the backends' working directories (state.backend.lsm.localdir, or
	// Flink's state.backend.rocksdb.localdir). Each backend creates a fresh directory
	// streamstate-lsm-<operator>-<random> inside it, holding a lock file that names its owner
	// (process id and start token) and stays locked (flock(2)) while the backend is open; Close
	// removes the directory. New first removes the working directories in Dir, of this user,
	// whose lock is not held and whose lock file names an owner (or is empty and an hour old):
	// their owner is gone (a process killed before Close). A directory whose lock is held, by
	// this or any other process, or that has no lock file (a version without locks may be
	// running in it) is never touched. Dir is a path of FS; the lock and the sweep exist only
	// when FS is the operating system's (see FS). Default: os.TempDir().
	Dir string

	// FS is the filesystem of the working directory: Pebble's files and the backend's own
	// (local checkpoints, restore downloads, import files) are all read and written through it.
	// vfs.Default, or a wrapper of it such as errorfs for fault injection, is the operating
	// system's: only there is the working directory locked and are the directories of dead
	// owners swept (workdir.go), with the os package, as the lock needs a file descriptor. Any
	// other filesystem (vfs.NewMem for hermetic tests) gets unlocked working directories and
	// no sweep. Default: vfs.Default.
	FS vfs.FS

	// Incremental makes checkpoints incremental (state.backend.incremental): only SST files
	// that the last completed checkpoint does not reference are uploaded. Savepoints are
	// always full. Default: false.
	Incremental bool

	// TimerService is where timers are kept (state.backend.lsm.timer-service.factory):
	// TimerServiceLSM in the database, or TimerServiceHeap in memory (incremental checkpoints
	// then write them as an extra canonical-format file). Default: TimerServiceLSM.
	TimerService TimerServiceFactory

	// Slot, if set, is the memory of the slot this backend runs in ("managed memory"): its
	// block cache is shared with every backend of the slot and its memtables are sized from
	// the slot's write-buffer share. It overrides BlockCacheSize and WriteBufferSize.
	// Default: nil (the backend has memory of its own, sized by the fields below).
	Slot *SlotResources

	// BlockCacheSize is the block cache of this backend when Slot is nil
	// (state.backend.lsm.block.cache-size). Default: 64 MiB (Flink's 8 MiB default only
	// matters without managed memory, which Flink enables by default).
	BlockCacheSize int64
	// WriteBufferSize is the size of one memtable when Slot is nil
	// (state.backend.lsm.writebuffer.size). Default: 16 MiB.
	WriteBufferSize int64
	// WriteBufferCount is the number of memtables, the active one included, before writes
	// stall (state.backend.lsm.writebuffer.count); with a Slot the write-buffer share is
	// divided among them. Default: 8. The memtable memory is Flink's RocksDB default (2 × 64
	// MiB), cut into smaller memtables: a memtable's skiplist insert and lookup miss the
	// processor cache less when it is small (listAdd and valueUpdate 1.7–1.9× faster, valueGet
	// 1.5× at 500k keys; docs/benchmarks.md).
	WriteBufferCount int
	// BlockSize is the target uncompressed size of SST data blocks
	// (state.backend.lsm.block.blocksize). Default: 4 KiB.
	BlockSize int
	// CompactionConcurrency is the maximum number of concurrent compactions
	// (state.backend.lsm.thread.num). Default: min(2, GOMAXPROCS).
	CompactionConcurrency int
	// MaxOpenFiles limits the table cache (state.backend.lsm.files.open). -1: unlimited.
	// Default: Pebble's (1000).
	MaxOpenFiles int
	// Profile is a predefined option set (state.backend.lsm.predefined-options).
	// Default: ProfileDefault.
	Profile Profile
	// OptionsHook, if set, is called with the Pebble options after everything else has been
	// applied, for experts. It must not change Merger, Comparer or FS, nor replace Logger or
	// EventListener (it may tee the listener with pebble.TeeEventListener). Default: nil.
	OptionsHook func(*pebble.Options)

	// TTLCleanupRate bounds the background cleanup of the states with a TTL
	// (state.backend.lsm.ttl-cleanup-rate): at most this many stored entries (a value, a
	// list, a map entry) per second are examined, in steps of at most 100 ms' worth run on
	// the task goroutine while it uses TTL states, and the expired ones deleted; a full pass
	// over N stored entries thus takes N / TTLCleanupRate seconds, and with keys expiring
	// at a rate r below it the store holds at most live / (1 - r/TTLCleanupRate) entries
	// (docs/design.md, "TTL cleanup on lsm"). -1 turns the cleanup off: expired entries are
	// still never returned, are removed when read and are left out of full snapshots, but
	// stay on disk until then. Default: DefaultTTLCleanupRate.
	TTLCleanupRate int

	// TransferConcurrency bounds the parallel uploads of an incremental checkpoint and the
	// parallel downloads of a restore. Default: 4.
	TransferConcurrency int

	// Logger receives Pebble's log lines, the backend's warnings and, at level Error, the
	// first failure of Pebble's background work (a flush or compaction that cannot write, data
	// corruption), which also fails every later call of the backend (faults.go). The job's
	// logger belongs here. Default: discard.
	Logger *slog.Logger

	// faults records Pebble's failures for the backend; set by New.
	faults *faults
}

func (o *Options) setDefaults() {
	if o.OperatorID == "" {
		o.OperatorID = "operator"
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if o.Clock == nil {
		o.Clock = &backend.Clock{}
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = DefaultBlockCacheSize
	}
	if o.WriteBufferSize == 0 {
		o.WriteBufferSize = DefaultWriteBufferSize
	}
	if o.WriteBufferCount == 0 {
		o.WriteBufferCount = DefaultWriteBufferCount
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.CompactionConcurrency == 0 {
		o.CompactionConcurrency = min(2, runtime.GOMAXPROCS(0))
	}
	if o.Profile == "" {
		o.Profile = ProfileDefault
	}
	if o.TimerService == "" {
		o.TimerService = TimerServiceLSM
	}
	if o.TransferConcurrency == 0 {
		o.TransferConcurrency = DefaultTransferConcurrency
	}
	if o.TTLCleanupRate == 0 {
		o.TTLCleanupRate = DefaultTTLCleanupRate
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
}

// Validate reports every invalid field at once. New calls it after applying the defaults.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.MaxParallelism < 1 || o.MaxParallelism > 1<<15 {
		bad("MaxParallelism %d is outside [1, 32768]", o.MaxParallelism)
	}
	if r := o.KeyGroupRange; r.Len() == 0 || r.Start < 0 || r.End >= o.MaxParallelism {
		bad("KeyGroupRange %v is not a non-empty range inside [0, %d)", r, o.MaxParallelism)
	}
	if o.KeySerializerID == "" {
		bad("KeySerializerID is required")
	}
	if len(o.Restore) > 0 && o.Reader == nil {
		bad("Reader is required to restore")
	}
	for i, h := range o.Restore {
		if h == nil {
			bad("Restore[%d] is nil", i)
		}
	}
	if o.BlockCacheSize < 0 {
		bad("BlockCacheSize %d is negative", o.BlockCacheSize)
	}
	if o.WriteBufferSize < 64<<10 {
		bad("WriteBufferSize %d is below the minimum of 64 KiB", o.WriteBufferSize)
	}
	if o.WriteBufferCount < 2 {
		bad("WriteBufferCount %d is below 2", o.WriteBufferCount)
	}
	if o.BlockSize < 1<<10 || o.BlockSize > 1<<30 {
		bad("BlockSize %d is outside [1 KiB, 1 GiB]", o.BlockSize)
	}
	if o.CompactionConcurrency < 1 {
		bad("CompactionConcurrency %d is below 1", o.CompactionConcurrency)
	}
	if o.MaxOpenFiles < -1 || (o.MaxOpenFiles > 0 && o.MaxOpenFiles < 16) {
		bad("MaxOpenFiles %d must be -1 (unlimited), 0 (default) or at least 16", o.MaxOpenFiles)
	}
	if !o.Profile.valid() {
		bad("Profile %q is not one of DEFAULT, SPINNING_DISK_OPTIMIZED, SPINNING_DISK_OPTIMIZED_HIGH_MEM, FLASH_SSD_OPTIMIZED", o.Profile)
	}
	if !o.TimerService.valid() {
		bad("TimerService %q is not one of lsm, heap", o.TimerService)
	}
	if o.TransferConcurrency < 1 {
		bad("TransferConcurrency %d is below 1", o.TransferConcurrency)
	}
	if o.TTLCleanupRate < -1 || o.TTLCleanupRate == 0 || o.TTLCleanupRate > MaxTTLCleanupRate {
		bad("TTLCleanupRate %d must be -1 (off) or in [1, %d] entries per second", o.TTLCleanupRate, MaxTTLCleanupRate)
	}
	if o.Slot != nil && o.Slot.closed() {
		bad("Slot is closed")
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("lsm backend options: %s", strings.Join(msgs, "; "))
}

// pebbleOptions translates the options (defaults applied) to Pebble's, in the documented
// precedence: backend settings, profile, explicit sizes, memory budget, hook. Pebble's
// logger and event listener record its failures in o.faults (faults.go).
func (o *Options) pebbleOptions() *pebble.Options {
	f := o.faults
	if f == nil { // options not given to New (tests): failures are recorded nowhere
		f = newFaults(o.OperatorID, o.Dir, o.Logger)
	}
	po := &pebble.Options{
		Merger:             listMerger,
		DisableWAL:         true, // checkpoints, not the WAL, make state durable
		FormatMajorVersion: pebble.FormatTableFormatV6,
		FS:                 faultFS{FS: o.FS, f: f},
		Logger:             pebbleLogger{l: o.Logger, f: f},
		EventListener:      new(f.listener()),
		// Pebble charges memtables to the block cache (as RocksDB's write buffer manager does
		// in Flink), so the cache holds the memtables on top of BlockCacheSize for blocks.
		CacheSize:                   o.BlockCacheSize + o.WriteBufferSize*int64(o.WriteBufferCount),
		MemTableSize:                uint64(o.WriteBufferSize),
		MemTableStopWritesThreshold: o.WriteBufferCount,
		MaxOpenFiles:                o.MaxOpenFiles,
	}
	blockSize, conc := o.BlockSize, o.CompactionConcurrency
	switch o.Profile {
	case ProfileSpinningDisk:
		blockSize = max(blockSize, 32<<10)
		conc = 1
		po.L0CompactionThreshold = 8
	case ProfileSpinningDiskHighMem:
		blockSize = max(blockSize, 128<<10)
		conc = 1
		// At least 512 MiB of memtables (256 MiB × 2 when this was written for 2 memtables).
		if per := uint64(512<<20) / uint64(o.WriteBufferCount); po.MemTableSize < per {
			po.CacheSize += int64(per-po.MemTableSize) * int64(o.WriteBufferCount)
			po.MemTableSize = per
		}
	case ProfileFlashSSD:
		po.MaxOpenFiles = -1
	}
	if po.MaxOpenFiles < 0 {
		po.MaxOpenFiles = 1 << 30
	}
	for i := range po.Levels {
		po.Levels[i].BlockSize = blockSize
		// Point reads (value, list and map Get) dominate state access; a bloom filter lets
		// them skip the files (overlapping L0 files above all) that do not hold the key.
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].FilterType = pebble.TableFilter
	}
	po.CompactionConcurrencyRange = func() (int, int) { return 1, conc }
	if s := o.Slot; s != nil {
		po.Cache = s.cache
		po.CacheSize = 0
		po.MemTableSize = s.memTableSize(o.WriteBufferCount)
	}
	if o.OptionsHook != nil {
		o.OptionsHook(po)
	}
	return po
}

// SlotOptions configures the memory of one slot ("managed memory").
type SlotOptions struct {
	// Budget is the slot's memory for every lsm backend in it, in bytes
	// (state.backend.lsm.memory.fixed-per-slot, or the slot's managed memory). Required.
	Budget int64
	// WriteBufferRatio is the share of Budget for memtables; the rest is the shared block
	// cache (state.backend.lsm.memory.write-buffer-ratio). Default: 0.5.
	WriteBufferRatio float64
	// Backends is the number of lsm backends expected to share the slot (the keyed operators
	// chained into it); the write-buffer share is divided among them. Default: 1.
	Backends int
}

// SlotResources is the memory shared by every lsm backend of one slot: one Pebble block cache
// of Budget bytes, and memtables sized so that Backends backends together use at most
// WriteBufferRatio × Budget. Pebble charges memtables to the block cache (as RocksDB's write
// buffer manager does for Flink), so the slot's memtables and cached blocks together stay
// within Budget, and blocks always have at least (1 − WriteBufferRatio) × Budget. Pass the
// same *SlotResources in Options.Slot of each backend of the slot. Safe for concurrent use.
// Close it after the last backend is closed.
type SlotResources struct {
	opts  SlotOptions
	cache *pebble.Cache

	mu       sync.Mutex
	released bool
}

// NewSlotResources allocates the slot's block cache. It reports every invalid option at once.
func NewSlotResources(o SlotOptions) (*SlotResources, error) {
	if o.WriteBufferRatio == 0 {
		o.WriteBufferRatio = DefaultWriteBufferRatio
	}
	if o.Backends == 0 {
		o.Backends = 1
	}
	var errs []error
	if o.Budget < 1<<20 {
		errs = append(errs, fmt.Errorf("the Budget of %d bytes is below the minimum of 1 MiB", o.Budget))
	}
	if !(o.WriteBufferRatio > 0 && o.WriteBufferRatio < 1) {
		errs = append(errs, fmt.Errorf("the WriteBufferRatio %v is outside (0, 1)", o.WriteBufferRatio))
	}
	if o.Backends < 1 {
		errs = append(errs, fmt.Errorf("the number of Backends %d is below 1", o.Backends))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("lsm slot options: %w", errors.Join(errs...))
	}
	return &SlotResources{opts: o, cache: pebble.NewCache(o.Budget)}, nil
}

// CacheSize is the part of the shared cache always left to data blocks:
// (1 − WriteBufferRatio) × Budget. The cache itself has Budget bytes; memtables take the rest.
func (o SlotOptions) CacheSize() int64 {
	return int64(float64(o.Budget) * (1 - o.WriteBufferRatio))
}

// WriteBufferSize is the memtable memory of the whole slot: WriteBufferRatio × Budget.
func (o SlotOptions) WriteBufferSize() int64 {
	return int64(float64(o.Budget) * o.WriteBufferRatio)
}

// Options returns the slot's options with defaults applied.
func (s *SlotResources) Options() SlotOptions { return s.opts }

// memTableSize divides the write-buffer share among the backends and their memtables.
func (s *SlotResources) memTableSize(count int) uint64 {
	per := s.opts.WriteBufferSize() / int64(s.opts.Backends) / int64(count)
	return uint64(max(per, 256<<10))
}

func (s *SlotResources) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.released
}

// Close releases the slot's reference to the cache; backends still open keep theirs.
func (s *SlotResources) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.released {
		s.released = true
		s.cache.Unref()
	}
}

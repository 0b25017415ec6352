package lsm

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/keygroup"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(map[string]string{
		"state.backend.incremental":                        "TRUE",
		"state.backend.lsm.block.cache-size":               "16mb",
		"state.backend.rocksdb.block.blocksize":            "16 kb",
		"state.backend.rocksdb.writebuffer.size":           "32m",
		"state.backend.lsm.writebuffer.count":              "3",
		"state.backend.lsm.thread.num":                     "4",
		"state.backend.rocksdb.files.open":                 "-1",
		"state.backend.lsm.predefined-options":             "spinning_disk_optimized_high_mem",
		"state.backend.rocksdb.memory.managed":             "false",
		"state.backend.lsm.memory.write-buffer-ratio":      "0.25",
		"state.backend.lsm.memory.fixed-per-slot":          "256mb",
		"state.backend.rocksdb.memory.fixed-per-slot":      "256mb",         // same value under both prefixes
		"state.checkpoints.dir":                            "file:///tmp/x", // not ours: ignored
		"state.backend.rocksdb.unrelated-but-prefixed-key": "",              // removed below
	})
	if err == nil || !strings.Contains(err.Error(), "state.backend.rocksdb.unrelated-but-prefixed-key") {
		t.Fatalf("unknown key not rejected by name: %v", err)
	}
	conf := map[string]string{
		"state.backend.incremental":                   "TRUE",
		"state.backend.lsm.block.cache-size":          "16mb",
		"state.backend.rocksdb.block.blocksize":       "16 kb",
		"state.backend.rocksdb.writebuffer.size":      "32m",
		"state.backend.lsm.writebuffer.count":         "3",
		"state.backend.lsm.thread.num":                "4",
		"state.backend.rocksdb.files.open":            "-1",
		"state.backend.lsm.predefined-options":        "spinning_disk_optimized_high_mem",
		"state.backend.rocksdb.memory.managed":        "false",
		"state.backend.lsm.memory.write-buffer-ratio": "0.25",
		"state.backend.lsm.memory.fixed-per-slot":     "256mb",
		"state.backend.rocksdb.memory.fixed-per-slot": "256mb",
		"state.checkpoints.dir":                       "file:///tmp/x",
	}
	if c, err = ParseConfig(conf); err != nil {
		t.Fatal(err)
	}
	o := c.Options
	if !o.Incremental || o.BlockCacheSize != 16<<20 || o.BlockSize != 16<<10 || o.WriteBufferSize != 32<<20 ||
		o.WriteBufferCount != 3 || o.CompactionConcurrency != 4 || o.MaxOpenFiles != -1 || o.Profile != ProfileSpinningDiskHighMem {
		t.Fatalf("options = %+v", o)
	}
	if c.ManagedMemory || c.FixedPerSlot != 256<<20 || c.WriteBufferRatio != 0.25 {
		t.Fatalf("memory = %+v", c)
	}
	// fixed-per-slot wins over managed memory (off here) and managed memory.
	so, ok := c.SlotOptions(1<<30, 2)
	if !ok || so.Budget != 256<<20 || so.WriteBufferRatio != 0.25 || so.Backends != 2 {
		t.Fatalf("slot options = %+v, %v", so, ok)
	}
	def, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if so, ok := def.SlotOptions(128<<20, 1); !ok || so.Budget != 128<<20 || so.WriteBufferRatio != 0.5 {
		t.Fatalf("default: managed memory of the slot expected, got %+v %v", so, ok)
	}
	def.ManagedMemory = false
	if _, ok := def.SlotOptions(128<<20, 1); ok {
		t.Fatal("unmanaged without fixed size must not share a slot")
	}
}

func TestParseConfigErrorsNameKeys(t *testing.T) {
	_, err := ParseConfig(map[string]string{
		"state.backend.lsm.block.cache-size":          "lots",
		"state.backend.rocksdb.writebuffer.count":     "1",
		"state.backend.lsm.memory.write-buffer-ratio": "1.5",
		"state.backend.lsm.predefined-options":        "FAST",
		"state.backend.lsm.memory.managed":            "yes",
		"state.backend.incremental":                   "maybe",
		"state.backend.lsm.thread.num":                "2",
		"state.backend.rocksdb.thread.num":            "3",
		"state.backend.lsm.block.blocksize":           "4 parsecs",
	})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, key := range []string{"state.backend.lsm.block.cache-size", "state.backend.rocksdb.writebuffer.count",
		"state.backend.lsm.memory.write-buffer-ratio", "state.backend.lsm.predefined-options",
		"state.backend.lsm.memory.managed", "state.backend.incremental", "state.backend.rocksdb.thread.num",
		"state.backend.lsm.block.blocksize"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

func TestOptionsValidateReportsAll(t *testing.T) {
	o := Options{WriteBufferCount: 1, BlockSize: 10, Profile: "FAST", TransferConcurrency: -1, MaxOpenFiles: 3}
	o.setDefaults()
	err := o.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"MaxParallelism", "KeyGroupRange", "KeySerializerID", "WriteBufferCount", "BlockSize", "Profile", "TransferConcurrency", "MaxOpenFiles"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %s: %v", want, err)
		}
	}
}

// TestSlotResources: backends of one slot share one block cache of (1 - ratio) x budget, and
// their memtables split ratio x budget; the hook is applied last.
func TestSlotResources(t *testing.T) {
	slot, err := NewSlotResources(SlotOptions{Budget: 64 << 20, Backends: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer slot.Close()
	if got := slot.Options().CacheSize(); got != 32<<20 || slot.cache.MaxSize() != 64<<20 {
		t.Fatalf("cache size %d", got)
	}
	var hooked []uint64
	var bs []*Backend
	for range 2 {
		b, err := New(context.Background(), Options{Options: backend.Options{MaxParallelism: 8,
			KeyGroupRange: keygroup.Range{Start: 0, End: 7}, KeySerializerID: "int64"}, Dir: t.TempDir(), Slot: slot,
			WriteBufferSize: 1 << 30, // ignored: the slot's budget wins
			OptionsHook: func(o *pebble.Options) {
				if o.Cache != slot.cache {
					t.Error("backend does not use the slot's cache")
				}
				hooked = append(hooked, o.MemTableSize)
			}})
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	// 32 MiB of write buffers over 2 backends x 8 memtables (DefaultWriteBufferCount).
	for _, m := range hooked {
		if m != 2<<20 {
			t.Fatalf("memtable size %d, want 2 MiB", m)
		}
	}
	if m := bs[0].DB().Metrics(); m.BlockCache.Size < 0 {
		t.Fatal("no cache metrics")
	}
	dir := bs[0].WorkingDir()
	for _, b := range bs {
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("working directory %s survives Close: %v", dir, err)
	}
	if _, err := NewSlotResources(SlotOptions{Budget: 1, WriteBufferRatio: 2, Backends: -1}); err == nil ||
		!strings.Contains(err.Error(), "Budget") || !strings.Contains(err.Error(), "WriteBufferRatio") || !strings.Contains(err.Error(), "Backends") {
		t.Fatalf("bad slot options: %v", err)
	}
}

func TestParseConfigTimerService(t *testing.T) {
	for _, tc := range []struct {
		conf map[string]string
		want TimerServiceFactory
	}{
		{map[string]string{}, ""}, // unset: the default (lsm) applies in New
		{map[string]string{"state.backend.lsm.timer-service.factory": "heap"}, TimerServiceHeap},
		{map[string]string{"state.backend.rocksdb.timer-service.factory": "HEAP"}, TimerServiceHeap},
		{map[string]string{"state.backend.lsm.timer-service.factory": "lsm"}, TimerServiceLSM},
		{map[string]string{"state.backend.rocksdb.timer-service.factory": "ROCKSDB"}, TimerServiceLSM},
		{map[string]string{"state.backend.lsm.timer-service.factory": "heap", "state.backend.rocksdb.timer-service.factory": "heap"}, TimerServiceHeap},
	} {
		c, err := ParseConfig(tc.conf)
		if err != nil {
			t.Fatalf("%v: %v", tc.conf, err)
		}
		if c.Options.TimerService != tc.want {
			t.Fatalf("%v: TimerService = %q, want %q", tc.conf, c.Options.TimerService, tc.want)
		}
	}
	for _, conf := range []map[string]string{
		{"state.backend.lsm.timer-service.factory": "memory"},
		{"state.backend.rocksdb.timer-service.factory": ""},
		{"state.backend.lsm.timer-service.factory": "heap", "state.backend.rocksdb.timer-service.factory": "lsm"},
	} {
		_, err := ParseConfig(conf)
		if err == nil || !strings.Contains(err.Error(), "timer-service.factory") {
			t.Fatalf("%v: error %v does not name the key", conf, err)
		}
	}
	o := Options{Options: backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializerID: "k"},
		TimerService: "memory"}
	o.setDefaults()
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "TimerService") {
		t.Fatalf("bad TimerService: %v", err)
	}
	o.TimerService, o.Incremental = TimerServiceHeap, true
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o = Options{}
	o.setDefaults()
	if o.TimerService != TimerServiceLSM {
		t.Fatalf("default TimerService = %q", o.TimerService)
	}
}

func TestParseConfigTTLCleanupRate(t *testing.T) {
	for conf, want := range map[string]int{"": 0, "1000": 1000, "-1": -1} {
		m := map[string]string{}
		if conf != "" {
			m["state.backend.lsm.ttl-cleanup-rate"] = conf
		}
		c, err := ParseConfig(m)
		if err != nil || c.Options.TTLCleanupRate != want {
			t.Fatalf("%q: TTLCleanupRate = %d, %v; want %d", conf, c.Options.TTLCleanupRate, err, want)
		}
	}
	for _, bad := range []string{"0", "-2", "fast", "1000000000"} {
		_, err := ParseConfig(map[string]string{"state.backend.rocksdb.ttl-cleanup-rate": bad})
		if err == nil || !strings.Contains(err.Error(), "ttl-cleanup-rate") {
			t.Fatalf("%q: error %v does not name the key", bad, err)
		}
	}
	o := Options{Options: backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializerID: "k"}}
	o.setDefaults()
	if o.TTLCleanupRate != DefaultTTLCleanupRate {
		t.Fatalf("default TTLCleanupRate = %d", o.TTLCleanupRate)
	}
	for _, rate := range []int{-2, MaxTTLCleanupRate + 1} {
		o.TTLCleanupRate = rate
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "TTLCleanupRate") {
			t.Fatalf("TTLCleanupRate %d: %v", rate, err)
		}
	}
}

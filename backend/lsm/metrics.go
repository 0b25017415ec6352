package lsm

import (
	"slices"
	"strconv"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector of the Pebble metrics of a StateBackend's open keyed
// backends, as streamstate_pebble_* series labelled with the operator and a backend number
// unique within the factory (a restarted job's backends get new numbers). Register it on the
// job's registry (StateBackend.Collector). A backend leaves it when it is closed.
type Collector struct {
	descs map[string]*prometheus.Desc

	mu   sync.Mutex
	next int
	bs   []collected
}

type collected struct {
	b        *Backend
	operator string
	label    string
}

// pebbleMetric is one exported series: its name, help, kind and how it is read.
type pebbleMetric struct {
	name, help string
	counter    bool
	value      func(m *pebble.Metrics) float64
}

var pebbleMetrics = [...]pebbleMetric{
	{"block_cache_bytes", "Bytes in the block cache.", false, func(m *pebble.Metrics) float64 { return float64(m.BlockCache.Size) }},
	{"block_cache_hits_total", "Block cache hits.", true, func(m *pebble.Metrics) float64 { return float64(m.BlockCache.Hits) }},
	{"block_cache_misses_total", "Block cache misses.", true, func(m *pebble.Metrics) float64 { return float64(m.BlockCache.Misses) }},
	{"memtable_bytes", "Bytes in memtables.", false, func(m *pebble.Metrics) float64 { return float64(m.MemTable.Size) }},
	{"compactions_total", "Compactions.", true, func(m *pebble.Metrics) float64 { return float64(m.Compact.Count) }},
	{"compaction_debt_bytes", "Estimated compaction debt.", false, func(m *pebble.Metrics) float64 { return float64(m.Compact.EstimatedDebt) }},
	{"flushes_total", "Memtable flushes.", true, func(m *pebble.Metrics) float64 { return float64(m.Flush.Count) }},
	{"l0_files", "Files in L0.", false, func(m *pebble.Metrics) float64 { return float64(m.Levels[0].TablesCount) }},
	{"read_amplification", "Read amplification.", false, func(m *pebble.Metrics) float64 { return float64(m.ReadAmp()) }},
	{"disk_bytes", "Disk space used.", false, func(m *pebble.Metrics) float64 { return float64(m.DiskSpaceUsage()) }},
}

func newCollector() *Collector {
	c := &Collector{descs: map[string]*prometheus.Desc{}}
	for _, m := range pebbleMetrics {
		c.descs[m.name] = prometheus.NewDesc("streamstate_pebble_"+m.name, m.help, []string{"operator", "backend"}, nil)
	}
	return c
}

// add makes b's metrics collected until b is closed.
func (c *Collector) add(operatorID string, b *Backend) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bs = append(c.bs, collected{b: b, operator: operatorID, label: strconv.Itoa(c.next)})
	c.next++
	b.onClose = append(b.onClose, func() { c.remove(b) })
}

func (c *Collector) remove(b *Backend) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bs = slices.DeleteFunc(c.bs, func(e collected) bool { return e.b == b })
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range pebbleMetrics {
		ch <- c.descs[m.name]
	}
}

// Collect implements prometheus.Collector. It reads the backends' metrics outside its lock,
// so a backend that is slow to close delays the scrape only, not the creation of backends.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	bs := slices.Clone(c.bs)
	c.mu.Unlock()
	for _, e := range bs {
		m, ok := e.b.Metrics()
		if !ok {
			continue // closed meanwhile
		}
		for _, pm := range pebbleMetrics {
			t := prometheus.GaugeValue
			if pm.counter {
				t = prometheus.CounterValue
			}
			ch <- prometheus.MustNewConstMetric(c.descs[pm.name], t, pm.value(m), e.operator, e.label)
		}
	}
}

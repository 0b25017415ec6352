package stream

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// Metrics are a job's Prometheus metrics: source throughput and checkpoint statistics. The
// CLI adds the state backends' own (Pebble's) next to them.
type Metrics struct {
	records       *prometheus.CounterVec
	watermark     *prometheus.GaugeVec
	checkpoints   *prometheus.CounterVec
	lastID        prometheus.Gauge
	lastDuration  prometheus.Gauge
	lastSync      prometheus.Gauge
	lastAsync     prometheus.Gauge
	lastAlignment prometheus.Gauge
	lastBytes     prometheus.Gauge
	stateSize     prometheus.Gauge
}

// NewMetrics creates a job's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "streamstate", Name: name, Help: help})
	}
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "streamstate", Name: "source_records_total",
			Help: "Records emitted by source subtasks."}, []string{"operator", "subtask"}),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "streamstate", Name: "source_watermark_ms",
			Help: "Last watermark emitted by a source subtask, in Unix milliseconds."}, []string{"operator", "subtask"}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "streamstate", Name: "checkpoints_total",
			Help: "Checkpoints and savepoints by result."}, []string{"kind", "result"}),
		lastID:        g("last_checkpoint_id", "Id of the last completed checkpoint or savepoint."),
		lastDuration:  g("last_checkpoint_duration_seconds", "Trigger to metadata of the last completed checkpoint."),
		lastSync:      g("last_checkpoint_sync_seconds", "Longest synchronous phase of any subtask in the last completed checkpoint."),
		lastAsync:     g("last_checkpoint_async_seconds", "Longest asynchronous phase of any subtask in the last completed checkpoint."),
		lastAlignment: g("last_checkpoint_alignment_seconds", "Longest barrier alignment in the last completed checkpoint."),
		lastBytes:     g("last_checkpoint_written_bytes", "Bytes written by the last completed checkpoint (incremental: new files only)."),
		stateSize:     g("last_checkpoint_state_bytes", "Bytes referenced by the last completed checkpoint, shared files included."),
	}
	for _, c := range []prometheus.Collector{m.records, m.watermark, m.checkpoints, m.lastID, m.lastDuration, m.lastSync,
		m.lastAsync, m.lastAlignment, m.lastBytes, m.stateSize} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("stream: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) checkpoint(s CheckpointStats) {
	kind, result := "checkpoint", "completed"
	if s.Savepoint {
		kind = "savepoint"
	}
	if s.Failed != nil {
		result = "failed"
	}
	m.checkpoints.WithLabelValues(kind, result).Inc()
	if s.Failed != nil {
		return
	}
	m.lastID.Set(float64(s.ID))
	m.lastDuration.Set(s.Duration.Seconds())
	m.lastSync.Set(s.Sync.Seconds())
	m.lastAsync.Set(s.Async.Seconds())
	m.lastAlignment.Set(s.Alignment.Seconds())
	m.lastBytes.Set(float64(s.Bytes))
	m.stateSize.Set(float64(s.StateSize))
}

// countingFactory counts the bytes written through a checkpoint's StreamFactory.
type countingFactory struct {
	out   snapshot.StreamFactory
	bytes atomic.Int64
}

func newCountingFactory(out snapshot.StreamFactory) *countingFactory {
	return &countingFactory{out: out}
}

// Create implements snapshot.StreamFactory.
func (f *countingFactory) Create(ctx context.Context, hint string) (snapshot.OutputStream, error) {
	s, err := f.out.Create(ctx, hint)
	if err != nil {
		return nil, err
	}
	return &countingStream{OutputStream: s, n: &f.bytes}, nil
}

// CreateShared implements snapshot.SharedStreamFactory when the wrapped factory does.
func (f *countingFactory) CreateShared(ctx context.Context, hint string) (snapshot.OutputStream, error) {
	sf, ok := f.out.(snapshot.SharedStreamFactory)
	if !ok {
		return nil, fmt.Errorf("stream: %T has no shared directory", f.out)
	}
	s, err := sf.CreateShared(ctx, hint)
	if err != nil {
		return nil, err
	}
	return &countingStream{OutputStream: s, n: &f.bytes}, nil
}

type countingStream struct {
	snapshot.OutputStream
	n *atomic.Int64
}

func (s *countingStream) Write(p []byte) (int, error) {
	n, err := s.OutputStream.Write(p)
	s.n.Add(int64(n))
	return n, err
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// PlateauConfig says what RunPlateau measures: keys arrive forever at Rate, each written
// once to a state with processing-time TTL, so that the live state is Rate × TTL entries and
// everything older must be cleaned up by the backend for memory and disk to stay bounded.
type PlateauConfig struct {
	// StateBackend creates the measured keyed backend, which owns all key groups. Required.
	StateBackend backend.StateBackend
	// Rate is the number of new keys per second. Required (at least 1).
	Rate int
	// TTL of every state. Required (positive).
	TTL time.Duration
	// Duration of the run. Required (positive); at least 20 TTLs show a plateau.
	Duration time.Duration
	// Interval between two samples. Required (positive).
	Interval time.Duration
	// List and Map also write each new key's one-element list and one-entry map, both
	// with the same TTL. Default: the value state only.
	List, Map bool
	// CleanupSize is the TTL's ttl.Config.CleanupSize (the hashmap backend's entries checked
	// per access). Default 0: ttl.DefaultCleanupSize.
	CleanupSize int
	// Now, if set, is the time: Rate is kept against it, and it is the processing time of
	// the TTL. Default: the wall clock. It must move forward, or the run never ends.
	Now func() time.Time
	// Sleep, if set, waits for d when the writer is ahead of Rate. Default: time.Sleep.
	Sleep func(d time.Duration)
}

// Sample is one line of RunPlateau's report: the state of the run at Elapsed.
type Sample struct {
	Backend string        `json:"backend"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Written is the number of keys written so far; KeysPerSec the rate since the last
	// sample.
	Written    int64   `json:"written"`
	KeysPerSec float64 `json:"keys_per_sec"`
	// Live is the number of keys written less than a TTL ago: what the state must hold.
	Live int64 `json:"live"`
	// Stored is the number of keys the backend still stores in the value state, expired or
	// not (backend.Keyed.Keys).
	Stored int64 `json:"stored"`
	// HeapLive is the Go heap in use by live objects as of the last garbage collection
	// (runtime/metrics /gc/heap/live:bytes), of the whole process.
	HeapLive uint64 `json:"heap_live_bytes"`
	// DiskBytes is the lsm backend's on-disk size (Pebble's DiskSpaceUsage: tables, WAL,
	// manifest); -1 for a backend without a disk.
	DiskBytes int64 `json:"disk_bytes"`
}

// PlateauSummary compares the last third of a run's samples with the middle third: with
// bounded state, the last third's maxima are not much above the middle third's.
type PlateauSummary struct {
	Backend string `json:"backend"`
	Samples int    `json:"samples"`
	// Middle and Last are the maxima of the middle and last thirds of the samples.
	Middle, Last Sample
}

// Growth returns how much larger the last third's maximum of field is than the middle
// third's, as a fraction (0.05: 5% more); 0 when the middle's is 0 and the last's is too.
func (s PlateauSummary) Growth(field func(Sample) float64) float64 {
	m, l := field(s.Middle), field(s.Last)
	if m <= 0 {
		if l <= 0 {
			return 0
		}
		return 1
	}
	return l/m - 1
}

// Validate reports every missing or out-of-range field of c at once.
func (c PlateauConfig) Validate() error {
	var errs []error
	if c.StateBackend == nil {
		errs = append(errs, errors.New("bench: PlateauConfig needs a StateBackend"))
	}
	if c.Rate < 1 {
		errs = append(errs, fmt.Errorf("bench: the rate must be at least 1 key/s, got %d", c.Rate))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TTL", c.TTL}, {"duration", c.Duration}, {"interval", c.Interval}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("bench: the %s must be positive, got %v", d.name, d.v))
		}
	}
	if err := (ttl.Config{TTL: c.TTL, CleanupSize: c.CleanupSize}).Validate(); c.TTL > 0 && err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// plateauStates are the states RunPlateau writes.
type plateauStates struct {
	kb *state.KeyedBackend[int64]
	v  state.ValueState[int64]
	l  state.ListState[int64]
	m  state.MapState[int64, int64]
}

func (p *plateauStates) write(k int64) error {
	if err := p.kb.SetCurrentKey(k); err != nil {
		return err
	}
	if err := p.v.Update(k); err != nil {
		return err
	}
	if p.l != nil {
		if err := p.l.Add(k); err != nil {
			return err
		}
	}
	if p.m != nil {
		if err := p.m.Put(k&0xff, k); err != nil {
			return err
		}
	}
	return nil
}

// RunPlateau writes new keys at cfg.Rate for cfg.Duration and calls emit with a Sample every
// cfg.Interval (counting the stored keys and reading the metrics is not paced: the writer
// catches up after it). It returns the comparison of the last third of the samples with the
// middle third. ctx cancels it; a cancelled run still returns what it sampled so far.
func RunPlateau(ctx context.Context, cfg PlateauConfig, emit func(Sample) error) (PlateauSummary, error) {
	if err := cfg.Validate(); err != nil {
		return PlateauSummary{}, err
	}
	now, sleep := cfg.Now, cfg.Sleep
	// What an earlier run left is not this run's heap.
	runtime.GC()
	clock := &backend.Clock{} // the backend's wall clock, as in a job
	if now == nil {
		now = time.Now
	} else {
		clock.ProcessingTime = func() int64 { return now().UnixMilli() }
	}
	if sleep == nil {
		sleep = time.Sleep
	}
	be, err := cfg.StateBackend.CreateKeyedBackend(ctx, backend.Options{OperatorID: "bench-ttl", MaxParallelism: MaxParallelism,
		KeyGroupRange: keygroup.RangeFor(MaxParallelism, 1, 0), KeySerializerID: serde.Int64{}.ID(), Clock: clock})
	if err != nil {
		return PlateauSummary{}, fmt.Errorf("create %s state backend: %w", cfg.StateBackend.Name(), err)
	}
	defer be.Close()
	st, err := newPlateauStates(be, ttl.Config{TTL: cfg.TTL, CleanupSize: cfg.CleanupSize}, cfg.List, cfg.Map)
	if err != nil {
		return PlateauSummary{}, err
	}
	r := &plateauRun{cfg: cfg, be: be, now: now, start: now()}
	summary := PlateauSummary{Backend: cfg.StateBackend.Name()}
	var samples []Sample
	next := cfg.Interval
	for {
		if err := ctx.Err(); err != nil {
			return summarize(summary, samples), err
		}
		elapsed := r.now().Sub(r.start)
		due := int64(float64(cfg.Rate) * min(elapsed, cfg.Duration).Seconds())
		// Write what is due, in chunks of at most 10 ms of the rate, then look at the time.
		n := min(due-r.written, int64(cfg.Rate/100+1))
		for range n {
			if err := st.write(r.written); err != nil {
				return summary, fmt.Errorf("write key %d: %w", r.written, err)
			}
			r.record(r.written)
			r.written++
		}
		if r.written < due {
			continue // behind the rate: sample once caught up, or at the next chunk
		}
		if elapsed >= next || elapsed >= cfg.Duration {
			s, err := r.sample(elapsed)
			if err != nil {
				return summary, err
			}
			samples = append(samples, s)
			if err := emit(s); err != nil {
				return summary, err
			}
			next += cfg.Interval
			if elapsed >= cfg.Duration {
				break
			}
		}
		sleep(time.Millisecond)
	}
	return summarize(summary, samples), nil
}

func newPlateauStates(be backend.Keyed, cfg ttl.Config, list, mp bool) (*plateauStates, error) {
	kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
	if err != nil {
		return nil, err
	}
	p := &plateauStates{kb: kb}
	if p.v, err = state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "value", TTL: cfg}); err != nil {
		return nil, err
	}
	if list {
		if p.l, err = state.GetListState(kb, state.ListDescriptor[int64]{Name: "list", TTL: cfg}); err != nil {
			return nil, err
		}
	}
	if mp {
		if p.m, err = state.GetMapState(kb, state.MapDescriptor[int64, int64]{Name: "map", TTL: cfg}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// plateauRun is the bookkeeping of one RunPlateau.
type plateauRun struct {
	cfg     PlateauConfig
	be      backend.Keyed
	now     func() time.Time
	start   time.Time
	written int64
	// marks are (time, keys written before it) every millisecond's worth of keys, to count the keys
	// written less than a TTL ago; first is the oldest one still needed.
	marks []mark
	first int
	last  Sample
}

type mark struct {
	at      time.Duration
	written int64
}

// record notes that key k is being written now, for a millisecond's worth of keys at the
// rate (enough to count Live).
func (r *plateauRun) record(k int64) {
	if k%max(int64(r.cfg.Rate)/1000, 1) == 0 {
		r.marks = append(r.marks, mark{r.now().Sub(r.start), k})
	}
}

// live returns the keys written less than a TTL before elapsed, to the nearest mark.
func (r *plateauRun) live(elapsed time.Duration) int64 {
	for r.first < len(r.marks) && r.marks[r.first].at <= elapsed-r.cfg.TTL {
		r.first++
	}
	if r.first > len(r.marks)/2 { // drop what no later sample needs
		r.marks = append(r.marks[:0], r.marks[r.first:]...)
		r.first = 0
	}
	switch {
	case elapsed < r.cfg.TTL || len(r.marks) == 0:
		return r.written
	case r.first >= len(r.marks):
		return r.written - r.marks[len(r.marks)-1].written
	}
	return r.written - r.marks[r.first].written
}

// heapLiveMetric is the runtime/metrics name of the Go heap's live bytes.
const heapLiveMetric = "/gc/heap/live:bytes"

// pebbleMetrics is what the lsm backend exposes of its Pebble database.
type pebbleMetrics interface {
	Metrics() (*pebble.Metrics, bool)
}

func (r *plateauRun) sample(elapsed time.Duration) (Sample, error) {
	s := Sample{Backend: r.cfg.StateBackend.Name(), Elapsed: elapsed, Written: r.written, Live: r.live(elapsed), DiskBytes: -1}
	if d := (elapsed - r.last.Elapsed).Seconds(); d > 0 {
		s.KeysPerSec = float64(r.written-r.last.Written) / d
	}
	for _, err := range r.be.Keys("value", nil) {
		if err != nil {
			return s, fmt.Errorf("count the stored keys: %w", err)
		}
		s.Stored++
	}
	ms := []metrics.Sample{{Name: heapLiveMetric}}
	metrics.Read(ms)
	if ms[0].Value.Kind() == metrics.KindUint64 {
		s.HeapLive = ms[0].Value.Uint64()
	}
	if pm, ok := r.be.(pebbleMetrics); ok {
		if m, ok := pm.Metrics(); ok {
			s.DiskBytes = int64(m.DiskSpaceUsage())
		}
	}
	r.last = s
	return s, nil
}

// summarize compares the maxima of the last third of samples with the middle third's.
func summarize(s PlateauSummary, samples []Sample) PlateauSummary {
	s.Samples = len(samples)
	n := len(samples)
	maxOf := func(ss []Sample) Sample {
		m := Sample{DiskBytes: -1}
		for _, x := range ss {
			m.Written = max(m.Written, x.Written)
			m.Live = max(m.Live, x.Live)
			m.Stored = max(m.Stored, x.Stored)
			m.HeapLive = max(m.HeapLive, x.HeapLive)
			m.DiskBytes = max(m.DiskBytes, x.DiskBytes)
		}
		if len(ss) > 0 {
			m.Backend, m.Elapsed = ss[len(ss)-1].Backend, ss[len(ss)-1].Elapsed
		}
		return m
	}
	s.Middle = maxOf(samples[n/3 : 2*n/3])
	s.Last = maxOf(samples[2*n/3:])
	return s
}

package bench

import (
	"runtime"
	"slices"
	"time"
)

// meter calibrates and times operations.
type meter struct {
	duration   time.Duration // per operation and side, over all rounds
	iterations int           // per round; 0: calibrate to duration
	rounds     int
	off        int // next position in the sequences
}

// run is the measurement of one side of one operation.
type run struct {
	n       int
	elapsed time.Duration
	allocs  uint64
	bytes   uint64
}

func (r run) nsPerOp() float64 { return float64(r.elapsed.Nanoseconds()) / float64(r.n) }

// side sums the rounds of one side and picks their median.
type side struct{ runs []run }

func (s *side) n() (n int) {
	for _, r := range s.runs {
		n += r.n
	}
	return n
}

func (s *side) perOp(field func(run) uint64) float64 {
	var sum uint64
	for _, r := range s.runs {
		sum += field(r)
	}
	return float64(sum) / float64(s.n())
}

// nsPerOp returns the median and minimum ns/op of the rounds.
func (s *side) nsPerOp() (median, lowest float64) {
	ns := make([]float64, len(s.runs))
	for i, r := range s.runs {
		ns[i] = r.nsPerOp()
	}
	slices.Sort(ns)
	if len(ns)%2 == 1 {
		return ns[len(ns)/2], ns[0]
	}
	return (ns[len(ns)/2-1] + ns[len(ns)/2]) / 2, ns[0]
}

// compare measures op on the backend and on the baseline in alternating rounds, each after a
// garbage collection, so that a change of machine load hits both sides alike. It reports the
// median round of each side.
func (m *meter) compare(f *Fixture, op Op) (Result, error) {
	var n [2]int
	for i := range n {
		var err error
		if n[i], err = m.calibrate(f, op, i); err != nil {
			return Result{}, err
		}
	}
	var sides [2]side
	for range m.rounds {
		for i := range sides {
			runtime.GC()
			r, err := m.runN(f, op, i, n[i])
			if err != nil {
				return Result{}, err
			}
			r.n *= max(op.Per, 1)
			sides[i].runs = append(sides[i].runs, r)
		}
	}
	allocs := func(r run) uint64 { return r.allocs }
	bytes := func(r run) uint64 { return r.bytes }
	be, base := &sides[SideBackend], &sides[SideBaseline]
	res := Result{Op: op.Name, Rounds: m.rounds,
		AllocsPerOp: be.perOp(allocs), BytesPerOp: be.perOp(bytes), Iterations: be.n(),
		BaselineAllocsPerOp: base.perOp(allocs), BaselineBytesPerOp: base.perOp(bytes), BaselineIterations: base.n()}
	res.NsPerOp, res.MinNsPerOp = be.nsPerOp()
	res.BaselineNsPerOp, res.BaselineMinNsPerOp = base.nsPerOp()
	if res.BaselineNsPerOp > 0 {
		res.Ratio = res.NsPerOp / res.BaselineNsPerOp
	}
	return res, nil
}

// calibrate returns the number of iterations of one round: m.iterations if set, else as many
// as take m.duration/m.rounds. It grows n until a run takes a fifth of that goal and then
// predicts the goal's n, as testing.B does (at most 100x per step).
func (m *meter) calibrate(f *Fixture, op Op, side int) (int, error) {
	if m.iterations > 0 {
		return m.iterations, nil
	}
	goal := max(m.duration.Nanoseconds()/int64(m.rounds), 1)
	for n := 1; ; {
		r, err := m.runN(f, op, side, n)
		if err != nil {
			return 0, err
		}
		ns := max(r.elapsed.Nanoseconds(), 1)
		if ns >= goal/5 || n >= 1e9 {
			return int(min(max(int64(float64(goal)*float64(n)/float64(ns)), 1), 1e9)), nil
		}
		n = int(min(max(int64(1.2*float64(goal/5)*float64(n)/float64(ns)), int64(n)+1), 100*int64(n)))
	}
}

// runN times n operations, in batches of at most op.Batch with an untimed reset after each.
func (m *meter) runN(f *Fixture, op Op, side, n int) (run, error) {
	r := run{n: n}
	var before, after runtime.MemStats
	for done := 0; done < n; {
		k := n - done
		if op.reset != nil && op.Batch > 0 {
			k = min(k, op.Batch)
		}
		off := m.off
		runtime.ReadMemStats(&before)
		start := time.Now()
		err := f.Run(op, side, off, k)
		r.elapsed += time.Since(start)
		runtime.ReadMemStats(&after)
		r.allocs += after.Mallocs - before.Mallocs
		r.bytes += after.TotalAlloc - before.TotalAlloc
		if err == nil {
			err = f.Reset(op, side, off, k)
		}
		if err != nil {
			return r, err
		}
		m.off = (off + k) & seqMask
		done += k
	}
	return r, nil
}

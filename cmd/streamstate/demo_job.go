package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/stream"
)

// The demo job is a stream job: a generator source of payment events → keyBy account → the
// accounts process function, which keeps a running total (ValueState), the recent amounts
// (ListState) and per-merchant counts (MapState) of each account.
//
// Verification runs inside the job: after (or, on a restore, before) its payments a source
// split emits one check record per account of a round (demoRound); the process function
// compares the account's state with the round's model. A split holds every event of its
// accounts in order, so a check follows exactly the payments that came before it.

const (
	demoSource         = "payments"
	demoOperator       = "accounts"
	demoMaxParallelism = 128
	demoSplits         = 4
	demoRecent         = 5 // amounts kept per account in the "recent" list
	demoCheckpointAt   = 0.8
)

var demoMerchants = []string{"coffee", "books", "grocery", "fuel", "travel", "games", "music", "pharmacy"}

// demoEvent is one payment.
type demoEvent struct {
	account  string
	merchant string
	amount   int64 // cents
}

func generateEvents(seed uint64, n, accounts int) []demoEvent {
	r := rand.New(rand.NewPCG(seed, 0xde70))
	names := accountNames(accounts)
	evs := make([]demoEvent, n)
	for i := range evs {
		evs[i] = demoEvent{
			account:  names[r.IntN(accounts)],
			merchant: demoMerchants[r.IntN(len(demoMerchants))],
			amount:   1 + r.Int64N(50_000),
		}
	}
	return evs
}

func accountNames(accounts int) []string {
	names := make([]string, accounts)
	for i := range names {
		names[i] = fmt.Sprintf("acct-%05d", i)
	}
	return names
}

// demoSplitOf is the source split that holds account's events and checks.
func demoSplitOf(account string) int {
	h := fnv.New32a()
	h.Write([]byte(account))
	return int(h.Sum32() % demoSplits)
}

// demoAccount is what the job keeps per account; demoModel is the plain-map model of the
// whole state, updated alongside the real one.
type demoAccount struct {
	total     int64
	recent    []int64
	merchants map[string]int64
}

type demoModel map[string]*demoAccount

func (m demoModel) apply(ev demoEvent) {
	a := m[ev.account]
	if a == nil {
		a = &demoAccount{merchants: map[string]int64{}}
		m[ev.account] = a
	}
	a.total += ev.amount
	a.recent = append(a.recent, ev.amount)
	if len(a.recent) > demoRecent {
		a.recent = slices.Clone(a.recent[len(a.recent)-demoRecent:])
	}
	a.merchants[ev.merchant]++
}

func (m demoModel) clone() demoModel {
	c := make(demoModel, len(m))
	for k, a := range m {
		c[k] = &demoAccount{total: a.total, recent: slices.Clone(a.recent), merchants: maps.Clone(a.merchants)}
	}
	return c
}

// demoRound is one verification: every account of the model, and every account the
// generator may have written (universe), is checked against the model (absent when the model
// has no entry). The process function reports each check; done is closed after the last.
type demoRound struct {
	want    demoModel
	bySplit [demoSplits][]string

	mu      sync.Mutex
	checked int
	total   int
	bad     int
	errs    []error
	done    chan struct{}
}

func newDemoRound(want demoModel, universe []string) *demoRound {
	r := &demoRound{want: want, done: make(chan struct{})}
	keys := map[string]bool{}
	for _, k := range universe {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		s := demoSplitOf(k)
		r.bySplit[s] = append(r.bySplit[s], k)
	}
	r.total = len(keys)
	if r.total == 0 {
		close(r.done)
	}
	return r
}

// report records the outcome of one check.
func (r *demoRound) report(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checked == r.total {
		return // a check emitted again after a restore: the first outcome counts
	}
	if err != nil {
		if r.bad++; r.bad <= 5 {
			r.errs = append(r.errs, err)
		}
	}
	if r.checked++; r.checked == r.total {
		close(r.done)
	}
}

// result returns how many keys of the model were verified, or why the verification failed.
// Call it after done is closed.
func (r *demoRound) result() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad > 0 {
		return 0, fmt.Errorf("verification failed for %d of %d accounts: %w", r.bad, r.total, errors.Join(r.errs...))
	}
	return len(r.want), nil
}

// demoRecord is what the source emits: a payment, or (round set) a check of one account.
type demoRecord struct {
	ev    demoEvent
	round *demoRound
}

func (r demoRecord) account() string { return r.ev.account }

// demoGate holds the source splits at a position until a checkpoint's synchronous phase ran
// on the accounts operator, so that the checkpoint holds exactly the events before it and
// the events after it are processed during its asynchronous phase.
type demoGate struct {
	at      []int // per split: the position where the split waits
	arrived atomic.Int32
	all     chan struct{} // closed when every split waits at its position
	once    sync.Once
	opened  chan struct{}
	openAt  atomic.Int64 // unix nanoseconds
}

func newDemoGate(at []int) *demoGate {
	return &demoGate{at: at, all: make(chan struct{}), opened: make(chan struct{})}
}

func (g *demoGate) arrive() {
	if g.arrived.Add(1) == int32(len(g.at)) {
		close(g.all)
	}
}

func (g *demoGate) open() {
	g.once.Do(func() {
		g.openAt.Store(time.Now().UnixNano())
		close(g.opened)
	})
}

// demoSourceSpec is the job's generator source: splits[s] are the events of split s in order.
// A reader opened at pos first emits the checks of the rounds in before, then the events from
// pos (held at the gate, if any), then the checks of after; then it ends (Done) unless endless,
// when it waits for the job to be stopped. Its position counts events only.
type demoSourceSpec struct {
	splits        [demoSplits][]demoEvent
	gate          *demoGate
	before, after []*demoRound
	endless       bool
}

func newDemoSourceSpec(events []demoEvent) *demoSourceSpec {
	s := &demoSourceSpec{}
	for _, ev := range events {
		i := demoSplitOf(ev.account)
		s.splits[i] = append(s.splits[i], ev)
	}
	return s
}

// splitPositions returns, per split, how many of its events come before events[:n].
func splitPositions(events []demoEvent, n int) []int {
	pos := make([]int, demoSplits)
	for _, ev := range events[:n] {
		pos[demoSplitOf(ev.account)]++
	}
	return pos
}

// NumSplits implements stream.Source.
func (s *demoSourceSpec) NumSplits() int { return demoSplits }

// OpenSplit implements stream.Source.
func (s *demoSourceSpec) OpenSplit(split int, pos int64) (stream.SplitReader[demoRecord], error) {
	if pos > int64(len(s.splits[split])) {
		return nil, fmt.Errorf("split %d has %d events; cannot resume at %d", split, len(s.splits[split]), pos)
	}
	r := &demoReader{spec: s, split: split, pos: int(pos)}
	r.queue(s.before)
	return r, nil
}

type demoReader struct {
	spec    *demoSourceSpec
	split   int
	pos     int
	checks  []demoRecord
	arrived bool // at the gate
	passed  bool // the gate
	ended   bool // the checks of after are queued
}

func (r *demoReader) queue(rounds []*demoRound) {
	for _, rd := range rounds {
		for _, acct := range rd.bySplit[r.split] {
			r.checks = append(r.checks, demoRecord{ev: demoEvent{account: acct}, round: rd})
		}
	}
}

// Next implements stream.SplitReader.
func (r *demoReader) Next() (demoRecord, int64, stream.ReadStatus, error) {
	if len(r.checks) > 0 {
		c := r.checks[0]
		r.checks = r.checks[1:]
		return c, stream.NoTimestamp, stream.Record, nil
	}
	events := r.spec.splits[r.split]
	if g := r.spec.gate; g != nil && !r.passed && r.pos == g.at[r.split] {
		if !r.arrived {
			r.arrived = true
			g.arrive()
		}
		select {
		case <-g.opened:
			r.passed = true
		default:
			return demoRecord{}, 0, stream.NoData, nil
		}
	}
	if r.pos < len(events) {
		r.pos++
		return demoRecord{ev: events[r.pos-1]}, stream.NoTimestamp, stream.Record, nil
	}
	if !r.ended {
		r.ended = true
		r.queue(r.spec.after)
		if len(r.checks) > 0 {
			return r.Next()
		}
	}
	if r.spec.endless {
		return demoRecord{}, 0, stream.NoData, nil
	}
	return demoRecord{}, 0, stream.Done, nil
}

// Position implements stream.SplitReader.
func (r *demoReader) Position() int64 { return int64(r.pos) }

// accountsFn is the accounts operator's process function. It is also a
// state.CheckpointedFunction without operator state: its snapshot opens the gate.
type accountsFn struct {
	gate      *demoGate
	processed *atomic.Int64 // payments processed by every subtask
	subtask   int
	total     state.ValueState[int64]
	recent    state.ListState[int64]
	merchants state.MapState[string, int64]
}

// Open implements stream.KeyedProcessFunction.
func (f *accountsFn) Open(ctx *stream.RuntimeContext[string]) (err error) {
	f.subtask, _ = ctx.Subtask()
	if f.total, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int64]{Name: "total"}); err != nil {
		return err
	}
	if f.recent, err = state.GetListState(ctx.State(), state.ListDescriptor[int64]{Name: "recent"}); err != nil {
		return err
	}
	f.merchants, err = state.GetMapState(ctx.State(), state.MapDescriptor[string, int64]{Name: "merchants"})
	return err
}

// ProcessElement implements stream.KeyedProcessFunction.
func (f *accountsFn) ProcessElement(r demoRecord, _ *stream.Context[string, struct{}]) error {
	if r.round != nil {
		if err := f.check(r.round.want[r.ev.account]); err != nil {
			r.round.report(fmt.Errorf("account %s (subtask %d): %w", r.ev.account, f.subtask, err))
		} else {
			r.round.report(nil)
		}
		return nil
	}
	if err := f.apply(r.ev); err != nil {
		return fmt.Errorf("account %s: %w", r.ev.account, err)
	}
	f.processed.Add(1)
	return nil
}

// OnTimer implements stream.KeyedProcessFunction; the job registers no timers.
func (f *accountsFn) OnTimer(int64, *stream.Context[string, struct{}]) error { return nil }

// InitializeState implements state.CheckpointedFunction; the function has no operator state.
func (f *accountsFn) InitializeState(state.FunctionInitializationContext) error { return nil }

// SnapshotState implements state.CheckpointedFunction: the synchronous phase of a snapshot
// has begun on this subtask, so the sources have emitted its barrier; they may go on.
func (f *accountsFn) SnapshotState(state.FunctionSnapshotContext) error {
	if f.gate != nil {
		f.gate.open()
	}
	return nil
}

// apply applies one payment to the current key's state.
func (f *accountsFn) apply(ev demoEvent) error {
	total, _, err := f.total.Value()
	if err != nil {
		return err
	}
	if err := f.total.Update(total + ev.amount); err != nil {
		return err
	}
	recent, err := f.recentAmounts()
	if err != nil {
		return err
	}
	if len(recent) < demoRecent {
		err = f.recent.Add(ev.amount)
	} else {
		err = f.recent.Update(append(recent[len(recent)-demoRecent+1:], ev.amount))
	}
	if err != nil {
		return err
	}
	n, _, err := f.merchants.Get(ev.merchant)
	if err != nil {
		return err
	}
	return f.merchants.Put(ev.merchant, n+1)
}

func (f *accountsFn) recentAmounts() ([]int64, error) {
	var recent []int64
	for v, err := range f.recent.Get() {
		if err != nil {
			return nil, err
		}
		recent = append(recent, v)
	}
	return recent, nil
}

// check compares the current key's state with a (nil: the account must have no state).
func (f *accountsFn) check(a *demoAccount) error {
	total, ok, err := f.total.Value()
	if err != nil {
		return err
	}
	recent, err := f.recentAmounts()
	if err != nil {
		return err
	}
	merchants := map[string]int64{}
	for e, err := range f.merchants.All() {
		if err != nil {
			return err
		}
		merchants[e.Key] = e.Value
	}
	if a == nil {
		if ok || len(recent) > 0 || len(merchants) > 0 {
			return fmt.Errorf("holds state (total %d, recent %v, merchants %v) of an account that was never written", total, recent, merchants)
		}
		return nil
	}
	if !ok || total != a.total {
		return fmt.Errorf("total is %d (present: %v), want %d", total, ok, a.total)
	}
	if !slices.Equal(recent, a.recent) {
		return fmt.Errorf("recent amounts are %v, want %v", recent, a.recent)
	}
	if !maps.Equal(merchants, a.merchants) {
		return fmt.Errorf("merchant counts are %v, want %v", merchants, a.merchants)
	}
	return nil
}

// demoGraph is the demo job over src: source → keyBy account → accounts.
func demoGraph(src *demoSourceSpec, processed *atomic.Int64) *stream.Graph {
	g := stream.NewGraph()
	recs := stream.FromSource(g, demoSource, stream.Source[demoRecord](src), stream.WatermarkStrategy{})
	keyed := stream.KeyBy(recs, demoRecord.account, serde.Serializer[string](serde.String{}))
	stream.Process(keyed, demoOperator, func() stream.KeyedProcessFunction[string, demoRecord, struct{}] {
		return &accountsFn{gate: src.gate, processed: processed}
	})
	return g
}

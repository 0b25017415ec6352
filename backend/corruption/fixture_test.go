package corruption_test

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// The fixture: a job of one operator "op" at parallelism 2 whose subtasks hold keyed state
// (a value and a map state), event-time timers and operator state (split list, union list and
// broadcast state), written through the real backends into real checkpoint storage on
// file://, while a model (a plain Go map) records what every checkpoint must hold.

const (
	maxP     = 128
	parallel = 2
	numKeys  = 48
	opID     = "op"
	jobID    = "job"
	// rounds of writes, one checkpoint after each (the savepoint kind takes one savepoint
	// after the last).
	rounds = 3
)

var (
	valueDesc = state.ValueDescriptor[string]{Name: "v"}
	mapDesc   = state.MapDescriptor[string, int64]{Name: "m"}
	splitDesc = state.ListDescriptor[string]{Name: "split"}
	unionDesc = state.ListDescriptor[string]{Name: "union"}
	bcastDesc = state.MapDescriptor[string, int64]{Name: "bcast"}
)

const timersName = "timers"

// kind is one kind of checkpoint of the matrix.
type kind struct {
	name string
	// writer creates the keyed backends the snapshots are taken of; restorer those the
	// snapshots are restored into (another backend for the canonical savepoint).
	writer, restorer backendFactory
	snap             backend.SnapshotOptions
	savepoint        bool
}

// backendFactory creates a keyed backend; dir is a fresh directory for working files.
type backendFactory func(ctx context.Context, opts backend.Options, dir string) (backend.Keyed, error)

func heapBackend(ctx context.Context, opts backend.Options, _ string) (backend.Keyed, error) {
	return heap.New(ctx, opts)
}

func lsmBackend(incremental bool, timers lsm.TimerServiceFactory) backendFactory {
	return func(ctx context.Context, opts backend.Options, dir string) (backend.Keyed, error) {
		return lsm.New(ctx, lsm.Options{Options: opts, Dir: dir, Incremental: incremental, TimerService: timers,
			// Small memory: the matrix opens hundreds of backends.
			BlockCacheSize: 1 << 20, WriteBufferSize: 1 << 20, WriteBufferCount: 2, TransferConcurrency: 2,
			// No compactions: each checkpoint adds an SST and keeps the older ones, so the
			// newest checkpoint shares SSTs with one and with two older checkpoints.
			OptionsHook: func(o *pebble.Options) { o.DisableAutomaticCompactions = true }})
	}
}

// kinds are the checkpoint kinds of issue 17's matrix: hashmap full, lsm full (timers in the
// database, so in the snapshot file), lsm incremental (heap timers, so in the extra timers
// file), and a canonical savepoint written by the lsm backend and restored into the hashmap
// backend.
func kinds() []kind {
	return []kind{
		{name: "hashmap-full", writer: heapBackend, restorer: heapBackend},
		{name: "lsm-full", writer: lsmBackend(false, lsm.TimerServiceLSM), restorer: lsmBackend(false, lsm.TimerServiceLSM)},
		{name: "lsm-incremental", writer: lsmBackend(true, lsm.TimerServiceHeap), restorer: lsmBackend(true, lsm.TimerServiceHeap)},
		{name: "savepoint-canonical", writer: lsmBackend(true, lsm.TimerServiceLSM), restorer: heapBackend,
			snap: backend.SnapshotOptions{Savepoint: true, Compression: snapshot.CompressionSnappy}, savepoint: true},
	}
}

// dump is the complete state of the job in a comparable form: "v/<key>", "m/<key>/<user key>",
// "t/<subtask>/<timestamp>/<key hex>/<namespace>", "split/<subtask>", "union/<subtask>",
// "bcast/<subtask>/<key>".
type dump map[string]string

// diff describes how got differs from want (at most 8 entries).
func diff(want, got dump) string {
	var lines []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			lines = append(lines, fmt.Sprintf("missing %s=%q", k, w))
		} else if g != w {
			lines = append(lines, fmt.Sprintf("%s=%q, want %q", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, fmt.Sprintf("extra %s=%q", k, g))
		}
	}
	slices.Sort(lines)
	if len(lines) > 8 {
		lines = append(lines[:8], fmt.Sprintf("... %d differences in all", len(lines)))
	}
	return strings.Join(lines, "; ")
}

// subtask is one subtask of the job: its keyed and operator backends and states.
type subtask struct {
	kb     *state.KeyedBackend[int64]
	v      state.ValueState[string]
	m      state.MapState[string, int64]
	timers backend.TimerQueue
	ob     *operator.Backend
	split  state.OperatorListState[string]
	union  state.OperatorListState[string]
	bcast  state.BroadcastState[string, int64]
}

func (s *subtask) close() {
	if s.kb != nil {
		s.kb.Backend().Close()
	}
	if s.ob != nil {
		s.ob.Close()
	}
}

// open creates (restore == nil) or restores the job's subtasks and registers their states.
func open(ctx context.Context, f backendFactory, dirs func() string, restore *snapshot.OperatorState, r snapshot.Reader) ([]*subtask, error) {
	subs := make([]*subtask, 0, parallel)
	fail := func(err error) ([]*subtask, error) {
		for _, s := range subs {
			s.close()
		}
		return nil, err
	}
	for i := range parallel {
		s := &subtask{}
		subs = append(subs, s)
		opts := backend.Options{OperatorID: opID, MaxParallelism: maxP, KeyGroupRange: keygroup.RangeFor(maxP, parallel, i),
			KeySerializerID: serde.Int64{}.ID()}
		oopts := operator.Options{OperatorID: opID, SubtaskIndex: i, Parallelism: parallel}
		if restore != nil {
			opts.Restore, opts.Reader = restore.Keyed, r
			oopts.Restore, oopts.Reader = restore.Operator, r
		}
		b, err := f(ctx, opts, dirs())
		if err != nil {
			return fail(fmt.Errorf("subtask %d: keyed backend: %w", i, err))
		}
		if s.kb, err = state.NewKeyedBackend[int64](b, serde.Int64{}); err != nil {
			b.Close()
			return fail(err)
		}
		if s.v, err = state.GetValueState(s.kb, valueDesc); err != nil {
			return fail(err)
		}
		if s.m, err = state.GetMapState(s.kb, mapDesc); err != nil {
			return fail(err)
		}
		if s.timers, err = b.CreateTimerQueue(timersName); err != nil {
			return fail(err)
		}
		if s.ob, err = operator.New(ctx, oopts); err != nil {
			return fail(fmt.Errorf("subtask %d: operator backend: %w", i, err))
		}
		if s.split, err = state.GetOperatorListState(s.ob, splitDesc); err != nil {
			return fail(err)
		}
		if s.union, err = state.GetUnionListState(s.ob, unionDesc); err != nil {
			return fail(err)
		}
		if s.bcast, err = state.GetBroadcastState(s.ob, bcastDesc); err != nil {
			return fail(err)
		}
	}
	return subs, nil
}

// read returns the subtasks' whole state. It drains the timer queues.
func read(subs []*subtask) (dump, error) {
	d := dump{}
	for k := range int64(numKeys) {
		s, err := route(subs, k)
		if err != nil {
			return nil, err
		}
		if err := s.kb.SetCurrentKey(k); err != nil {
			return nil, err
		}
		v, ok, err := s.v.Value()
		if err != nil {
			return nil, fmt.Errorf("read value of key %d: %w", k, err)
		}
		if ok {
			d[fmt.Sprintf("v/%d", k)] = v
		}
		for e, err := range s.m.All() {
			if err != nil {
				return nil, fmt.Errorf("read map of key %d: %w", k, err)
			}
			d[fmt.Sprintf("m/%d/%s", k, e.Key)] = fmt.Sprint(e.Value)
		}
	}
	for i, s := range subs {
		for {
			tm, _, ok, err := s.timers.Poll()
			if err != nil {
				return nil, fmt.Errorf("subtask %d: poll timers: %w", i, err)
			}
			if !ok {
				break
			}
			d[timerKey(i, tm)] = ""
		}
		var elems []string
		for e, err := range s.split.Get() {
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
		}
		d[fmt.Sprintf("split/%d", i)] = strings.Join(elems, ",")
		elems = elems[:0]
		for e, err := range s.union.Get() {
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
		}
		d[fmt.Sprintf("union/%d", i)] = strings.Join(elems, ",")
		for e, err := range s.bcast.All() {
			if err != nil {
				return nil, err
			}
			d[fmt.Sprintf("bcast/%d/%s", i, e.Key)] = fmt.Sprint(e.Value)
		}
	}
	return d, nil
}

func timerKey(subtask int, tm backend.Timer) string {
	return fmt.Sprintf("t/%d/%d/%s/%s", subtask, tm.Timestamp, hex.EncodeToString(tm.Key), tm.Namespace)
}

func route(subs []*subtask, k int64) (*subtask, error) {
	kg, err := subs[0].kb.KeyGroupOf(k)
	if err != nil {
		return nil, err
	}
	return subs[keygroup.OperatorIndex(maxP, parallel, kg)], nil
}

// writer drives the subtasks with random writes and keeps the model of their state.
type writer struct {
	t      testing.TB
	rng    *rand.Rand
	subs   []*subtask
	model  dump
	timers map[string]timerRec // by timerKey
	// the operator lists in the model, per subtask (union as seen by the writing subtask)
	split, union [parallel][]string
}

type timerRec struct {
	sub int
	kg  int
	tm  backend.Timer
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// round makes one round of random writes of every kind of state, mirrored in the model.
func (w *writer) round(r int) {
	t := w.t
	for range 40 {
		k := w.rng.Int64N(numKeys)
		s, err := route(w.subs, k)
		must(t, err)
		must(t, s.kb.SetCurrentKey(k))
		switch op := w.rng.IntN(10); {
		case op < 4:
			v := fmt.Sprintf("r%d-%d", r, w.rng.IntN(1000))
			must(t, s.v.Update(v))
			w.model[fmt.Sprintf("v/%d", k)] = v
		case op < 5:
			must(t, s.v.Clear())
			delete(w.model, fmt.Sprintf("v/%d", k))
		case op < 8:
			uk, v := fmt.Sprintf("u%d", w.rng.IntN(5)), w.rng.Int64N(1e6)
			must(t, s.m.Put(uk, v))
			w.model[fmt.Sprintf("m/%d/%s", k, uk)] = fmt.Sprint(v)
		case op < 9:
			uk := fmt.Sprintf("u%d", w.rng.IntN(5))
			must(t, s.m.Remove(uk))
			delete(w.model, fmt.Sprintf("m/%d/%s", k, uk))
		default:
			key, kg, ok := s.kb.CurrentKeyBytes()
			if !ok {
				t.Fatal("no current key")
			}
			tm := backend.Timer{Timestamp: w.rng.Int64N(1e6), Key: slices.Clone(key), Namespace: fmt.Appendf(nil, "w%d", w.rng.IntN(3))}
			sub := slices.Index(w.subs, s)
			_, err := s.timers.Add(kg, tm)
			must(t, err)
			tk := timerKey(sub, tm)
			w.model[tk] = ""
			w.timers[tk] = timerRec{sub: sub, kg: kg, tm: tm}
		}
	}
	// Remove a few timers, the earliest ones so that the choice does not depend on map order.
	recs := make([]string, 0, len(w.timers))
	for k := range w.timers {
		recs = append(recs, k)
	}
	slices.SortFunc(recs, func(a, b string) int {
		return cmp.Or(cmp.Compare(w.timers[a].tm.Timestamp, w.timers[b].tm.Timestamp), strings.Compare(a, b))
	})
	for _, k := range recs[:min(2, len(recs))] {
		rec := w.timers[k]
		ok, err := w.subs[rec.sub].timers.Remove(rec.kg, rec.tm)
		must(t, err)
		if !ok {
			t.Fatalf("timer %s was not in the queue", k)
		}
		delete(w.timers, k)
		delete(w.model, k)
	}
	// Broadcast state is the same in every subtask (a restore reads one copy).
	uk, v := fmt.Sprintf("b%d", w.rng.IntN(3)), int64(r*1000+w.rng.IntN(1000))
	for i, s := range w.subs {
		e := fmt.Sprintf("r%d-s%d-%d", r, i, w.rng.IntN(1000))
		must(t, s.split.Add(e))
		w.split[i] = append(w.split[i], e)
		must(t, s.union.Add(e))
		w.union[i] = append(w.union[i], e)
		must(t, s.bcast.Put(uk, v))
		w.model[fmt.Sprintf("bcast/%d/%s", i, uk)] = fmt.Sprint(v)
	}
}

// expected returns the model's state as a restore at the same parallelism must read it.
func (w *writer) expected() dump {
	d := maps.Clone(w.model)
	var union []string
	for i := range parallel {
		union = append(union, w.union[i]...)
	}
	for i := range parallel {
		d[fmt.Sprintf("split/%d", i)] = strings.Join(w.split[i], ",")
		d[fmt.Sprintf("union/%d", i)] = strings.Join(union, ",")
	}
	return d
}

// snapshot takes a snapshot of every subtask into out (all synchronous phases first, then the
// asynchronous phases concurrently) and returns the operator's state for the metadata.
func takeSnapshot(ctx context.Context, t testing.TB, subs []*subtask, id int64, opts backend.SnapshotOptions, out snapshot.SharedStreamFactory) *snapshot.OperatorState {
	t.Helper()
	keyed := make([]backend.AsyncSnapshot, len(subs))
	ops := make([]backend.OperatorAsyncSnapshot, len(subs))
	var err error
	for i, s := range subs {
		keyed[i], err = s.kb.Backend().Snapshot(id, opts)
		must(t, err)
		ops[i], err = s.ob.Snapshot(id)
		must(t, err)
	}
	o := &snapshot.OperatorState{ID: opID, Parallelism: parallel, MaxParallelism: maxP,
		Keyed: make([]*snapshot.KeyedStateHandle, len(subs)), Operator: make([]*snapshot.OperatorStateHandle, len(subs))}
	errs := make([]error, 2*len(subs))
	var wg sync.WaitGroup
	for i := range subs {
		wg.Go(func() { o.Keyed[i], errs[2*i] = keyed[i].Run(ctx, out) })
		wg.Go(func() { o.Operator[i], errs[2*i+1] = ops[i].Run(ctx, out) })
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	return o
}

// notify tells the backends that checkpoint id completed (the lsm backend's incremental
// bookkeeping).
func notify(t testing.TB, subs []*subtask, id int64) {
	for _, s := range subs {
		must(t, s.kb.Backend().NotifyCheckpointComplete(id))
	}
}

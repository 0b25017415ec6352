package lsm_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// ttlEnv opens lsm backends on one manual clock and checkpoints them into one job.
type ttlEnv struct {
	t           testing.TB
	j           *job
	now         atomic.Int64
	clock       *backend.Clock
	incremental bool
	logs        *bytes.Buffer
	nextID      int64
}

func newTTLEnv(t testing.TB, incremental bool) *ttlEnv {
	e := &ttlEnv{t: t, j: newJob(t, 5), incremental: incremental, logs: &bytes.Buffer{}}
	e.now.Store(1_000_000)
	e.clock = &backend.Clock{ProcessingTime: e.now.Load}
	return e
}

func (e *ttlEnv) open(restore *snapshot.KeyedStateHandle, opts lsm.Options) (*lsm.Backend, *state.KeyedBackend[int64]) {
	e.t.Helper()
	opts.Options = backend.Options{OperatorID: "op", MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1},
		KeySerializerID: serde.Int64{}.ID(), Reader: e.j.cps.Reader(), Clock: e.clock}
	if restore != nil {
		opts.Restore = []*snapshot.KeyedStateHandle{restore}
	}
	opts.Dir = e.t.TempDir()
	opts.Incremental = e.incremental
	opts.WriteBufferSize = 1 << 20
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	b, err := lsm.New(context.Background(), opts)
	must(e.t, err)
	e.t.Cleanup(func() { b.Close() })
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(e.t, err)
	return b, kb
}

func (e *ttlEnv) checkpoint(b *lsm.Backend) *snapshot.KeyedStateHandle {
	e.nextID++
	return e.j.checkpoint(e.t, b, e.nextID, true)
}

// The states of TestRewriteAcrossRestore, registered with TTL cfg and value serializer of type V.
type rewriteStates[V any] struct {
	v state.ValueState[V]
	l state.ListState[V]
	m state.MapState[int64, V]
}

func getRewriteStates[V any](t *testing.T, kb *state.KeyedBackend[int64], cfg ttl.Config, mig *backend.Migration) rewriteStates[V] {
	t.Helper()
	var s rewriteStates[V]
	var err error
	s.v, err = state.GetValueState(kb, state.ValueDescriptor[V]{Name: "v", TTL: cfg, Migration: mig})
	must(t, err)
	s.l, err = state.GetListState(kb, state.ListDescriptor[V]{Name: "l", TTL: cfg, Migration: mig})
	must(t, err)
	s.m, err = state.GetMapState(kb, state.MapDescriptor[int64, V]{Name: "m", TTL: cfg, Migration: mig})
	must(t, err)
	return s
}

// checkAll reads every key of the three states and compares with want(k) (value, the two
// list elements and the two map values of key k); present false: everything is gone.
func checkAll[V comparable](t *testing.T, kb *state.KeyedBackend[int64], s rewriteStates[V], n, lists int, present bool, want func(int64) V) {
	t.Helper()
	for k := range int64(n) {
		must(t, kb.SetCurrentKey(k))
		v, ok, err := s.v.Value()
		must(t, err)
		if ok != present || (ok && v != want(k)) {
			t.Fatalf("value of key %d = %v, %v; want %v, %v", k, v, ok, want(k), present)
		}
		if k >= int64(lists) {
			continue
		}
		var l []V
		for x, err := range s.l.Get() {
			must(t, err)
			l = append(l, x)
		}
		if present && (len(l) != 2 || l[0] != want(k) || l[1] != want(k+1)) || !present && len(l) != 0 {
			t.Fatalf("list of key %d = %v; want [%v %v] present=%v", k, l, want(k), want(k+1), present)
		}
		for uk := k; uk < k+2; uk++ {
			v, ok, err := s.m.Get(uk)
			must(t, err)
			if ok != present || (ok && v != want(uk)) {
				t.Fatalf("map of key %d, entry %d = %v, %v; want %v, %v", k, uk, v, ok, want(uk), present)
			}
		}
	}
}

// TestRewriteAcrossRestore restores 50k keys of value state (and lists and maps of 5k keys)
// written without TTL into a backend that registers them with TTL (every value stamped with
// the time of the registration: all live, then all expired one TTL later), then with TTL
// switched off again (stamps dropped), then migrated from int64 to string with a Migration,
// from full and from incremental checkpoints, reading every value after each step.
func TestRewriteAcrossRestore(t *testing.T) {
	n, lists := 50_000, 5_000
	if raceEnabled {
		n, lists = 3_000, 500
	}
	for _, incremental := range []bool{false, true} {
		t.Run(fmt.Sprintf("incremental=%v", incremental), func(t *testing.T) {
			e := newTTLEnv(t, incremental)
			ident := func(k int64) int64 { return k * 3 }
			b, kb := e.open(nil, lsm.Options{})
			s := getRewriteStates[int64](t, kb, ttl.Config{}, nil)
			for k := range int64(n) {
				must(t, kb.SetCurrentKey(k))
				must(t, s.v.Update(ident(k)))
				if k < int64(lists) {
					must(t, s.l.AddAll([]int64{ident(k), ident(k + 1)}))
					must(t, s.m.Put(k, ident(k)))
					must(t, s.m.Put(k+1, ident(k+1)))
				}
			}
			h := e.checkpoint(b)
			must(t, b.Close())

			// TTL switched on: stamped with the registration's time.
			e.now.Add(1_000)
			cfg := ttl.Config{TTL: time.Hour}
			b, kb = e.open(h, lsm.Options{})
			s = getRewriteStates[int64](t, kb, cfg, nil)
			if !strings.Contains(e.logs.String(), fmt.Sprintf("entries=%d", n)) {
				t.Fatalf("the rewrite of %d values logged no count of them:\n%s", n, e.logs)
			}
			checkAll(t, kb, s, n, lists, true, ident)
			h = e.checkpoint(b)
			must(t, b.Close())

			// TTL switched off: the stamps go, nothing expires.
			e.now.Add(2 * time.Hour.Milliseconds())
			b, kb = e.open(h, lsm.Options{})
			s = getRewriteStates[int64](t, kb, ttl.Config{}, nil)
			checkAll(t, kb, s, n, lists, true, ident)
			h = e.checkpoint(b)
			must(t, b.Close())

			// Migrated to another type, with TTL switched on again.
			mig := state.MigrateFrom(serde.Of[int64](), func(v int64) (string, error) { return strconv.FormatInt(v, 10), nil })
			b, kb = e.open(h, lsm.Options{})
			ss := getRewriteStates[string](t, kb, cfg, mig)
			str := func(k int64) string { return strconv.FormatInt(ident(k), 10) }
			checkAll(t, kb, ss, n, lists, true, str)
			e.now.Add(time.Hour.Milliseconds())
			checkAll(t, kb, ss, n, lists, false, str)
			must(t, b.Close())

			// The same restore with TTL on, one TTL later: everything has expired.
			_, kb = e.open(h, lsm.Options{})
			ss = getRewriteStates[string](t, kb, cfg, mig)
			e.now.Add(time.Hour.Milliseconds())
			checkAll(t, kb, ss, n, lists, false, str)
		})
	}
}

// TestRewriteFailureNamesStateAndKeyGroup: a migration function that fails makes the
// registration fail, naming the state and the key group.
func TestRewriteFailureNamesStateAndKeyGroup(t *testing.T) {
	e := newTTLEnv(t, false)
	b, kb := e.open(nil, lsm.Options{})
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	must(t, kb.SetCurrentKey(7))
	must(t, v.Update(7))
	h := e.checkpoint(b)
	must(t, b.Close())
	_, kb = e.open(h, lsm.Options{})
	mig := state.MigrateFrom(serde.Of[int64](), func(int64) (string, error) { return "", fmt.Errorf("no luck") })
	_, err = state.GetValueState(kb, state.ValueDescriptor[string]{Name: "v", Migration: mig})
	kg, err2 := kb.KeyGroupOf(7)
	must(t, err2)
	if err == nil || !strings.Contains(err.Error(), `"v"`) || !strings.Contains(err.Error(), fmt.Sprintf("key group %d", kg)) || !strings.Contains(err.Error(), "no luck") {
		t.Fatalf("err = %v; want one naming state \"v\", key group %d and the function's error", err, kg)
	}
}

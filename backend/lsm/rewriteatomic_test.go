package lsm_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// payload is the migrated value type of the rewrite tests.
type payload struct {
	S string
	N int
}

// bigValue is the value of key k: 1 KiB, so that a few thousand keys exceed a rewrite batch.
func bigValue(k int64) string { return fmt.Sprintf("%08d", k) + strings.Repeat("x", 1016) }

// readEvery reads every key below n of value state v and compares with want(k).
func readEvery[V comparable](t *testing.T, kb *state.KeyedBackend[int64], v state.ValueState[V], n int, want func(int64) V) {
	t.Helper()
	for k := range int64(n) {
		must(t, kb.SetCurrentKey(k))
		got, ok, err := v.Value()
		if err != nil || !ok || got != want(k) {
			t.Fatalf("key %d = %.20v..., %v, %v; want %.20v...", k, got, ok, err, want(k))
		}
	}
}

// TestRewriteFailureLeavesStateAsItWas: a migration of 5 MiB of values (more than one batch
// of the rewrite) whose function fails near the end makes the registration fail, and leaves
// the state as it was: registered again with its recorded descriptor it reads every value,
// and no partial copy is left in the database. A migration that succeeds afterwards switches
// the state over to the rewritten values, which incremental and full checkpoints then carry.
func TestRewriteFailureLeavesStateAsItWas(t *testing.T) {
	n := 5_000 // 5 MiB of values: the rewrite commits at 4 MiB
	for _, incremental := range []bool{true, false} {
		t.Run(fmt.Sprintf("incremental=%v", incremental), func(t *testing.T) {
			e := newTTLEnv(t, incremental)
			b, kb := e.open(nil, lsm.Options{})
			v, err := state.GetValueState(kb, state.ValueDescriptor[string]{Name: "v"})
			must(t, err)
			for k := range int64(n) {
				must(t, kb.SetCurrentKey(k))
				must(t, v.Update(bigValue(k)))
			}
			h := e.checkpoint(b)
			must(t, b.Close())

			calls := 0
			failing := state.MigrateFrom(serde.Of[string](), func(s string) (payload, error) {
				if calls++; calls == n-3 {
					return payload{}, errors.New("no luck")
				}
				return payload{S: s, N: len(s)}, nil
			})
			b, kb = e.open(h, lsm.Options{})
			_, err = state.GetValueState(kb, state.ValueDescriptor[payload]{Name: "v", Migration: failing})
			if err == nil || !strings.Contains(err.Error(), "no luck") || !strings.Contains(err.Error(), `"v"`) {
				t.Fatalf("registration with a failing migration: err = %v; want one naming state \"v\" and the function's error", err)
			}
			if errors.Is(err, snapshot.ErrCorrupt) {
				t.Fatalf("a failing migration function is not corruption: %v", err)
			}
			if calls != n-3 {
				t.Fatalf("the migration ran %d times; want it to stop at the failure (%d)", calls, n-3)
			}
			if got := countEntries(t, b); got != n {
				t.Fatalf("%d entries stored after the failed rewrite; want the %d recorded ones only", got, n)
			}
			v, err = state.GetValueState(kb, state.ValueDescriptor[string]{Name: "v"})
			must(t, err)
			readEvery(t, kb, v, n, bigValue)
			h = e.checkpoint(b)
			must(t, b.Close())

			// The same migration succeeding: the state switches over.
			ok := state.MigrateFrom(serde.Of[string](), func(s string) (payload, error) { return payload{S: s, N: len(s)}, nil })
			want := func(k int64) payload { return payload{S: bigValue(k), N: 1024} }
			b, kb = e.open(h, lsm.Options{})
			p, err := state.GetValueState(kb, state.ValueDescriptor[payload]{Name: "v", Migration: ok})
			must(t, err)
			readEvery(t, kb, p, n, want)
			if got := countEntries(t, b); got != n {
				t.Fatalf("%d entries stored after the rewrite; want %d (the old ones deleted)", got, n)
			}
			h = e.checkpoint(b)
			must(t, b.Close())
			b, kb = e.open(h, lsm.Options{})
			p, err = state.GetValueState(kb, state.ValueDescriptor[payload]{Name: "v"})
			must(t, err)
			readEvery(t, kb, p, n, want)
			if got := countEntries(t, b); got != n {
				t.Fatalf("%d entries restored after the rewrite; want %d", got, n)
			}
		})
	}
}

// corruptStored restores h into a new backend and overwrites every stored entry of the
// (only) state with bad, before the state is registered.
func corruptStored(t *testing.T, e *ttlEnv, h *snapshot.KeyedStateHandle, bad []byte) (*lsm.Backend, *state.KeyedBackend[int64]) {
	t.Helper()
	b, kb := e.open(h, lsm.Options{TTLCleanupRate: -1})
	db := committed(t, b)
	lo, hi := span(0, maxP-1)
	it, err := db.NewIter(nil)
	must(t, err)
	it.SetBounds(lo, hi)
	var keys [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	must(t, it.Close())
	for _, k := range keys {
		must(t, db.Set(k, bad, pebble.NoSync))
	}
	return b, kb
}

// TestRewriteCorruptionErrors: stored bytes that do not decode make a registration rewrite
// fail with an error wrapping snapshot.ErrCorrupt that names the state and the key group: a
// TTL value without its stamp, a list value that does not split, and a value the migration's
// serializer cannot decode.
func TestRewriteCorruptionErrors(t *testing.T) {
	hour := ttl.Config{TTL: time.Hour}
	check := func(t *testing.T, err error, wantCorrupt bool, kg int) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), `"v"`) || !strings.Contains(err.Error(), fmt.Sprintf("key group %d", kg)) {
			t.Fatalf("err = %v; want one naming state \"v\" and key group %d", err, kg)
		}
		if errors.Is(err, snapshot.ErrCorrupt) != wantCorrupt {
			t.Fatalf("err = %v; wraps snapshot.ErrCorrupt: %v, want %v", err, !wantCorrupt, wantCorrupt)
		}
	}
	t.Run("value without stamp", func(t *testing.T) {
		e := newTTLEnv(t, true)
		b, kb := e.open(nil, lsm.Options{})
		v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: hour})
		must(t, err)
		must(t, kb.SetCurrentKey(7))
		must(t, v.Update(7))
		h := e.checkpoint(b)
		must(t, b.Close())
		_, kb = corruptStored(t, e, h, []byte{1, 2, 3})
		_, err = state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"}) // TTL off: stamps dropped
		kg, kerr := kb.KeyGroupOf(7)
		must(t, kerr)
		check(t, err, true, kg)
	})
	t.Run("list that does not split", func(t *testing.T) {
		e := newTTLEnv(t, true)
		b, kb := e.open(nil, lsm.Options{})
		l, err := state.GetListState(kb, state.ListDescriptor[int64]{Name: "v"})
		must(t, err)
		must(t, kb.SetCurrentKey(7))
		must(t, l.Add(7))
		h := e.checkpoint(b)
		must(t, b.Close())
		_, kb = corruptStored(t, e, h, []byte{0xff})
		_, err = state.GetListState(kb, state.ListDescriptor[int64]{Name: "v", TTL: hour}) // TTL on: stamps added
		kg, kerr := kb.KeyGroupOf(7)
		must(t, kerr)
		check(t, err, true, kg)
	})
	t.Run("value the migration cannot decode", func(t *testing.T) {
		e := newTTLEnv(t, true)
		b, kb := e.open(nil, lsm.Options{})
		v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
		must(t, err)
		must(t, kb.SetCurrentKey(7))
		must(t, v.Update(7))
		h := e.checkpoint(b)
		must(t, b.Close())
		bad := []byte{1, 2, 3} // not an int64
		_, kb = corruptStored(t, e, h, bad)
		mig := state.MigrateFrom(serde.Of[int64](), func(x int64) (payload, error) { return payload{N: int(x)}, nil })
		_, err = state.GetValueState(kb, state.ValueDescriptor[payload]{Name: "v", Migration: mig})
		kg, kerr := kb.KeyGroupOf(7)
		must(t, kerr)
		check(t, err, true, kg)
	})
}

package operator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

var (
	splitA = state.ListDescriptor[string]{Name: "split-a"}
	splitB = state.ListDescriptor[string]{Name: "split-b"}
	union  = state.ListDescriptor[string]{Name: "union"}
	rules  = state.MapDescriptor[string, int64]{Name: "rules"}
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustGet[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		must(t, err)
		return v
	}
}

func list[V any](t testing.TB, s state.OperatorListState[V]) []V {
	t.Helper()
	var out []V
	for v, err := range s.Get() {
		must(t, err)
		out = append(out, v)
	}
	return out
}

func entries[K comparable, V any](t testing.TB, s state.BroadcastState[K, V]) map[K]V {
	t.Helper()
	out := map[K]V{}
	for e, err := range s.All() {
		must(t, err)
		out[e.Key] = e.Value
	}
	return out
}

// job is a job's checkpoint storage: checkpoints of one operator's subtasks go through the
// real checkpoint package (mem:// storage, Begin/Complete, Load).
type job struct {
	t   testing.TB
	ctx context.Context
	st  checkpoint.Storage
	cps *checkpoint.Checkpoints
	id  int64
}

func newJob(t testing.TB) *job {
	ctx := context.Background()
	st := mustGet[checkpoint.Storage](t)(blobstore.OpenURL(ctx, "mem://"))
	cps := mustGet[*checkpoint.Checkpoints](t)(checkpoint.Open(ctx, st, "job", checkpoint.Options{NumRetained: 10}))
	return &job{t: t, ctx: ctx, st: st, cps: cps}
}

// checkpoint snapshots every subtask, completes a checkpoint, and returns its loaded metadata.
func (j *job) checkpoint(subs []*operator.Backend) *snapshot.Metadata {
	j.t.Helper()
	j.id++
	p := mustGet[*checkpoint.Pending](j.t)(j.cps.Begin(j.id))
	var hs []*snapshot.OperatorStateHandle
	for _, b := range subs {
		snap := mustGet[backend.OperatorAsyncSnapshot](j.t)(b.Snapshot(j.id))
		hs = append(hs, mustGet[*snapshot.OperatorStateHandle](j.t)(snap.Run(j.ctx, p)))
	}
	must(j.t, p.Complete(j.ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
		ID: "op", Parallelism: len(subs), MaxParallelism: 128, Operator: hs}}}))
	return mustGet[*snapshot.Metadata](j.t)(j.cps.Load(j.ctx, j.id))
}

// restore creates q subtasks from the operator state of md.
func (j *job) restore(md *snapshot.Metadata, q int, opts operator.Options) ([]*operator.Backend, error) {
	var subs []*operator.Backend
	for i := range q {
		o := opts
		o.OperatorID, o.SubtaskIndex, o.Parallelism = "op", i, q
		o.Restore, o.Reader = md.Operator("op").Operator, j.cps.Reader()
		b, err := operator.New(j.ctx, o)
		if err != nil {
			return nil, err
		}
		subs = append(subs, b)
	}
	return subs, nil
}

func fresh(t testing.TB, p int) []*operator.Backend {
	var subs []*operator.Backend
	for i := range p {
		subs = append(subs, mustGet[*operator.Backend](t)(operator.New(context.Background(), operator.Options{OperatorID: "op", SubtaskIndex: i, Parallelism: p})))
	}
	return subs
}

func TestListStates(t *testing.T) {
	b := fresh(t, 1)[0]
	for name, get := range map[string]func(state.OperatorStateStore, state.ListDescriptor[string]) (state.OperatorListState[string], error){
		"split": state.GetOperatorListState[string], "union": state.GetUnionListState[string],
	} {
		s := mustGet[state.OperatorListState[string]](t)(get(b, state.ListDescriptor[string]{Name: name}))
		if got := list(t, s); len(got) != 0 {
			t.Fatalf("new list %v", got)
		}
		must(t, s.Add("a"))
		must(t, s.AddAll([]string{"b", "c"}))
		must(t, s.AddAll(nil))
		if got := list(t, s); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("list %v", got)
		}
		again := mustGet[state.OperatorListState[string]](t)(get(b, state.ListDescriptor[string]{Name: name}))
		if got := list(t, again); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("same state through a second registration: %v", got)
		}
		vs := []string{"x", "y"}
		must(t, s.Update(vs))
		vs[0] = "changed" // Update copies the slice (not the values)
		if got := list(t, s); !slices.Equal(got, []string{"x", "y"}) {
			t.Fatalf("after Update: %v", got)
		}
		must(t, s.Update(nil))
		if got := list(t, s); len(got) != 0 {
			t.Fatalf("after Update(nil): %v", got)
		}
		must(t, s.Add("z"))
		must(t, s.Clear())
		if got := list(t, s); len(got) != 0 {
			t.Fatalf("after Clear: %v", got)
		}
	}
}

func TestBroadcastState(t *testing.T) {
	b := fresh(t, 1)[0]
	s := mustGet[state.BroadcastState[string, int64]](t)(state.GetBroadcastState(b, rules))
	if empty := mustGet[bool](t)(s.IsEmpty()); !empty {
		t.Fatal("new broadcast state not empty")
	}
	must(t, s.Put("a", 1))
	must(t, s.PutAll(map[string]int64{"b": 2, "c": 3}))
	must(t, s.Put("a", 10))
	if v, ok, err := s.Get("a"); v != 10 || !ok || err != nil {
		t.Fatalf("Get(a) = %d, %v, %v", v, ok, err)
	}
	if v, ok, err := s.Get("zz"); v != 0 || ok || err != nil {
		t.Fatalf("Get(zz) = %d, %v, %v", v, ok, err)
	}
	must(t, s.Remove("b"))
	must(t, s.Remove("absent"))
	if ok := mustGet[bool](t)(s.Contains("b")); ok {
		t.Fatal("removed key still there")
	}
	if got := entries(t, s); !maps.Equal(got, map[string]int64{"a": 10, "c": 3}) {
		t.Fatalf("entries %v", got)
	}
	var keys []string
	for k, err := range s.Keys() {
		must(t, err)
		keys = append(keys, k)
	}
	var sum int64
	for v, err := range s.Values() {
		must(t, err)
		sum += v
	}
	if slices.Sort(keys); !slices.Equal(keys, []string{"a", "c"}) || sum != 13 {
		t.Fatalf("keys %v, sum of values %d", keys, sum)
	}
	must(t, s.Clear())
	if empty := mustGet[bool](t)(s.IsEmpty()); !empty {
		t.Fatal("not empty after Clear")
	}
}

func TestRegistrationConflicts(t *testing.T) {
	b := fresh(t, 1)[0]
	mustGet[state.OperatorListState[string]](t)(state.GetOperatorListState(b, splitA))
	mustGet[state.BroadcastState[string, int64]](t)(state.GetBroadcastState(b, rules))
	for name, err := range map[string]error{
		"split as union":     second(state.GetUnionListState(b, splitA)),
		"split as broadcast": second(state.GetBroadcastState(b, state.MapDescriptor[string, string]{Name: splitA.Name})),
		"broadcast as split": second(state.GetOperatorListState(b, state.ListDescriptor[int64]{Name: rules.Name})),
	} {
		if !errors.Is(err, backend.ErrStateConflict) {
			t.Errorf("%s: %v, want ErrStateConflict", name, err)
		}
	}
	_, err := state.GetOperatorListState(b, state.ListDescriptor[int64]{Name: splitA.Name})
	if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), `"int64"`) || !strings.Contains(err.Error(), `"string"`) {
		t.Errorf("other element serializer: %v", err)
	}
	_, err = state.GetBroadcastState(b, state.MapDescriptor[int64, int64]{Name: rules.Name})
	if !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Errorf("other key serializer: %v", err)
	}
	// The erased API checks kinds too.
	if _, err := b.GetListState(state.MapDescriptor[string, int64]{Name: "m"}.Spec()); !errors.Is(err, backend.ErrStateConflict) {
		t.Errorf("map spec as list: %v", err)
	}
	if _, err := state.GetUnionListState(b, state.ListDescriptor[string]{}); err == nil {
		t.Error("empty name accepted")
	}
}

func second[T any](_ T, err error) error { return err }

func TestClosed(t *testing.T) {
	b := fresh(t, 1)[0]
	s := mustGet[state.OperatorListState[string]](t)(state.GetOperatorListState(b, splitA))
	must(t, b.Close())
	if err := s.Add("x"); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Add after Close: %v", err)
	}
	if _, err := b.Snapshot(1); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Snapshot after Close: %v", err)
	}
	if _, err := state.GetUnionListState(b, union); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("register after Close: %v", err)
	}
}

func TestOptions(t *testing.T) {
	_, err := operator.New(context.Background(), operator.Options{Parallelism: 2, SubtaskIndex: 2,
		Restore: []*snapshot.OperatorStateHandle{{}}})
	if err == nil || !strings.Contains(err.Error(), "subtask index 2") || !strings.Contains(err.Error(), "Reader") {
		t.Errorf("every violation at once: %v", err)
	}
	if _, err := operator.New(context.Background(), operator.Options{}); err == nil {
		t.Error("parallelism 0 accepted")
	}
}

// fill gives old subtask i of p the states of the redistribution tests: split-a and split-b
// with per-subtask element counts, union with i+1 elements, and the same broadcast map.
func fill(t testing.TB, subs []*operator.Backend, countsA, countsB []int) {
	for i, b := range subs {
		a := mustGet[state.OperatorListState[string]](t)(state.GetOperatorListState(b, splitA))
		bb := mustGet[state.OperatorListState[string]](t)(state.GetOperatorListState(b, splitB))
		u := mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(b, union))
		r := mustGet[state.BroadcastState[string, int64]](t)(state.GetBroadcastState(b, rules))
		for j := range countsA[i] {
			must(t, a.Add(fmt.Sprintf("a%d.%d", i, j)))
		}
		for j := range countsB[i] {
			must(t, bb.Add(fmt.Sprintf("b%d.%d", i, j)))
		}
		for j := range i + 1 {
			must(t, u.Add(fmt.Sprintf("u%d.%d", i, j)))
		}
		must(t, r.PutAll(map[string]int64{"max": 10, "min": 1}))
	}
}

type subtaskState struct {
	a, b, u []string
	rules   map[string]int64
}

func read(t testing.TB, b *operator.Backend) subtaskState {
	return subtaskState{
		a:     list(t, mustGet[state.OperatorListState[string]](t)(state.GetOperatorListState(b, splitA))),
		b:     list(t, mustGet[state.OperatorListState[string]](t)(state.GetOperatorListState(b, splitB))),
		u:     list(t, mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(b, union))),
		rules: entries(t, mustGet[state.BroadcastState[string, int64]](t)(state.GetBroadcastState(b, rules))),
	}
}

func TestRedistribution(t *testing.T) {
	for _, tc := range []struct {
		name           string
		countsA        []int
		countsB        []int
		wantA, wantB   [][]string
		wantU          []string
		newParallelism int
	}{{
		// 7 elements of split-a to 3: chunks 3, 2, 2 starting at subtask 0. split-b starts
		// where split-a's extra elements stopped (subtask 1): chunks 2, 1, 1 for 1, 2, 0.
		name: "1to3", countsA: []int{7}, countsB: []int{4}, newParallelism: 3,
		wantA: [][]string{{"a0.0", "a0.1", "a0.2"}, {"a0.3", "a0.4"}, {"a0.5", "a0.6"}},
		wantB: [][]string{{"b0.3"}, {"b0.0", "b0.1"}, {"b0.2"}},
		wantU: []string{"u0.0"},
	}, {
		// split-a: 3+1+3 = 7 to 2: 4, 3. split-b: 0+2+1 = 3 to 2, starting at subtask 1:
		// subtask 1 gets the first 2, subtask 0 the last one.
		name: "3to2", countsA: []int{3, 1, 3}, countsB: []int{0, 2, 1}, newParallelism: 2,
		wantA: [][]string{{"a0.0", "a0.1", "a0.2", "a1.0"}, {"a2.0", "a2.1", "a2.2"}},
		wantB: [][]string{{"b2.0"}, {"b1.0", "b1.1"}},
		wantU: []string{"u0.0", "u1.0", "u1.1", "u2.0", "u2.1", "u2.2"},
	}, {
		// Unchanged parallelism: every subtask gets its own lists back, however uneven.
		name: "2to2", countsA: []int{5, 0}, countsB: []int{1, 2}, newParallelism: 2,
		wantA: [][]string{{"a0.0", "a0.1", "a0.2", "a0.3", "a0.4"}, nil},
		wantB: [][]string{{"b0.0"}, {"b1.0", "b1.1"}},
		wantU: []string{"u0.0", "u1.0", "u1.1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			j := newJob(t)
			old := fresh(t, len(tc.countsA))
			fill(t, old, tc.countsA, tc.countsB)
			md := j.checkpoint(old)
			subs := mustGet[[]*operator.Backend](t)(j.restore(md, tc.newParallelism, operator.Options{}))
			var allA, allB []string
			for i, b := range subs {
				if !b.IsRestored() {
					t.Errorf("subtask %d: IsRestored false", i)
				}
				got := read(t, b)
				if !slices.Equal(got.a, tc.wantA[i]) || !slices.Equal(got.b, tc.wantB[i]) {
					t.Errorf("subtask %d: split-a %q split-b %q, want %q %q", i, got.a, got.b, tc.wantA[i], tc.wantB[i])
				}
				if !slices.Equal(got.u, tc.wantU) {
					t.Errorf("subtask %d: union %q, want %q", i, got.u, tc.wantU)
				}
				if !maps.Equal(got.rules, map[string]int64{"max": 10, "min": 1}) {
					t.Errorf("subtask %d: broadcast %v", i, got.rules)
				}
				allA, allB = append(allA, got.a...), append(allB, got.b...)
			}
			checkSplit(t, "split-a", tc.countsA, allA, "a")
			checkSplit(t, "split-b", tc.countsB, allB, "b")
		})
	}
}

// checkSplit checks that the split elements of all new subtasks are exactly the old ones: none
// lost, none duplicated.
func checkSplit(t *testing.T, name string, counts []int, got []string, prefix string) {
	t.Helper()
	var want []string
	for i, n := range counts {
		for j := range n {
			want = append(want, fmt.Sprintf("%s%d.%d", prefix, i, j))
		}
	}
	got = slices.Clone(got)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: the new subtasks hold %q, the old ones held %q", name, got, want)
	}
}

// TestRedistributionRandom rescales random split and union states between random
// parallelisms, several times in a row, against a model: split elements are neither lost nor
// duplicated and the chunks differ by at most one element; union gives everyone everything.
func TestRedistributionRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("OPERATOR_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (OPERATOR_SEED=%d reproduces)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 0))
	j := newJob(t)
	p := 1 + r.IntN(5)
	subs := fresh(t, p)
	var model []int64
	var unionModel []string
	next := int64(0)
	for round := range 6 {
		for _, b := range subs {
			s := mustGet[state.OperatorListState[int64]](t)(state.GetOperatorListState(b, state.ListDescriptor[int64]{Name: "s"}))
			u := mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(b, union))
			for range r.IntN(9) {
				must(t, s.Add(next))
				model = append(model, next)
				next++
			}
			if r.IntN(4) == 0 {
				must(t, u.Add(fmt.Sprint("u", next)))
				unionModel = append(unionModel, fmt.Sprint("u", next))
				next++
			}
		}
		md := j.checkpoint(subs)
		q := 1 + r.IntN(5)
		subs = mustGet[[]*operator.Backend](t)(j.restore(md, q, operator.Options{}))
		var all []int64
		sizes := map[int]bool{}
		for i, b := range subs {
			got := list(t, mustGet[state.OperatorListState[int64]](t)(state.GetOperatorListState(b, state.ListDescriptor[int64]{Name: "s"})))
			all = append(all, got...)
			sizes[len(got)] = true
			u := list(t, mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(b, union)))
			if slices.Sort(u); !slices.Equal(u, slices.Sorted(slices.Values(unionModel))) {
				t.Fatalf("round %d, %d->%d subtask %d: union %v, want %v", round, p, q, i, u, unionModel)
			}
		}
		slices.Sort(all)
		if !slices.Equal(all, model) {
			t.Fatalf("round %d, %d->%d: split elements %v, want %v", round, p, q, all, model)
		}
		if ks := slices.Sorted(maps.Keys(sizes)); q != p && ks[len(ks)-1]-ks[0] > 1 {
			t.Fatalf("round %d, %d->%d: uneven chunk sizes %v", round, p, q, ks)
		}
		// The union state was restored to every subtask: keep one copy in the model.
		for _, b := range subs[1:] {
			u := mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(b, union))
			must(t, u.Clear())
		}
		p = q
	}
}

func TestUnregisteredStatesCarriedForward(t *testing.T) {
	j := newJob(t)
	old := fresh(t, 2)
	fill(t, old, []int{2, 1}, []int{0, 3})
	md := j.checkpoint(old)
	// A run that registers nothing still snapshots every restored state.
	mid := mustGet[[]*operator.Backend](t)(j.restore(md, 3, operator.Options{}))
	md = j.checkpoint(mid)
	subs := mustGet[[]*operator.Backend](t)(j.restore(md, 1, operator.Options{}))
	got := read(t, subs[0])
	if !slices.Equal(got.a, []string{"a0.0", "a0.1", "a1.0"}) || !slices.Equal(got.b, []string{"b1.0", "b1.1", "b1.2"}) {
		t.Errorf("split states after 2->3->1: %q %q", got.a, got.b)
	}
	// Each of the 3 middle subtasks had the whole union state; it is now there 3 times.
	if len(got.u) != 9 || !maps.Equal(got.rules, map[string]int64{"max": 10, "min": 1}) {
		t.Errorf("union %q, broadcast %v", got.u, got.rules)
	}
}

func TestSavepointRoundTrip(t *testing.T) {
	ctx := context.Background()
	old := fresh(t, 3)
	fill(t, old, []int{1, 2, 3}, []int{1, 1, 1})
	st := mustGet[checkpoint.Storage](t)(blobstore.OpenURL(ctx, "mem://"))
	sp := checkpoint.BeginSavepoint(st)
	var hs []*snapshot.OperatorStateHandle
	for _, b := range old {
		snap := mustGet[backend.OperatorAsyncSnapshot](t)(b.Snapshot(1))
		hs = append(hs, mustGet[*snapshot.OperatorStateHandle](t)(snap.Run(ctx, sp)))
	}
	must(t, sp.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 3, MaxParallelism: 128, Operator: hs}}}))
	md, reader, err := checkpoint.LoadSavepoint(ctx, st)
	must(t, err)
	if !md.Savepoint {
		t.Error("not marked as a savepoint")
	}
	var all []string
	for i := range 2 {
		b := mustGet[*operator.Backend](t)(operator.New(ctx, operator.Options{OperatorID: "op", SubtaskIndex: i, Parallelism: 2,
			Restore: md.Operator("op").Operator, Reader: reader}))
		got := read(t, b)
		all = append(all, got.a...)
		if len(got.u) != 6 || len(got.rules) != 2 {
			t.Errorf("subtask %d: union %q, broadcast %v", i, got.u, got.rules)
		}
	}
	checkSplit(t, "split-a", []int{1, 2, 3}, all, "a")
}

func TestUnionSizeWarning(t *testing.T) {
	j := newJob(t)
	old := fresh(t, 2)
	for i, b := range old {
		u := mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(b, union))
		must(t, u.Add(strings.Repeat("x", 100+i)))
		small := mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(b, state.ListDescriptor[string]{Name: "small"}))
		must(t, small.Add("y"))
	}
	md := j.checkpoint(old)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	mustGet[[]*operator.Backend](t)(j.restore(md, 2, operator.Options{Logger: logger, UnionSizeWarningBytes: 150}))
	out := buf.String()
	if strings.Count(out, "level=WARN") != 2 || !strings.Contains(out, "state=union") || strings.Contains(out, "state=small") {
		t.Fatalf("want one warning per subtask naming state union, not small; log:\n%s", out)
	}
	if !strings.Contains(out, "bytes=") || !strings.Contains(out, "subtask=1") || !strings.Contains(out, "operator=op") {
		t.Errorf("warning without the size, subtask or operator: %s", out)
	}
	buf.Reset()
	mustGet[[]*operator.Backend](t)(j.restore(md, 2, operator.Options{Logger: logger}))
	mustGet[[]*operator.Backend](t)(j.restore(md, 2, operator.Options{Logger: logger, UnionSizeWarningBytes: -1}))
	if buf.Len() != 0 {
		t.Errorf("warning below the default limit or when disabled: %s", buf.String())
	}
}

func TestRestoreIncompatible(t *testing.T) {
	j := newJob(t)
	old := fresh(t, 1)
	fill(t, old, []int{1}, []int{1})
	md := j.checkpoint(old)
	b := mustGet[[]*operator.Backend](t)(j.restore(md, 1, operator.Options{}))[0]

	_, err := state.GetOperatorListState(b, state.ListDescriptor[int64]{Name: splitA.Name})
	if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), splitA.Name) ||
		!strings.Contains(err.Error(), `"string"`) || !strings.Contains(err.Error(), `"int64"`) {
		t.Errorf("restored with another serializer: %v", err)
	}
	_, err = state.GetBroadcastState(b, state.MapDescriptor[string, string]{Name: rules.Name})
	if !errors.Is(err, backend.ErrIncompatibleSerializer) || !strings.Contains(err.Error(), rules.Name) {
		t.Errorf("broadcast restored with another value serializer: %v", err)
	}
	for name, err := range map[string]error{
		"split as union":     second(state.GetUnionListState(b, splitA)),
		"union as split":     second(state.GetOperatorListState(b, union)),
		"broadcast as split": second(state.GetOperatorListState(b, state.ListDescriptor[int64]{Name: rules.Name})),
		"split as broadcast": second(state.GetBroadcastState(b, state.MapDescriptor[string, string]{Name: splitB.Name})),
	} {
		if !errors.Is(err, backend.ErrStateConflict) || !strings.Contains(err.Error(), "restored") {
			t.Errorf("%s: %v, want ErrStateConflict", name, err)
		}
	}
	// A failed registration leaves the restored state intact for the right descriptor.
	if got := read(t, b); !slices.Equal(got.a, []string{"a0.0"}) || len(got.rules) != 2 {
		t.Errorf("after failed registrations: %+v", got)
	}
}

// TestRestoreBadFiles: damaged, truncated or missing files fail the restore with ErrCorrupt
// or ErrMissing naming the file.
func TestRestoreBadFiles(t *testing.T) {
	j := newJob(t)
	old := fresh(t, 2)
	fill(t, old, []int{2, 2}, []int{1, 1})
	md := j.checkpoint(old)
	h := md.Operator("op").Operator[1]
	full := "job/" + h.File.Path
	good := mustGet[[]byte](t)(j.st.ReadRange(j.ctx, full, 0, -1))
	put := func(b []byte) {
		w := mustGet[checkpoint.Writer](t)(j.st.Create(j.ctx, full, false))
		_, err := w.Write(b)
		must(t, err)
		mustGet[int64](t)(w.Commit())
	}
	check := func(what string, sentinel error) {
		t.Helper()
		_, err := j.restore(md, 3, operator.Options{})
		if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), h.File.Path) {
			t.Errorf("%s: %v, want %v naming %s", what, err, sentinel, h.File.Path)
		}
	}
	bad := bytes.Clone(good)
	bad[len(bad)-10] ^= 1
	put(bad)
	check("flipped bit", snapshot.ErrCorrupt)
	put([]byte("STRMSTOX" + string(good[8:])))
	check("bad magic", snapshot.ErrCorrupt)
	put(good[:len(good)-3])
	check("truncated", snapshot.ErrMissing)
	must(t, j.st.Delete(j.ctx, full))
	check("deleted", snapshot.ErrMissing)
	if _, err := j.cps.Load(j.ctx, j.id); !errors.Is(err, snapshot.ErrMissing) {
		t.Errorf("Load of a checkpoint with a deleted operator state file: %v", err)
	}

	// Handles that do not belong together.
	hs := md.Operator("op").Operator
	dup := *hs[0]
	dup.File.Path += "-copy"
	for name, restore := range map[string][]*snapshot.OperatorStateHandle{
		"same subtask twice": {hs[0], &dup},
		"two parallelisms":   {hs[0], {Subtask: 0, Parallelism: 1, File: snapshot.FileRef{Path: "x", Size: 12}}},
	} {
		_, err := operator.New(j.ctx, operator.Options{Parallelism: 1, Restore: restore, Reader: j.cps.Reader()})
		if !errors.Is(err, snapshot.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSnapshotIsolation mutates every kind of state while the asynchronous phase runs (run
// with -race): the snapshot holds exactly the state of the synchronous point.
func TestSnapshotIsolation(t *testing.T) {
	j := newJob(t)
	b := fresh(t, 1)[0]
	s := mustGet[state.OperatorListState[int64]](t)(state.GetOperatorListState(b, state.ListDescriptor[int64]{Name: "s"}))
	u := mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(b, union))
	r := mustGet[state.BroadcastState[string, int64]](t)(state.GetBroadcastState(b, rules))
	var wantS []int64
	wantR := map[string]int64{}
	for i := range 1000 {
		must(t, s.Add(int64(i)))
		wantS = append(wantS, int64(i))
		must(t, r.Put(strconv.Itoa(i), int64(i)))
		wantR[strconv.Itoa(i)] = int64(i)
	}
	must(t, u.Update([]string{"x", "y"}))

	p := mustGet[*checkpoint.Pending](t)(j.cps.Begin(1))
	snap := mustGet[backend.OperatorAsyncSnapshot](t)(b.Snapshot(1))
	var h *snapshot.OperatorStateHandle
	var runErr error
	var wg sync.WaitGroup
	// The asynchronous phase starts writing only once the task has mutated every state, and
	// runs while it goes on mutating.
	gate := make(chan struct{})
	wg.Go(func() { h, runErr = snap.Run(j.ctx, gatedFactory{p, gate}) })
	for i := range 2000 {
		if i == 1000 {
			close(gate)
		}
		switch i % 5 {
		case 0:
			must(t, s.Add(-1))
		case 1:
			must(t, r.Put(strconv.Itoa(i%1000), -1))
		case 2:
			must(t, r.Remove(strconv.Itoa(i%1000+1)))
		case 3:
			must(t, u.Add("z"))
		case 4:
			if i%100 == 4 {
				must(t, s.Update([]int64{-2}))
				must(t, r.Clear())
				must(t, u.Clear())
			}
		}
	}
	wg.Wait()
	must(t, runErr)
	if _, err := snap.Run(j.ctx, p); err == nil {
		t.Error("second Run of a snapshot succeeded")
	}
	must(t, p.Complete(j.ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128,
		Operator: []*snapshot.OperatorStateHandle{h}}}}))
	md := mustGet[*snapshot.Metadata](t)(j.cps.Load(j.ctx, 1))
	got := mustGet[[]*operator.Backend](t)(j.restore(md, 1, operator.Options{}))[0]
	gotS := list(t, mustGet[state.OperatorListState[int64]](t)(state.GetOperatorListState(got, state.ListDescriptor[int64]{Name: "s"})))
	gotU := list(t, mustGet[state.OperatorListState[string]](t)(state.GetUnionListState(got, union)))
	gotR := entries(t, mustGet[state.BroadcastState[string, int64]](t)(state.GetBroadcastState(got, rules)))
	if !slices.Equal(gotS, wantS) || !slices.Equal(gotU, []string{"x", "y"}) || !maps.Equal(gotR, wantR) {
		t.Fatalf("snapshot does not hold the state of its synchronous phase: %d list elements, union %q, %d entries", len(gotS), gotU, len(gotR))
	}
}

func TestSnapshotRelease(t *testing.T) {
	j := newJob(t)
	b := fresh(t, 1)[0]
	snap := mustGet[backend.OperatorAsyncSnapshot](t)(b.Snapshot(1))
	snap.Release()
	p := mustGet[*checkpoint.Pending](t)(j.cps.Begin(1))
	if _, err := snap.Run(j.ctx, p); err == nil {
		t.Error("Run after Release succeeded")
	}
	// A backend without state writes nothing and returns no handle (as Flink does).
	snap = mustGet[backend.OperatorAsyncSnapshot](t)(b.Snapshot(1))
	if h := mustGet[*snapshot.OperatorStateHandle](t)(snap.Run(j.ctx, p)); h != nil {
		t.Errorf("a backend without state wrote %s", h.File.Path)
	}
	// A registered state, even empty, is written: its restore is a restore (IsRestored).
	mustGet[state.OperatorListState[int64]](t)(state.GetOperatorListState(b, state.ListDescriptor[int64]{Name: "s"}))
	snap = mustGet[backend.OperatorAsyncSnapshot](t)(b.Snapshot(1))
	h := mustGet[*snapshot.OperatorStateHandle](t)(snap.Run(j.ctx, p))
	if h == nil || len(h.States) != 1 || h.Validate() != nil {
		t.Fatalf("handle of an empty registered state %+v", h)
	}
}

// failingSerializer cannot encode: the asynchronous phase fails and names the state.
type failingSerializer struct{ serde.String }

func (failingSerializer) ID() string { return "failing" }
func (failingSerializer) Append([]byte, string) ([]byte, error) {
	return nil, errors.New("cannot encode")
}

func TestSnapshotSerializerError(t *testing.T) {
	j := newJob(t)
	b := fresh(t, 1)[0]
	s := mustGet[state.OperatorListState[string]](t)(state.GetOperatorListState(b, state.ListDescriptor[string]{Name: "bad", Serializer: failingSerializer{}}))
	must(t, s.Add("x"))
	p := mustGet[*checkpoint.Pending](t)(j.cps.Begin(1))
	snap := mustGet[backend.OperatorAsyncSnapshot](t)(b.Snapshot(1))
	if _, err := snap.Run(j.ctx, p); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("Run: %v, want an error naming the state", err)
	}
}

// gatedFactory creates files only once gate is closed.
type gatedFactory struct {
	snapshot.StreamFactory
	gate chan struct{}
}

func (f gatedFactory) Create(ctx context.Context, hint string) (snapshot.OutputStream, error) {
	<-f.gate
	return f.StreamFactory.Create(ctx, hint)
}

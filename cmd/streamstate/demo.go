package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// demoCmd is `streamstate demo`, the README's main job until the stream runtime exists. It
// runs with no flags and no server: payment events from a seeded generator update keyed state
// per account (a running total in ValueState, recent amounts in ListState, per-merchant counts
// in MapState) on 2 subtasks. It then
//
//  1. takes a checkpoint: the synchronous phase on the task, the asynchronous phase on other
//     goroutines while the task processes the rest of the events;
//  2. "fails", restores the latest checkpoint at parallelism 3 and checks that every account
//     holds exactly what it held at the checkpoint, then replays the events after it (the
//     source rewinds to the checkpoint) and checks every account against the full run;
//  3. takes a savepoint, restores it at parallelism 1 and checks every account again.
//
// Any difference, and any error, fails the command.
type demoCmd struct {
	Events      int    `default:"100000" help:"Number of payment events to generate."`
	Accounts    int    `default:"1000" help:"Number of accounts (keys) the events are spread over."`
	Seed        uint64 `default:"1" help:"Seed of the event generator."`
	Checkpoints string `default:"file://./checkpoints" help:"Checkpoint storage: a URL (file://DIR, relative to the current directory unless absolute; mem://; s3://bucket/prefix?...), a directory, or jobmanager."`
	JobID       string `name:"job-id" default:"demo" help:"Job id: checkpoints go to <checkpoints>/<job-id>/chk-<n>/."`
	Savepoint   string `help:"Savepoint directory (or storage URL); it must not hold a savepoint yet. Default: a new temporary directory."`
	Compression string `default:"snappy" enum:"snappy,none" help:"Compression of snapshot key-group blocks: snappy or none."`
	Backend     string `default:"hashmap" help:"State backend: ${backends}."`
}

const (
	demoOperator       = "accounts"
	demoMaxParallelism = 128
	demoRecent         = 5 // amounts kept per account in the "recent" list
	demoCheckpointAt   = 0.8
)

var demoMerchants = []string{"coffee", "books", "grocery", "fuel", "travel", "games", "music", "pharmacy"}

// Validate implements kong's validation hook.
func (c *demoCmd) Validate() error {
	var errs []error
	if c.Events < 1 {
		errs = append(errs, fmt.Errorf("--events must be at least 1, got %d", c.Events))
	}
	if c.Accounts < 1 {
		errs = append(errs, fmt.Errorf("--accounts must be at least 1, got %d", c.Accounts))
	}
	if c.Compression != "snappy" && c.Compression != "none" {
		errs = append(errs, fmt.Errorf("--compression must be snappy or none, got %q", c.Compression))
	}
	if b, err := canonicalBackend(c.Backend); err != nil {
		errs = append(errs, fmt.Errorf("--backend: %w", err))
	} else {
		c.Backend = b
	}
	if c.Checkpoints == "" {
		errs = append(errs, errors.New("--checkpoints must not be empty"))
	}
	return errors.Join(errs...)
}

// Run runs the demo job and reports what it did to e.Out.
func (c *demoCmd) Run(e *env) error {
	if err := c.Validate(); err != nil { // also when called without kong
		return err
	}
	ctx := e.Ctx
	out := e.Out
	comp := snapshot.CompressionNone
	if c.Compression == "snappy" {
		comp = snapshot.CompressionSnappy
	}

	st, err := openStorage(ctx, c.Checkpoints)
	if err != nil {
		return fmt.Errorf("checkpoint storage: %w", err)
	}
	defer st.Close()
	logger := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cps, err := checkpoint.Open(ctx, st, c.JobID, checkpoint.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("open checkpoints of job %s: %w", c.JobID, err)
	}

	events := generateEvents(c.Seed, c.Events, c.Accounts)
	cut := int(float64(len(events)) * demoCheckpointAt)
	fmt.Fprintf(out, "demo job %q: %d payment events over %d accounts (seed %d), %s state backend, max parallelism %d\n",
		c.JobID, len(events), c.Accounts, c.Seed, c.Backend, demoMaxParallelism)

	// Run at parallelism 2 up to the checkpoint.
	job, err := openDemoJob(ctx, c.Backend, 2, nil, nil)
	if err != nil {
		return err
	}
	defer func() { job.close() }()
	want := demoModel{}
	start := time.Now()
	for _, ev := range events[:cut] {
		if err := job.process(ev); err != nil {
			return err
		}
		want.apply(ev)
	}
	fmt.Fprintf(out, "processed %d events in %v on 2 subtasks (key groups %v): %d accounts in state\n",
		cut, since(start), job.ranges(), len(want))

	// Checkpoint; the task processes the remaining events during the asynchronous phase.
	atCheckpoint := want.clone()
	id, err := cps.NextID(ctx)
	if err != nil {
		return err
	}
	pending, err := cps.Begin(id)
	if err != nil {
		return err
	}
	res, err := job.snapshot(ctx, id, backend.SnapshotOptions{Compression: comp}, pending, func() error {
		for _, ev := range events[cut:] {
			if err := job.process(ev); err != nil {
				return err
			}
			want.apply(ev)
		}
		return nil
	})
	if err != nil {
		_ = pending.Abort(ctx)
		return fmt.Errorf("checkpoint %d: %w", id, err)
	}
	if err := pending.Complete(ctx, job.metadata(res.handles)); err != nil {
		return err
	}
	fmt.Fprintf(out, "checkpoint %d of job %s in %s: %s in %d files (compression %s); sync phase %v, async phase %v while %d more events were processed\n",
		id, c.JobID, st, formatBytes(res.bytes()), len(res.handles), c.Compression, res.sync, res.async, len(events)-cut)

	// "Fail", restore the latest checkpoint at parallelism 3, replay what came after it.
	job.close()
	var restoredID int64
	_, err = cps.Restore(ctx, func(m *snapshot.Metadata) error {
		op := m.Operator(demoOperator)
		if op == nil {
			return fmt.Errorf("checkpoint %d has no state for operator %s", m.CheckpointID, demoOperator)
		}
		j, err := openDemoJob(ctx, c.Backend, 3, op.Keyed, cps.Reader())
		if err != nil {
			return err
		}
		job, restoredID = j, m.CheckpointID
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore job %s: %w", c.JobID, err)
	}
	if restoredID != id {
		return fmt.Errorf("restore job %s: got checkpoint %d, want %d, which was just written (see the warnings above)", c.JobID, restoredID, id)
	}
	n, err := job.verify(atCheckpoint)
	if err != nil {
		return fmt.Errorf("after restoring checkpoint %d at parallelism 3: %w", id, err)
	}
	fmt.Fprintf(out, "restored checkpoint %d at parallelism 3 (rescale 2→3, key groups %v): verified %d keys as of the checkpoint\n",
		id, job.ranges(), n)
	for _, ev := range events[cut:] {
		if err := job.process(ev); err != nil {
			return err
		}
	}
	if n, err = job.verify(want); err != nil {
		return fmt.Errorf("after replaying the events since checkpoint %d: %w", id, err)
	}
	fmt.Fprintf(out, "replayed the %d events after the checkpoint: verified %d keys\n", len(events)-cut, n)

	// Savepoint, then restore it at parallelism 1.
	spURL := c.Savepoint
	if spURL == "" {
		if spURL, err = os.MkdirTemp("", "streamstate-savepoint-"+c.JobID+"-"); err != nil {
			return err
		}
	}
	spst, err := openStorage(ctx, spURL)
	if err != nil {
		return fmt.Errorf("savepoint storage: %w", err)
	}
	defer spst.Close()
	sp := checkpoint.BeginSavepoint(spst)
	res, err = job.snapshot(ctx, id+1, backend.SnapshotOptions{Compression: comp, Savepoint: true}, sp, nil)
	if err != nil {
		_ = sp.Abort(ctx)
		return fmt.Errorf("savepoint: %w", err)
	}
	meta := job.metadata(res.handles)
	meta.JobID, meta.CheckpointID = c.JobID, id+1
	if err := sp.Complete(ctx, meta); err != nil {
		return fmt.Errorf("savepoint in %s: %w", spst, err)
	}
	fmt.Fprintf(out, "savepoint in %s: %s in %d files; sync phase %v, async phase %v\n",
		spst, formatBytes(res.bytes()), len(res.handles), res.sync, res.async)
	job.close()

	m, reader, err := checkpoint.LoadSavepoint(ctx, spst)
	if err != nil {
		return fmt.Errorf("load savepoint: %w", err)
	}
	op := m.Operator(demoOperator)
	if op == nil {
		return fmt.Errorf("savepoint in %s has no state for operator %s", spst, demoOperator)
	}
	if job, err = openDemoJob(ctx, c.Backend, 1, op.Keyed, reader); err != nil {
		return fmt.Errorf("restore savepoint: %w", err)
	}
	if n, err = job.verify(want); err != nil {
		return fmt.Errorf("after restoring the savepoint at parallelism 1: %w", err)
	}
	fmt.Fprintf(out, "restored the savepoint at parallelism 1 (rescale 3→1): verified %d keys\n", n)
	fmt.Fprintf(out, "ok: rescaled 2→3→1 through checkpoint %d and a savepoint; every account matches\n", id)
	return nil
}

func since(t time.Time) time.Duration { return roundDuration(time.Since(t)) }

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond / 10)
}

// openStorage opens checkpoint or savepoint storage: "jobmanager", a storage URL, or a plain
// directory. A relative file:// URL (file://./dir, file://dir) or directory is taken
// relative to the current directory.
func openStorage(ctx context.Context, raw string) (checkpoint.Storage, error) {
	if raw == "jobmanager" {
		return blobstore.NewJobManagerStorage(0), nil
	}
	dir, query, isFile := "", "", false
	if rest, ok := strings.CutPrefix(raw, "file://"); ok {
		dir, query, _ = strings.Cut(rest, "?")
		isFile = !strings.HasPrefix(dir, "/")
	} else if !strings.Contains(raw, "://") {
		dir, isFile = raw, true
	}
	if isFile {
		abs, err := filepath.Abs(filepath.FromSlash(dir))
		if err != nil {
			return nil, err
		}
		raw = "file://" + filepath.ToSlash(abs)
		if query != "" {
			raw += "?" + query
		}
	}
	return blobstore.OpenURL(ctx, raw)
}

// demoEvent is one payment.
type demoEvent struct {
	account  string
	merchant string
	amount   int64 // cents
}

func generateEvents(seed uint64, n, accounts int) []demoEvent {
	r := rand.New(rand.NewPCG(seed, 0xde70))
	names := make([]string, accounts)
	for i := range names {
		names[i] = fmt.Sprintf("acct-%05d", i)
	}
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

// demoSubtask is one parallel instance of the accounts operator.
type demoSubtask struct {
	backend   backend.Keyed
	kb        *state.KeyedBackend[string]
	total     state.ValueState[int64]
	recent    state.ListState[int64]
	merchants state.MapState[string, int64]
}

func newDemoSubtask(be backend.Keyed) (*demoSubtask, error) {
	kb, err := state.NewKeyedBackend[string](be, serde.String{})
	if err != nil {
		return nil, err
	}
	t := &demoSubtask{backend: be, kb: kb}
	if t.total, err = state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "total"}); err != nil {
		return nil, err
	}
	if t.recent, err = state.GetListState(kb, state.ListDescriptor[int64]{Name: "recent"}); err != nil {
		return nil, err
	}
	if t.merchants, err = state.GetMapState(kb, state.MapDescriptor[string, int64]{Name: "merchants"}); err != nil {
		return nil, err
	}
	return t, nil
}

// process applies one event to the current key's state.
func (t *demoSubtask) process(ev demoEvent) error {
	if err := t.kb.SetCurrentKey(ev.account); err != nil {
		return err
	}
	total, _, err := t.total.Value()
	if err != nil {
		return err
	}
	if err := t.total.Update(total + ev.amount); err != nil {
		return err
	}
	var recent []int64
	for v, err := range t.recent.Get() {
		if err != nil {
			return err
		}
		recent = append(recent, v)
	}
	if len(recent) < demoRecent {
		err = t.recent.Add(ev.amount)
	} else {
		err = t.recent.Update(append(recent[len(recent)-demoRecent+1:], ev.amount))
	}
	if err != nil {
		return err
	}
	n, _, err := t.merchants.Get(ev.merchant)
	if err != nil {
		return err
	}
	return t.merchants.Put(ev.merchant, n+1)
}

// check compares the current key's state with a.
func (t *demoSubtask) check(a *demoAccount) error {
	total, ok, err := t.total.Value()
	if err != nil {
		return err
	}
	if !ok || total != a.total {
		return fmt.Errorf("total is %d (present: %v), want %d", total, ok, a.total)
	}
	var recent []int64
	for v, err := range t.recent.Get() {
		if err != nil {
			return err
		}
		recent = append(recent, v)
	}
	if !slices.Equal(recent, a.recent) {
		return fmt.Errorf("recent amounts are %v, want %v", recent, a.recent)
	}
	merchants := map[string]int64{}
	for e, err := range t.merchants.All() {
		if err != nil {
			return err
		}
		merchants[e.Key] = e.Value
	}
	if !maps.Equal(merchants, a.merchants) {
		return fmt.Errorf("merchant counts are %v, want %v", merchants, a.merchants)
	}
	return nil
}

// demoJob is the accounts operator at some parallelism.
type demoJob struct {
	tasks []*demoSubtask
}

// openDemoJob creates the subtasks of the operator at parallelism p, each owning its range of
// key groups, restored from handles (all subtasks' handles of the previous run) if given.
func openDemoJob(ctx context.Context, backendName string, p int, handles []*snapshot.KeyedStateHandle, r snapshot.Reader) (*demoJob, error) {
	if err := keygroup.Validate(demoMaxParallelism, p); err != nil {
		return nil, err
	}
	j := &demoJob{}
	for i := range p {
		be, err := newBackend(ctx, backendName, false, backend.Options{
			OperatorID:      fmt.Sprintf("%s-%d", demoOperator, i),
			MaxParallelism:  demoMaxParallelism,
			KeyGroupRange:   keygroup.RangeFor(demoMaxParallelism, p, i),
			KeySerializerID: serde.String{}.ID(),
			Restore:         handles,
			Reader:          r,
		})
		if err != nil {
			j.close()
			return nil, fmt.Errorf("subtask %d of %d: %w", i, p, err)
		}
		t, err := newDemoSubtask(be)
		if err != nil {
			_ = be.Close()
			j.close()
			return nil, fmt.Errorf("subtask %d of %d: %w", i, p, err)
		}
		j.tasks = append(j.tasks, t)
	}
	return j, nil
}

func (j *demoJob) close() {
	for _, t := range j.tasks {
		_ = t.backend.Close()
	}
	j.tasks = nil
}

func (j *demoJob) ranges() string {
	rs := make([]string, len(j.tasks))
	for i, t := range j.tasks {
		rs[i] = t.backend.KeyGroupRange().String()
	}
	return strings.Join(rs, " ")
}

// route returns the subtask that owns key, as keyBy does: by its key group.
func (j *demoJob) route(key string) (*demoSubtask, error) {
	kg, err := j.tasks[0].kb.KeyGroupOf(key)
	if err != nil {
		return nil, err
	}
	return j.tasks[keygroup.OperatorIndex(demoMaxParallelism, len(j.tasks), kg)], nil
}

func (j *demoJob) process(ev demoEvent) error {
	t, err := j.route(ev.account)
	if err != nil {
		return err
	}
	if err := t.process(ev); err != nil {
		return fmt.Errorf("account %s: %w", ev.account, err)
	}
	return nil
}

// verify checks that the job holds exactly the accounts of want, each with want's state, and
// returns how many keys it checked.
func (j *demoJob) verify(want demoModel) (int, error) {
	var errs []error
	bad := 0
	report := func(err error) {
		if bad++; bad <= 5 {
			errs = append(errs, err)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		t, err := j.route(key)
		if err != nil {
			return 0, err
		}
		if err := t.kb.SetCurrentKey(key); err != nil {
			return 0, err
		}
		if err := t.check(want[key]); err != nil {
			report(fmt.Errorf("account %s: %w", key, err))
		}
	}
	seen := 0
	for i, t := range j.tasks {
		for key, err := range t.kb.Keys("total", nil) {
			if err != nil {
				return 0, err
			}
			seen++
			if want[key] == nil {
				report(fmt.Errorf("subtask %d holds account %s, which was never written", i, key))
			} else if owner, _ := j.route(key); owner != t {
				report(fmt.Errorf("subtask %d holds account %s, which belongs to another subtask", i, key))
			}
		}
	}
	if seen != len(want) && bad == 0 {
		report(fmt.Errorf("the subtasks hold %d accounts, want %d", seen, len(want)))
	}
	if bad > 0 {
		return 0, fmt.Errorf("verification failed for %d of %d accounts: %w", bad, len(want), errors.Join(errs...))
	}
	return len(want), nil
}

// demoSnapshot is what a snapshot of every subtask produced.
type demoSnapshot struct {
	handles []*snapshot.KeyedStateHandle
	sync    time.Duration // sum of the subtasks' synchronous phases
	async   time.Duration // longest asynchronous phase
}

func (s demoSnapshot) bytes() int64 {
	var n int64
	for _, h := range s.handles {
		n += h.File.Size
	}
	return n
}

// snapshot runs the synchronous phase of every subtask on this goroutine (the task's), then
// the asynchronous phases on goroutines of their own, writing into out. Meanwhile the task
// goes on with during (if not nil).
func (j *demoJob) snapshot(ctx context.Context, id int64, opts backend.SnapshotOptions, out snapshot.StreamFactory, during func() error) (demoSnapshot, error) {
	var res demoSnapshot
	asyncs := make([]backend.AsyncSnapshot, 0, len(j.tasks))
	for i, t := range j.tasks {
		start := time.Now()
		a, err := t.backend.Snapshot(id, opts)
		res.sync += time.Since(start)
		if err != nil {
			for _, a := range asyncs {
				a.Release()
			}
			return res, fmt.Errorf("subtask %d: synchronous phase: %w", i, err)
		}
		asyncs = append(asyncs, a)
	}
	res.sync = roundDuration(res.sync)
	res.handles = make([]*snapshot.KeyedStateHandle, len(asyncs))
	errs := make([]error, len(asyncs)+1)
	took := make([]time.Duration, len(asyncs))
	var wg sync.WaitGroup
	for i, a := range asyncs {
		wg.Go(func() {
			start := time.Now()
			h, err := a.Run(ctx, out)
			took[i] = time.Since(start)
			if err != nil {
				errs[i] = fmt.Errorf("subtask %d: asynchronous phase: %w", i, err)
			}
			res.handles[i] = h
		})
	}
	if during != nil {
		errs[len(asyncs)] = during()
	}
	wg.Wait()
	// A subtask without state writes no handle.
	res.handles = slices.DeleteFunc(res.handles, func(h *snapshot.KeyedStateHandle) bool { return h == nil })
	res.async = roundDuration(slices.Max(took))
	return res, errors.Join(errs...)
}

// metadata is the checkpoint metadata of the operator's keyed state handles.
func (j *demoJob) metadata(handles []*snapshot.KeyedStateHandle) *snapshot.Metadata {
	return &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
		ID:             demoOperator,
		Parallelism:    len(j.tasks),
		MaxParallelism: demoMaxParallelism,
		Keyed:          handles,
	}}}
}

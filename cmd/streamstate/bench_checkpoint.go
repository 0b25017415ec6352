package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/cmd/streamstate/internal/bench"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// benchCheckpointCmd is `streamstate bench checkpoint`: how long checkpoints take and how
// many bytes they write, full or incremental, as state changes between them.
//
// One backend owning all key groups is loaded with --keys int64 keys, each with a
// --value-size byte value in one value state. Then, --checkpoints times, --change-percent of
// the keys (picked at random, with repetition) get a new value and a checkpoint is taken as
// a task would take it: the synchronous phase (Snapshot) on the calling goroutine, the
// asynchronous phase (AsyncSnapshot.Run) writing to the checkpoint storage, Complete (the
// metadata), and NotifyCheckpointComplete for backends that listen. Every object committed
// to the storage while one checkpoint is taken counts as written by it.
//
// On file:// storage, each checkpoint is followed by the disk baseline (--baseline, on by
// default): the same number of bytes written to one new file in the storage's directory in
// 1 MiB writes, then the file and the directory fsynced, which is what a durable write of
// those bytes costs. A checkpoint's write speed is its bytes over its asynchronous phase
// and completion; a file:// checkpoint is durable when it completes, so the baseline is the
// fair comparison, not a write to the page cache.
type benchCheckpointCmd struct {
	Backend       string  `default:"lsm" help:"State backend to measure: ${backends}."`
	Incremental   bool    `help:"Incremental checkpoints: lsm uploads only the files the last completed checkpoint does not reference, hashmap writes only the changes since it (a delta on its chain). Adds a full checkpoint of the same state and the restore times of both."`
	Keys          int     `default:"1000000" help:"Number of keys loaded before the first checkpoint."`
	ValueSize     int     `default:"100" help:"Bytes of every value."`
	ChangePercent float64 `default:"1" name:"change-percent" help:"Percentage of --keys updated before each checkpoint (keys picked at random)."`
	Checkpoints   int     `default:"5" help:"Number of checkpoints."`
	Retained      int     `default:"2" help:"Completed checkpoints kept in the storage (state.checkpoints.num-retained)."`
	Storage       string  `placeholder:"URL" help:"Checkpoint storage URL: file:///dir, mem://name, s3://bucket/prefix?... Default: a fresh temporary file:// directory, removed at the end."`
	JSON          bool    `name:"json" help:"Print one JSON object per checkpoint and line."`
	Baseline      bool    `default:"true" negatable:"" help:"On file:// storage, after each checkpoint write the same number of bytes to one file in the storage's directory and fsync it and the directory: the disk's durable write speed, to compare with the checkpoint's."`
	Seed          uint64  `default:"1" help:"Seed of the changed keys."`
	AfterRestore  bool    `name:"after-restore" help:"Then restore the last checkpoint in a new job, in no-claim and then in claim mode (execution.state-recovery.claim-mode), change as many keys and take that job's first checkpoint: what the first checkpoint after a restore writes in each mode. Incremental lsm only."`
}

// Validate implements kong's validation hook: it reports every bad flag at once.
func (c *benchCheckpointCmd) Validate() error {
	var errs []error
	if b, err := canonicalBackend(c.Backend); err != nil {
		errs = append(errs, fmt.Errorf("--backend: %w", err))
	} else {
		c.Backend = b
	}
	if c.Keys < 1 {
		errs = append(errs, fmt.Errorf("--keys must be at least 1, got %d", c.Keys))
	}
	if c.ValueSize < 8 {
		errs = append(errs, fmt.Errorf("--value-size must be at least 8, got %d", c.ValueSize))
	}
	if !(c.ChangePercent >= 0 && c.ChangePercent <= 100) {
		errs = append(errs, fmt.Errorf("--change-percent must be in [0, 100], got %v", c.ChangePercent))
	}
	if c.Checkpoints < 1 {
		errs = append(errs, fmt.Errorf("--checkpoints must be at least 1, got %d", c.Checkpoints))
	}
	if c.AfterRestore && !c.Incremental {
		errs = append(errs, fmt.Errorf("--after-restore compares the first incremental checkpoint after a claim and a no-claim restore; add --incremental"))
	}
	if c.Retained < 1 || c.Incremental && !c.AfterRestore && c.Retained < 2 {
		errs = append(errs, fmt.Errorf("--retained must be at least 1 (2 with --incremental without --after-restore: its last checkpoint is restored after a full one), got %d", c.Retained))
	}
	return errors.Join(errs...)
}

// benchCheckpointResult is one line of --json output: one checkpoint.
type benchCheckpointResult struct {
	Backend     string `json:"backend"`
	Incremental bool   `json:"incremental"`
	Checkpoint  int64  `json:"checkpoint"`
	// SyncMs is the synchronous phase (Snapshot), on the task's goroutine.
	SyncMs float64 `json:"sync_ms"`
	// AsyncMs is the asynchronous phase (AsyncSnapshot.Run): writing or uploading.
	AsyncMs float64 `json:"async_ms"`
	// CompleteMs is writing the metadata, retention and the completion notification.
	CompleteMs float64 `json:"complete_ms"`
	// BytesWritten and Objects are what was committed to the checkpoint storage for this
	// checkpoint, metadata included.
	BytesWritten int64 `json:"bytes_written"`
	Objects      int64 `json:"objects"`
	// Keys is the state's size, Changed the updates made since the previous checkpoint (0
	// before the first, which writes the loaded state).
	Keys    int `json:"keys"`
	Changed int `json:"changed"`
	// MBPerS is the checkpoint's write speed: BytesWritten (10^6 bytes) over AsyncMs plus
	// CompleteMs.
	MBPerS float64 `json:"mb_per_s"`
	// Chain is the number of handles of a hashmap incremental checkpoint's chain: 1 for a
	// base, 1 + n for a base and n deltas; absent for other checkpoints.
	Chain int `json:"chain,omitempty"`
	// Full marks the full checkpoint an --incremental run takes last, of the same state, as
	// the same run's baseline.
	Full bool `json:"full,omitempty"`
	// BaselineMBPerS is the disk baseline's speed right after this checkpoint: the same
	// number of bytes written to a new file in 1 MiB writes, the file and its directory
	// fsynced. Absent (0) unless the storage is file:// and --baseline is on.
	BaselineMBPerS float64 `json:"baseline_fsync_mb_per_s,omitempty"`
	// AfterRestore is "claim" or "no-claim" for the first checkpoint of a new job restored
	// from the last checkpoint in that mode, and "no" for the job's own next checkpoint after
	// the same change (--after-restore); RestoreMs is the restore.
	AfterRestore string  `json:"after_restore,omitempty"`
	RestoreMs    float64 `json:"restore_ms,omitempty"`
}

const benchCheckpointJob = "bench-checkpoint"

// Run runs the benchmark and writes its results to e.Out.
func (c *benchCheckpointCmd) Run(e *env) (err error) {
	if err := c.Validate(); err != nil { // also when called without kong
		return err
	}
	ctx := e.Ctx
	storageURL := c.Storage
	if storageURL == "" {
		dir, err := os.MkdirTemp("", "streamstate-bench-checkpoint-")
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
		storageURL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	}
	inner, err := blobstore.OpenURL(ctx, storageURL)
	if err != nil {
		return err
	}
	st := &countingStorage{Storage: inner}
	defer func() { err = errors.Join(err, st.Close()) }()
	retained := c.Retained
	if c.AfterRestore {
		retained++ // the last checkpoint outlives the one the job takes after it (afterRestore)
	}
	cps, err := checkpoint.Open(ctx, st, benchCheckpointJob, checkpoint.Options{NumRetained: retained})
	if err != nil {
		return err
	}
	// Continue after the checkpoints a given storage may already hold.
	done, err := cps.Completed(ctx)
	if err != nil {
		return err
	}
	var id int64
	if len(done) > 0 {
		id = slices.Max(done)
	}

	be, err := c.newBackend(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, be.Close()) }()
	kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
	if err != nil {
		return err
	}
	vs, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "value"})
	if err != nil {
		return err
	}
	val := make([]byte, c.ValueSize)
	start := time.Now()
	for k := range int64(c.Keys) {
		if err := preloadStep(ctx, k); err != nil {
			return err
		}
		if err := kb.SetCurrentKey(k); err != nil {
			return err
		}
		binary.BigEndian.PutUint64(val, uint64(k))
		if err := vs.Update(val); err != nil {
			return err
		}
	}
	load := time.Since(start)
	if !c.JSON {
		fmt.Fprintf(e.Out, "backend %s, %s checkpoints, %d keys of %d bytes (loaded in %v), %v%% changed between checkpoints, storage %s\n",
			c.Backend, c.mode(), c.Keys, c.ValueSize, load.Round(time.Millisecond), c.ChangePercent, st)
	}

	changed := int(float64(c.Keys) * c.ChangePercent / 100)
	rng := rand.New(rand.NewPCG(c.Seed, 0xc4e6))
	baselineDir := ""
	if c.Baseline {
		baselineDir = fileStorageDir(storageURL)
	}
	var results []benchCheckpointResult
	for i := range c.Checkpoints {
		n := 0
		if i > 0 {
			n = changed
			for j := range n {
				if err := preloadStep(ctx, int64(j)); err != nil {
					return err
				}
				k := rng.Int64N(int64(c.Keys))
				if err := kb.SetCurrentKey(k); err != nil {
					return err
				}
				binary.BigEndian.PutUint64(val, uint64(k))
				binary.BigEndian.PutUint64(val[len(val)-8:], uint64(i))
				if err := vs.Update(val); err != nil {
					return err
				}
			}
		}
		id++
		r, err := c.checkpointOnce(ctx, be, cps, st, id, backend.SnapshotOptions{})
		if err != nil {
			return fmt.Errorf("checkpoint %d: %w", id, err)
		}
		r.Keys, r.Changed = c.Keys, n
		if c.AfterRestore {
			if err := settle(ctx, be); err != nil {
				return err
			}
		}
		if baselineDir != "" {
			d, err := fsyncedWrite(baselineDir, r.BytesWritten)
			if err != nil {
				return fmt.Errorf("disk baseline after checkpoint %d (--no-baseline skips it): %w", id, err)
			}
			r.BaselineMBPerS = mbPerS(r.BytesWritten, d)
		}
		if c.JSON {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(e.Out, "%s\n", b); err != nil {
				return err
			}
		}
		results = append(results, r)
	}
	if c.AfterRestore {
		more, err := c.afterRestore(ctx, be, cps, st, id, changed)
		if err != nil {
			return err
		}
		for _, r := range more {
			if c.JSON {
				b, err := json.Marshal(r)
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintf(e.Out, "%s\n", b); err != nil {
					return err
				}
			}
		}
		results = append(results, more...)
	}
	// An --incremental run ends with a full checkpoint and the restore times (compareFull),
	// unless --after-restore measured restores instead.
	if !c.Incremental || c.AfterRestore {
		if c.JSON {
			return nil
		}
		return writeCheckpointTable(e.Out, results)
	}
	return c.compareFull(ctx, e, be, cps, st, id, results)
}

func (c *benchCheckpointCmd) mode() string {
	if c.Incremental {
		return "incremental"
	}
	return "full"
}

// newBackend creates the measured backend, owning all key groups.
func (c *benchCheckpointCmd) newBackend(ctx context.Context) (backend.Keyed, error) {
	return newBackend(ctx, c.Backend, c.Incremental, c.backendOptions())
}

// backendOptions are the options of the measured backend: all key groups, int64 keys.
func (c *benchCheckpointCmd) backendOptions() backend.Options {
	return backend.Options{
		OperatorID:      "bench-checkpoint",
		MaxParallelism:  bench.MaxParallelism,
		KeyGroupRange:   keygroup.RangeFor(bench.MaxParallelism, 1, 0),
		KeySerializerID: serde.Int64{}.ID(),
	}
}

// checkpointOnce takes checkpoint id as a task and its coordinator would, with the snapshot
// driver backend.SnapshotOperator: the synchronous phase here, the asynchronous one, the
// metadata, and the completion notification; on error the checkpoint is aborted and the
// backend told so.
func (c *benchCheckpointCmd) checkpointOnce(ctx context.Context, be backend.Keyed, cps *checkpoint.Checkpoints,
	st *countingStorage, id int64, opts backend.SnapshotOptions) (benchCheckpointResult, error) {
	r := benchCheckpointResult{Backend: c.Backend, Incremental: c.Incremental, Checkpoint: id}
	p, err := cps.Begin(id)
	if err != nil {
		return r, err
	}
	bytes0, objects0 := st.bytes.Load(), st.objects.Load()
	res, err := backend.SnapshotOperator(ctx, id, []backend.Keyed{be}, p, backend.SnapshotOperatorOptions{
		Snapshot: opts,
		Metadata: func(keyed []*snapshot.KeyedStateHandle) *snapshot.Metadata {
			return &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
				ID: benchCheckpointJob, Parallelism: 1, MaxParallelism: bench.MaxParallelism, Keyed: keyed,
			}}}
		},
	})
	if err != nil {
		return r, err
	}
	r.SyncMs, r.AsyncMs, r.CompleteMs = benchMs(res.Sync), benchMs(res.Async), benchMs(res.Complete)
	r.BytesWritten, r.Objects = st.bytes.Load()-bytes0, st.objects.Load()-objects0
	r.MBPerS = mbPerS(r.BytesWritten, res.Async+res.Complete)
	if h := res.Handles[0]; h != nil && h.Incremental != nil {
		r.Chain = len(h.Incremental.Chain)
	}
	return r, nil
}

// preloadStep checks every so many keys whether the run was canceled (Ctrl-C).
func preloadStep(ctx context.Context, k int64) error {
	if k&0xffff == 0 {
		return ctx.Err()
	}
	return nil
}

func benchMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// mbPerS is n bytes over d in 10^6 bytes per second (0 for no time).
func mbPerS(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / 1e6 / d.Seconds()
}

// fileStorageDir returns the directory of a file:// storage URL, or "" for another scheme.
// It reads the path as gocloud's fileblob does: file://./dir is relative to the working
// directory, file:///dir absolute.
func fileStorageDir(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "file" {
		return ""
	}
	p := u.Path
	if u.Host == "." {
		p = strings.TrimPrefix(p, "/")
	}
	return filepath.FromSlash(p)
}

// fsyncedWrite is the disk baseline: it writes n bytes to a new file in dir in 1 MiB writes,
// fsyncs the file and then dir (what makes a new file durable), removes the file, and
// returns how long the write and both fsyncs took.
func fsyncedWrite(dir string, n int64) (time.Duration, error) {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	start := time.Now()
	f, err := os.CreateTemp(dir, ".bench-baseline-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	for left := n; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	err = d.Sync()
	elapsed := time.Since(start)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return elapsed, err
}

func writeCheckpointTable(out io.Writer, rs []benchCheckpointResult) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "checkpoint\tchanged\tkind\tsync ms\tasync ms\tcomplete ms\tbytes written\tobjects\tMB/s\tfsync'd disk MB/s\t\n")
	for _, r := range rs {
		baseline := "-"
		if r.BaselineMBPerS > 0 {
			baseline = fmt.Sprintf("%.1f", r.BaselineMBPerS)
		}
		id := fmt.Sprint(r.Checkpoint)
		switch r.AfterRestore {
		case "":
		case "no":
			id += " (the job goes on)"
		default:
			id = fmt.Sprintf("%s after a %s restore (%.0f ms)", id, r.AfterRestore, r.RestoreMs)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%.1f\t%.1f\t%d\t%d\t%.1f\t%s\t\n", id, r.Changed, r.kind(), r.SyncMs, r.AsyncMs, r.CompleteMs, r.BytesWritten, r.Objects, r.MBPerS, baseline)
	}
	return tw.Flush()
}

// countingStorage counts the bytes and objects committed through it. Safe for concurrent
// use, as the asynchronous phase uploads in parallel.
type countingStorage struct {
	checkpoint.Storage
	bytes, objects atomic.Int64
}

func (s *countingStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	w, err := s.Storage.Create(ctx, name, ifNotExist)
	if err != nil {
		return nil, err
	}
	return &countingWriter{Writer: w, s: s}, nil
}

type countingWriter struct {
	checkpoint.Writer
	s         *countingStorage
	committed bool
}

func (w *countingWriter) Commit() (int64, error) {
	n, err := w.Writer.Commit()
	if err == nil && !w.committed {
		w.committed = true
		w.s.bytes.Add(n)
		w.s.objects.Add(1)
	}
	return n, err
}

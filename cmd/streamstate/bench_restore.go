package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/cmd/streamstate/internal/bench"
	"github.com/streamstate/streamstate/internal/units"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// benchRestoreCmd is `streamstate bench restore`: how fast a restore reads a checkpoint,
// next to the raw read rate of the same bytes from the same storage in the same run, and
// how much memory it takes.
//
// For each backend and state size, one backend owning all key groups is loaded with int64
// keys, each with a --value-size byte value (its key, big-endian, then random bytes, so
// nothing compresses) in one value state, and one checkpoint is written to each storage:
// hashmap a full canonical checkpoint, lsm an incremental one (its database files). Then,
// for each storage, in this order:
//
//   - raw: every file of the checkpoint read once, in 8 MiB ranged reads, --raw-concurrency
//     in flight across all files, bytes discarded: pread of the files for file:// (what dd
//     does), GETs through the storage client for other schemes (s3://: parallel ranged GETs);
//   - copy (lsm): the same reads, each chunk written to a local file in the temporary
//     directory, as the lsm restore writes what it downloads;
//   - restore: a keyed backend created from the checkpoint (verified, and for lsm the
//     database opened), in a child process of this binary (--isolate, the default), whose
//     peak RSS (VmHWM) is the restore's own; the child checks a few keys;
//   - with --local (the default), the checkpoint having been written with local recovery
//     (checkpoint.Options.LocalRecovery, a temporary local directory): the same restore
//     from the verified local copy (row local:<scheme>), timed against the remote one.
//
// On file:// storage with --drop-cache (the default), the checkpoint's files are dropped
// from the page cache (posix_fadvise DONTNEED, those files only) before the raw read and
// before the restore, so both read the disk.
type benchRestoreCmd struct {
	Backends       []string          `default:"hashmap,lsm" help:"State backends to measure: ${backends}. hashmap restores a full canonical checkpoint, lsm an incremental one."`
	Sizes          []string          `default:"100MB,1GB" help:"State sizes (keys × value size): 100MB, 1GB, ... or max (hashmap: a sixth of the available memory; lsm: the free disk of the temporary directory over the number of storages + 2)."`
	ValueSize      int               `default:"1000" help:"Bytes of every value."`
	Storage        []string          `placeholder:"URL" help:"Checkpoint storage URLs, each measured: file:///dir, s3://bucket/prefix?... Default: a fresh temporary file:// directory, removed at the end."`
	Isolate        bool              `default:"true" negatable:"" help:"Run each restore in a child process of this binary, whose peak RSS is the restore's own. --no-isolate restores in this process and reports no RSS."`
	DropCache      bool              `default:"true" negatable:"" help:"On file:// storage, drop the checkpoint's files from the page cache before each raw read and restore."`
	RawConcurrency int               `default:"16" help:"Ranged reads in flight in the raw read baseline (the lsm restore keeps up to 4 files × 4 reads in flight)."`
	Config         map[string]string `placeholder:"KEY=VALUE" help:"More configuration keys of the backends, for the loaded one and every restore (e.g. state.backend.lsm.block.cache-size=128mb)."`
	Local          bool              `default:"true" negatable:"" help:"Write the checkpoints with local recovery (a local copy in a temporary directory) and also restore each from its local copy: the rows local:<scheme>."`
	ProfileDir     string            `placeholder:"DIR" help:"Write a CPU profile of each restore child into DIR (restore-<backend>-<size>[-local]-<scheme>.pprof)."`
	JSON           bool              `name:"json" help:"Print one JSON object per measurement and line."`
	Seed           uint64            `default:"1" help:"Seed of the values' random bytes."`
}

// benchRestoreState is the name of the value state bench restore writes and checks.
const benchRestoreState = "value"

// rawReadChunk is the size of one ranged read of the raw read baseline, that of an lsm
// restore's downloads.
const rawReadChunk = 8 << 20

// Validate implements kong's validation hook: it reports every bad flag at once.
func (c *benchRestoreCmd) Validate() error {
	var errs []error
	for i, b := range c.Backends {
		n, err := canonicalBackend(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("--backends: %w", err))
		}
		c.Backends[i] = n
	}
	if len(c.Backends) == 0 {
		errs = append(errs, errors.New("--backends names no backend"))
	}
	for _, s := range c.Sizes {
		if _, err := parseStateSize(s); err != nil {
			errs = append(errs, fmt.Errorf("--sizes: %w", err))
		}
	}
	if len(c.Sizes) == 0 {
		errs = append(errs, errors.New("--sizes names no size"))
	}
	if c.ValueSize < 8 {
		errs = append(errs, fmt.Errorf("--value-size must be at least 8, got %d", c.ValueSize))
	}
	if c.RawConcurrency < 1 {
		errs = append(errs, fmt.Errorf("--raw-concurrency must be at least 1, got %d", c.RawConcurrency))
	}
	return errors.Join(errs...)
}

// parseStateSize parses a size of --sizes: a memory size (units.ParseMemorySize) or "max"
// (returned as -1).
func parseStateSize(s string) (int64, error) {
	if strings.EqualFold(s, "max") {
		return -1, nil
	}
	n, err := units.ParseMemorySize(s)
	if err != nil {
		return 0, fmt.Errorf("state size %q: %w (a size such as 100MB or 1GB, or max)", s, err)
	}
	if n < 1 {
		return 0, fmt.Errorf("state size %q must be positive", s)
	}
	return n, nil
}

// benchRestoreResult is one line of --json output: one restore from one storage.
type benchRestoreResult struct {
	Backend string `json:"backend"`
	// Checkpoint is the kind restored: "full" (canonical) or "incremental".
	Checkpoint string `json:"checkpoint"`
	// Source is where the restore read: the storage's scheme (file, s3, ...).
	Source string `json:"source"`
	// Size is the --sizes entry, StateBytes keys × value size.
	Size       string `json:"size"`
	StateBytes int64  `json:"state_bytes"`
	Keys       int64  `json:"keys"`
	// CheckpointBytes and Files are what the checkpoint holds (metadata excluded): the bytes
	// both the restore and the raw read read.
	CheckpointBytes int64   `json:"checkpoint_bytes"`
	Files           int     `json:"files"`
	RestoreMs       float64 `json:"restore_ms"`
	RestoreMBPerS   float64 `json:"restore_mb_per_s"`
	// RawMs and RawMBPerS are the raw read of the same files in the same run.
	RawMs     float64 `json:"raw_ms"`
	RawMBPerS float64 `json:"raw_mb_per_s"`
	// Ratio is RestoreMBPerS / RawMBPerS (goal for remote storage: >= 0.5).
	Ratio float64 `json:"ratio"`
	// CopyMBPerS is the raw copy of the same files in the same run: the raw read writing
	// every byte to a local file, as an lsm restore does (0 for hashmap, which keeps what it
	// reads in memory).
	CopyMBPerS float64 `json:"copy_mb_per_s,omitempty"`
	// PeakRSSBytes is the restore child's peak resident set (VmHWM); 0 with --no-isolate.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// LocalFiles and RemoteFiles, on a local row (Source "local:<scheme>": the same
	// checkpoint restored with local recovery), are the files read from the local copy and
	// from the storage; VsRemote is the remote restore's time over the local one.
	LocalFiles  int64   `json:"local_files,omitempty"`
	RemoteFiles int64   `json:"remote_files,omitempty"`
	VsRemote    float64 `json:"vs_remote,omitempty"`
}

// Run runs the benchmark and writes its results to e.Out.
func (c *benchRestoreCmd) Run(e *env) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	ctx := e.Ctx
	storages := c.Storage
	if len(storages) == 0 {
		dir, err := os.MkdirTemp("", "streamstate-bench-restore-")
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
		storages = []string{(&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()}
	}
	self := ""
	if c.Isolate {
		if self, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary for the restore children (--no-isolate restores in-process): %w", err)
		}
	}
	var results []benchRestoreResult
	for _, name := range c.Backends {
		for _, size := range c.Sizes {
			rs, err := c.measure(ctx, e, self, name, size, storages)
			if err != nil {
				return fmt.Errorf("%s backend, %s: %w", name, size, err)
			}
			results = append(results, rs...)
		}
	}
	if c.JSON {
		return nil
	}
	return writeRestoreTable(e.Out, results)
}

// stateBytes resolves a --sizes entry for a backend measured on storages storages: max is a
// sixth of the available memory for hashmap (the loaded state and the restore child's copy
// each take about 2.5 times the state's bytes of Go heap) and, for lsm, the free disk of the
// temporary directory over storages + 2 (the working database, a checkpoint on each storage
// if all share that disk, and the restored copy).
func stateBytes(size, backendName string, storages int) (int64, error) {
	n, err := parseStateSize(size)
	if err != nil || n > 0 {
		return n, err
	}
	if backendName != lsm.Name {
		avail, err := memAvailable()
		if err != nil {
			return 0, fmt.Errorf("size max: %w", err)
		}
		return avail / 6, nil
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(os.TempDir(), &fs); err != nil {
		return 0, fmt.Errorf("size max: free disk of %s: %w", os.TempDir(), err)
	}
	return int64(fs.Bavail) * fs.Bsize / int64(storages+2), nil
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes.
func memAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "MemAvailable: %d kB", &kb); err == nil {
			return kb << 10, nil
		}
	}
	return 0, errors.New("/proc/meminfo has no MemAvailable line")
}

// measure loads one state, writes its checkpoint to every storage and measures the raw read
// and the restore of each.
func (c *benchRestoreCmd) measure(ctx context.Context, e *env, self, name, size string, storages []string) (_ []benchRestoreResult, err error) {
	sb, err := stateBytes(size, name, len(storages))
	if err != nil {
		return nil, err
	}
	keys := max(sb/int64(c.ValueSize), 1)
	incremental := name == lsm.Name
	be, err := c.load(ctx, name, incremental, keys)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, be.Close()) }()
	var out []benchRestoreResult
	for _, su := range storages {
		rs, err := c.measureStorage(ctx, self, be, name, size, su, keys)
		if err != nil {
			return nil, fmt.Errorf("storage %s: %w", su, err)
		}
		for _, r := range rs {
			r.Size, r.StateBytes = size, keys*int64(c.ValueSize)
			if err := c.report(e, r); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// report prints r as a JSON line with --json, else a progress line to the log.
func (c *benchRestoreCmd) report(e *env, r benchRestoreResult) error {
	if !c.JSON {
		_, err := fmt.Fprintf(e.Log, "%s %s from %s: restore %.0f ms, raw read %.0f ms\n", r.Backend, r.Size, r.Source, r.RestoreMs, r.RawMs)
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.Out, "%s\n", b)
	return err
}

// load creates a backend owning all key groups and writes keys values into it.
func (c *benchRestoreCmd) load(ctx context.Context, name string, incremental bool, keys int64) (backend.Keyed, error) {
	be, err := newConfiguredBackend(ctx, name, incremental, benchRestoreOptions(), c.Config)
	if err != nil {
		return nil, err
	}
	kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
	if err == nil {
		var vs state.ValueState[[]byte]
		vs, err = state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: benchRestoreState})
		rnd := mrand.New(mrand.NewPCG(c.Seed, 0x7e57))
		for k := int64(0); err == nil && k < keys; k++ {
			if err = preloadStep(ctx, k); err != nil {
				break
			}
			val := make([]byte, c.ValueSize) // the hashmap backend keeps the slice it is given
			binary.BigEndian.PutUint64(val, uint64(k))
			for i := 8; i < len(val); i += 8 {
				var w [8]byte
				binary.LittleEndian.PutUint64(w[:], rnd.Uint64())
				copy(val[i:], w[:])
			}
			if err = kb.SetCurrentKey(k); err == nil {
				err = vs.Update(val)
			}
		}
	}
	if err != nil {
		return nil, errors.Join(err, be.Close())
	}
	return be, nil
}

// newConfiguredBackend is newBackend with more configuration keys.
func newConfiguredBackend(ctx context.Context, name string, incremental bool, opts backend.Options, config map[string]string) (backend.Keyed, error) {
	var extra []string
	for k, v := range config {
		extra = append(extra, k, v)
	}
	sb, err := soloStateBackend(name, incremental, extra...)
	if err != nil {
		return nil, err
	}
	b, err := sb.CreateKeyedBackend(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("create %s state backend: %w", sb.Name(), err)
	}
	return b, nil
}

// benchRestoreOptions are the options of the backends bench restore loads and restores.
func benchRestoreOptions() backend.Options {
	return backend.Options{
		OperatorID:      "bench-restore",
		MaxParallelism:  bench.MaxParallelism,
		KeyGroupRange:   keygroup.RangeFor(bench.MaxParallelism, 1, 0),
		KeySerializerID: serde.Int64{}.ID(),
	}
}

// measureStorage writes the checkpoint of be to the storage at su under a job of its own,
// measures its raw read and its restore (and with --local the restore from the local copy),
// and deletes the job's files.
func (c *benchRestoreCmd) measureStorage(ctx context.Context, self string, be backend.Keyed, name, size, su string, keys int64) (_ []benchRestoreResult, err error) {
	var r benchRestoreResult
	st, err := blobstore.OpenURL(ctx, su)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	job := fmt.Sprintf("bench-restore-%s-%s", name, hex.EncodeToString(rnd[:]))
	defer func() { err = errors.Join(err, deleteJob(context.WithoutCancel(ctx), st, job)) }()
	copts := checkpoint.Options{}
	localDir := ""
	if c.Local {
		if localDir, err = os.MkdirTemp("", "streamstate-bench-restore-local-"); err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(localDir)) }()
		copts.LocalRecovery, copts.LocalDirs = true, []string{localDir}
	}
	cps, err := checkpoint.Open(ctx, st, job, copts)
	if err != nil {
		return nil, err
	}
	m, err := writeBenchCheckpoint(ctx, cps, be)
	if err != nil {
		return nil, err
	}
	r.Backend, r.Keys, r.Checkpoint = name, keys, "full"
	if m.Operators[0].Keyed[0].Incremental != nil {
		r.Checkpoint = "incremental"
	}
	r.Source = strings.SplitN(su, ":", 2)[0]
	var files []bench.RawFile
	var local []string
	dir := fileStorageDir(su)
	for _, f := range m.Files() {
		files = append(files, bench.RawFile{Name: f.Path, Size: f.Size})
		r.CheckpointBytes += f.Size
		if dir != "" {
			local = append(local, filepath.Join(dir, job, filepath.FromSlash(f.Path)))
		}
	}
	r.Files = len(files)
	dropCache := func() error {
		if !c.DropCache || len(local) == 0 {
			return nil
		}
		return bench.DropPageCache(local)
	}

	read := bench.RangeReader(cps.Reader().ReadRange)
	if dir != "" {
		read = bench.FileRangeReader(filepath.Join(dir, job))
	}
	if err := dropCache(); err != nil {
		return nil, err
	}
	n, d, err := bench.RawRead(ctx, read, files, rawReadChunk, c.RawConcurrency)
	if err != nil {
		return nil, err
	}
	r.RawMs, r.RawMBPerS = benchMs(d), mbPerS(n, d)
	if incremental := m.Operators[0].Keyed[0].Incremental != nil; incremental {
		if err := dropCache(); err != nil {
			return nil, err
		}
		n, d, err := bench.RawCopy(ctx, read, files, rawReadChunk, c.RawConcurrency, os.TempDir())
		if err != nil {
			return nil, err
		}
		r.CopyMBPerS = mbPerS(n, d)
	}

	if err := dropCache(); err != nil {
		return nil, err
	}
	spec := restoreSpec{backend: name, storage: su, job: job, id: m.CheckpointID, keys: keys,
		incremental: r.Checkpoint == "incremental", config: c.Config}
	res, err := c.restoreOnce(ctx, self, spec, fmt.Sprintf("%s-%s-%s", name, size, r.Source))
	if err != nil {
		return nil, err
	}
	r.RestoreMs, r.RestoreMBPerS, r.PeakRSSBytes = res.RestoreMs, mbPerS(r.CheckpointBytes, msDuration(res.RestoreMs)), res.PeakRSSBytes
	if r.RawMBPerS > 0 {
		r.Ratio = r.RestoreMBPerS / r.RawMBPerS
	}
	out := []benchRestoreResult{r}
	if localDir == "" {
		return out, nil
	}
	// The same checkpoint from its local copy (local recovery), the copy dropped from the
	// page cache too.
	if c.DropCache {
		if err := dropDirCache(localDir); err != nil {
			return nil, err
		}
	}
	spec.localDir = localDir
	if res, err = c.restoreOnce(ctx, self, spec, fmt.Sprintf("%s-%s-local-%s", name, size, r.Source)); err != nil {
		return nil, err
	}
	l := r
	l.Source = "local:" + r.Source
	l.RawMs, l.RawMBPerS, l.Ratio, l.CopyMBPerS = 0, 0, 0, 0
	l.RestoreMs, l.RestoreMBPerS, l.PeakRSSBytes = res.RestoreMs, mbPerS(r.CheckpointBytes, msDuration(res.RestoreMs)), res.PeakRSSBytes
	l.LocalFiles, l.RemoteFiles = res.LocalFiles, res.RemoteFiles
	if l.RestoreMs > 0 {
		l.VsRemote = r.RestoreMs / l.RestoreMs
	}
	return append(out, l), nil
}

// restoreOnce runs the restore spec in a child process of self, or in this process if self is
// empty; label names its CPU profile (--profile-dir).
func (c *benchRestoreCmd) restoreOnce(ctx context.Context, self string, spec restoreSpec, label string) (benchRestoreChildResult, error) {
	if self == "" {
		return restoreBenchCheckpoint(ctx, spec)
	}
	profile := ""
	if c.ProfileDir != "" {
		profile = filepath.Join(c.ProfileDir, "restore-"+label+".pprof")
	}
	return restoreInChild(ctx, self, spec, profile)
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// dropDirCache drops every file under dir from the page cache (bench.DropPageCache).
func dropDirCache(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	return bench.DropPageCache(paths)
}

// writeBenchCheckpoint takes checkpoint 1 of be into cps and completes it. It does not
// notify be of the completion, so an incremental backend's next checkpoint (to another
// storage) uploads every file again instead of referencing this storage's.
func writeBenchCheckpoint(ctx context.Context, cps *checkpoint.Checkpoints, be backend.Keyed) (*snapshot.Metadata, error) {
	const id = 1
	p, err := cps.Begin(id)
	if err != nil {
		return nil, err
	}
	s, err := be.Snapshot(id, backend.SnapshotOptions{})
	if err != nil {
		return nil, errors.Join(err, p.Abort(ctx))
	}
	h, err := s.Run(ctx, p)
	if err != nil {
		return nil, errors.Join(err, p.Abort(ctx))
	}
	if h == nil {
		return nil, errors.Join(errors.New("the backend wrote no keyed state handle"), p.Abort(ctx))
	}
	m := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
		ID: "bench-restore", Parallelism: 1, MaxParallelism: bench.MaxParallelism, Keyed: []*snapshot.KeyedStateHandle{h},
	}}}
	if err := p.Complete(ctx, m); err != nil {
		return nil, err
	}
	return cps.Load(ctx, id)
}

// deleteJob deletes every object of job in st.
func deleteJob(ctx context.Context, st checkpoint.Storage, job string) error {
	names, err := st.List(ctx, job+"/")
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, st.Delete(ctx, n))
	}
	return errors.Join(errs...)
}

// restoreInChild runs the restore spec in `bench restore-child` of the binary self and returns
// the child's result.
func restoreInChild(ctx context.Context, self string, spec restoreSpec, profile string) (benchRestoreChildResult, error) {
	var res benchRestoreChildResult
	args := []string{"bench", "restore-child", "--backend", spec.backend, "--storage", spec.storage, "--job", spec.job,
		"--checkpoint", fmt.Sprint(spec.id), "--keys", fmt.Sprint(spec.keys)}
	if spec.incremental {
		args = append(args, "--incremental")
	}
	if spec.localDir != "" {
		args = append(args, "--local-dir", spec.localDir)
	}
	if profile != "" {
		args = append(args, "--cpu-profile", profile)
	}
	for k, v := range spec.config {
		args = append(args, "--config", k+"="+v)
	}
	cmd := exec.CommandContext(ctx, self, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("restore child %s %s: %w; its stderr:\n%s", self, strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("restore child printed %q, not its result: %w", out, err)
	}
	return res, nil
}

func writeRestoreTable(out io.Writer, rs []benchRestoreResult) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "backend\tcheckpoint\tsize\tsource\tcheckpoint MB\tfiles\trestore ms\trestore MB/s\traw read MB/s\tratio\traw copy MB/s\tpeak RSS MB\tlocal/remote files\tvs remote\t\n")
	dash := func(v float64, format string) string {
		if v <= 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	for _, r := range rs {
		files := "-"
		if r.LocalFiles+r.RemoteFiles > 0 {
			files = fmt.Sprintf("%d/%d", r.LocalFiles, r.RemoteFiles)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%d\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Backend, r.Checkpoint, r.Size, r.Source,
			float64(r.CheckpointBytes)/1e6, r.Files, r.RestoreMs, r.RestoreMBPerS, dash(r.RawMBPerS, "%.1f"), dash(r.Ratio, "%.2f"),
			dash(r.CopyMBPerS, "%.1f"), dash(float64(r.PeakRSSBytes)/1e6, "%.0f"), files, dash(r.VsRemote, "%.1fx"))
	}
	return tw.Flush()
}

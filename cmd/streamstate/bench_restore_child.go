package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// benchRestoreChildCmd is `streamstate bench restore-child`, hidden: one restore of `bench
// restore`, run in a process of its own so that the peak RSS the parent reads from the
// process's rusage is the restore's alone. It restores the one keyed backend of a
// checkpoint written by bench restore, checks a few of its keys, and prints one JSON line
// (benchRestoreChildResult).
type benchRestoreChildCmd struct {
	Backend     string            `required:"" help:"State backend: ${backends}."`
	Storage     string            `required:"" placeholder:"URL" help:"Checkpoint storage URL."`
	Job         string            `required:"" help:"Job ID of the checkpoint."`
	Checkpoint  int64             `default:"1" help:"Checkpoint ID."`
	Keys        int64             `required:"" help:"Keys the checkpoint holds (0 .. keys-1); a few are checked after the restore."`
	Incremental bool              `help:"The checkpoint is incremental (lsm)."`
	CPUProfile  string            `placeholder:"FILE" help:"Write a CPU profile of the restore to FILE."`
	Config      map[string]string `placeholder:"KEY=VALUE" help:"More configuration keys of the backend."`
	LocalDir    string            `placeholder:"DIR" help:"Restore with local recovery from the local copy in DIR (checkpoint.Options.LocalDirs), verified, falling back to the storage file by file."`
}

// benchRestoreChildResult is what a restore child prints.
type benchRestoreChildResult struct {
	// RestoreMs is the restore: creating the keyed backend from the checkpoint's handles
	// (reading, verifying, and for lsm opening the database) and registering its state
	// (hashmap decodes the restored values then), metadata load excluded: until then a
	// job cannot process a record.
	RestoreMs float64 `json:"restore_ms"`
	// PeakRSSBytes is the process's peak resident set (VmHWM of /proc/self/status) after the
	// restore. The parent cannot use its rusage: Linux carries the parent's peak into a
	// child's ru_maxrss across fork and exec.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// LocalFiles and RemoteFiles are the files read from the local copy and from the storage
	// (checkpoint.RestoreStats), with --local-dir.
	LocalFiles  int64 `json:"local_files,omitempty"`
	RemoteFiles int64 `json:"remote_files,omitempty"`
}

// restoreSpec is one restore of a checkpoint written by bench restore.
type restoreSpec struct {
	backend, storage, job string
	id, keys              int64
	incremental           bool
	config                map[string]string
	// localDir, if not empty, restores with local recovery from the local copy there.
	localDir string
}

// Run restores the checkpoint and prints the result.
func (c *benchRestoreChildCmd) Run(e *env) error {
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := restoreBenchCheckpoint(e.Ctx, restoreSpec{backend: c.Backend, storage: c.Storage, job: c.Job, id: c.Checkpoint,
		keys: c.Keys, incremental: c.Incremental, config: c.Config, localDir: c.LocalDir})
	if err != nil {
		return err
	}
	if res.PeakRSSBytes, err = peakRSS(); err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.Out, "%s\n", b)
	return err
}

// peakRSS returns this process's peak resident set: VmHWM of /proc/self/status, in bytes.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return kb << 10, nil
		}
	}
	return 0, errors.New("peak RSS: /proc/self/status has no VmHWM line")
}

// restoreBenchCheckpoint runs the restore rs and returns how long creating the backend and
// registering its state took (PeakRSSBytes not set). It checks that keys 0, keys/2 and
// keys-1 hold their values (each value starts with its key, big-endian), so a restore that
// lost state does not pass for a fast one.
func restoreBenchCheckpoint(ctx context.Context, rs restoreSpec) (res benchRestoreChildResult, err error) {
	st, err := blobstore.OpenURL(ctx, rs.storage)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	copts := checkpoint.Options{}
	if rs.localDir != "" {
		copts.LocalRecovery, copts.LocalDirs = true, []string{rs.localDir}
	}
	cps, err := checkpoint.Open(ctx, st, rs.job, copts)
	if err != nil {
		return res, err
	}
	m, err := cps.Load(ctx, rs.id)
	if err != nil {
		return res, err
	}
	if len(m.Operators) != 1 {
		return res, fmt.Errorf("checkpoint %d of job %s has %d operators; bench restore writes 1", rs.id, rs.job, len(m.Operators))
	}
	opts := benchRestoreOptions()
	reader := cps.RestoreReader(m)
	opts.Restore, opts.Reader = m.Operators[0].Keyed, reader
	start := time.Now()
	be, err := newConfiguredBackend(ctx, rs.backend, rs.incremental, opts, rs.config)
	if err != nil {
		return res, fmt.Errorf("restore checkpoint %d of job %s: %w", rs.id, rs.job, err)
	}
	defer func() { err = errors.Join(err, be.Close()) }()
	kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
	if err != nil {
		return res, err
	}
	vs, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: benchRestoreState})
	if err != nil {
		return res, err
	}
	res.RestoreMs = benchMs(time.Since(start))
	stats := reader.Stats()
	if rs.localDir != "" {
		res.LocalFiles, res.RemoteFiles = stats.LocalFiles, stats.RemoteFiles
	}
	for _, k := range []int64{0, rs.keys / 2, rs.keys - 1} {
		if err := kb.SetCurrentKey(k); err != nil {
			return res, err
		}
		v, ok, err := vs.Value()
		if err != nil {
			return res, err
		}
		if !ok || len(v) < 8 || int64(binary.BigEndian.Uint64(v)) != k {
			return res, fmt.Errorf("restored checkpoint %d of job %s: key %d holds %d bytes %x..., not its value", rs.id, rs.job, k, len(v), v[:min(len(v), 8)])
		}
	}
	return res, nil
}

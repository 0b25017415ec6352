package lsm

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// Faults: what goes wrong inside Pebble, on any of its goroutines, becomes an error of the
// backend instead of a panic, a hang or a line in a discarded log.
//
//   - A background error (a flush or compaction that cannot write, a table that cannot be
//     read) is reported by Pebble's EventListener.BackgroundError. Pebble retries a failed
//     flush at once and forever, so a full disk would otherwise stall the job with no error.
//   - Corruption found by any read (a block whose checksum does not match, a table whose
//     footer does not decode) is reported by EventListener.DataCorruption before the read
//     returns its error. Pebble's default handler calls Logger.Fatalf, which must not return:
//     the backend installs its own handler, so the read returns an error and the process lives.
//   - Logger.Fatalf is called by Pebble on failures it does not unwind (a MANIFEST that cannot
//     be written, invariant violations). It does not panic: on its IO paths Pebble returns the
//     error right after Fatalf, and the database is not used again (see below).
//
// The first fault sticks: commitWrites returns it (writes.go), so the next state access, every
// snapshot and every later call fail with it, naming the working directory and the fix, until
// the backend is closed and the job restores from its last completed checkpoint. Corruption
// is a *snapshot.FileError wrapping snapshot.ErrCorrupt that names the stored file the
// damaged local file was downloaded from (or the local file, for one Pebble wrote itself), so a
// restore falls back to an older checkpoint.
type faults struct {
	opID string
	dir  string // the working directory, named in every error
	log  *slog.Logger

	failed chan struct{} // closed when the first fault is recorded
	stalls atomic.Int32  // writes waiting in a Pebble write stall (WriteStallBegin, not yet End)

	mu      sync.Mutex
	err     error             // the first fault
	later   int               // faults after the first, not logged one by one
	origins map[string]string // local file path -> the stored file it was downloaded from
}

func newFaults(opID, dir string, log *slog.Logger) *faults {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &faults{opID: opID, dir: dir, log: log, failed: make(chan struct{}), origins: map[string]string{}}
}

// get returns the first fault, or nil. It takes no lock unless a fault was recorded.
func (f *faults) get() error {
	select {
	case <-f.failed:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.err
	default:
		return nil
	}
}

// record keeps err if it is the first fault and logs it; later faults are counted (Pebble
// retries a failed flush in a tight loop: one line per retry would flood the log).
func (f *faults) record(err error) {
	f.mu.Lock()
	if f.err != nil {
		f.later++
		f.mu.Unlock()
		return
	}
	f.err = err
	f.mu.Unlock()
	// Logged before it is published: whoever returns the fault finds it in the log.
	f.log.Error("lsm backend: the working state failed; the task fails", "operator", f.opID, "dir", f.dir, "err", err)
	close(f.failed)
}

// logClosed logs, when the backend closes after a fault, how many more failures Pebble
// reported after the first one.
func (f *faults) logClosed() {
	f.mu.Lock()
	err, later := f.err, f.later
	f.mu.Unlock()
	if err != nil {
		f.log.Warn("lsm backend: closed after a failure", "operator", f.opID, "dir", f.dir, "further_failures", later)
	}
}

// noteOrigins records that the files of a restored incremental handle were downloaded into
// dir, so that corruption found in one of them names the stored file.
func (f *faults) noteOrigins(dir string, files []snapshot.IncrementalFile) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, file := range files {
		f.origins[filepath.Join(dir, file.Name)] = file.Path
	}
}

// corruption returns the error for corruption of the local file path: ErrCorrupt naming the
// stored file it came from, or the local file.
func (f *faults) corruption(path string, details error) error {
	f.mu.Lock()
	stored, ok := f.origins[filepath.Clean(path)]
	f.mu.Unlock()
	where := fmt.Sprintf("in the working directory %s of operator %s", f.dir, f.opID)
	if ok {
		where = fmt.Sprintf("restored into %s (working directory of operator %s)", path, f.opID)
	} else {
		stored = path
	}
	return &snapshot.FileError{Path: stored, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf(
		"Pebble found on-disk corruption %s: %v; the job must restore from an earlier checkpoint", where, details)}
}

// corruptionOf maps a Pebble corruption error (pebble.IsCorruptionError) to corruption(),
// records it, and returns it.
func (f *faults) corruptionOf(err error) error {
	path := f.dir
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil && info.Path != "" {
		path = info.Path
	}
	cerr := f.corruption(path, err)
	f.record(cerr)
	return cerr
}

// background returns the error for a failure of Pebble's background work (or a fatal one),
// with what to do about it.
func (f *faults) background(what string, err error) error {
	var fix string
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		fix = fmt.Sprintf("the disk of %s is full: free space on it, or set %slocaldir to a directory on a larger disk, "+
			"then restart the job from its last completed checkpoint", f.dir, ConfigPrefix)
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		fix = fmt.Sprintf("%s is not writable: make it writable, or set %slocaldir to a writable directory, "+
			"then restart the job from its last completed checkpoint", f.dir, ConfigPrefix)
	default:
		fix = "the working state cannot be trusted any more: restart the job from its last completed checkpoint"
	}
	return fmt.Errorf("lsm backend: operator %s: %s in working directory %s: %w; %s", f.opID, what, f.dir, err, fix)
}

// listener returns the event listener that records faults.
func (f *faults) listener() pebble.EventListener {
	return pebble.EventListener{
		BackgroundError: func(err error) {
			if pebble.IsCorruptionError(err) {
				f.corruptionOf(err)
				return
			}
			f.record(f.background("Pebble failed in the background", err))
		},
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			f.record(f.corruption(info.Path, info.Details))
		},
		// Pebble calls these once per stalled write: Begin when it starts to wait, End when it
		// goes on (and only then).
		WriteStallBegin: func(pebble.WriteStallBeginInfo) { f.stalls.Add(1) },
		WriteStallEnd:   func() { f.stalls.Add(-1) },
		LowDiskSpace: func(info pebble.LowDiskSpaceInfo) {
			f.log.Warn("lsm backend: the disk of the working directory is almost full", "operator", f.opID, "dir", f.dir,
				"available_bytes", info.AvailBytes, "total_bytes", info.TotalBytes)
		},
	}
}

// pebbleLogger sends Pebble's log lines to the backend's logger and records its fatal errors.
type pebbleLogger struct {
	l *slog.Logger
	f *faults
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Info("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: "+fmt.Sprintf(format, args...), "operator", p.f.opID, "dir", p.f.dir)
}

// Fatalf records the failure as the backend's sticky fault and returns: it neither exits nor
// panics. Pebble calls it where it does not unwind a failure (a MANIFEST write that failed, an
// invariant violation); on the IO paths it returns the error right after, and the fault keeps
// the backend from using the database again (every later call returns it) until Close.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	cause := fatalError{msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if e, ok := a.(error); ok {
			cause.err = e
			break
		}
	}
	if cause.err != nil && pebble.IsCorruptionError(cause.err) {
		p.f.corruptionOf(cause.err)
		return
	}
	p.f.record(p.f.background("Pebble stopped on a fatal error", cause))
}

// fatalError is the message Pebble gave Fatalf, wrapping the error among its arguments.
type fatalError struct {
	msg string
	err error
}

func (e fatalError) Error() string { return e.msg }
func (e fatalError) Unwrap() error { return e.err }

// Failed returns a channel that is closed when the backend has failed for good: its first
// fault (a flush, compaction or MANIFEST write of Pebble that failed, corruption, a Fatalf of
// Pebble; see the top of faults.go). Err then returns the failure. It may be called from any
// goroutine: a runtime selects on it to fail the task at once, even while the task's goroutine
// is blocked inside the backend (see Stalled).
func (b *Backend) Failed() <-chan struct{} { return b.faults.failed }

// Err returns the backend's failure (see Failed), or nil if it has not failed. It may be
// called from any goroutine. The error names the working directory and the fix.
func (b *Backend) Err() error { return b.faults.get() }

// Stalled reports whether a write of the backend (a commit of the task's writes, the flush of
// an incremental checkpoint) is waiting in a Pebble write stall: every memtable full, or level
// 0 full, until a flush or a compaction succeeds. It may be called from any goroutine.
//
// After Failed, most stalls end within milliseconds: the fault FS makes Pebble's next flush
// succeed (faultfs.go), and the stalled call returns the failure. One does not: once a
// MANIFEST write has failed, Pebble fails every later flush (its MANIFEST writer keeps its
// first error; only a rotation to a new MANIFEST, which Pebble does not do after a failure,
// would replace it). Pebble's stall waits on a condition that only a successful flush or
// compaction ends; it checks neither an error nor Close, and DB.Close waits for the stalled
// commit (it takes the commit pipeline's lock, which the commit holds). Pebble offers no API
// that ends or bounds that stall, so the task's goroutine stays blocked until the process
// exits. A runtime that finds a failed backend still stalled after a grace period must give up
// on the task's goroutine and must not call Close (it would block too).
func (b *Backend) Stalled() bool { return b.faults.stalls.Load() > 0 }

// dbErr maps an error of a Pebble call: corruption becomes the backend's (recorded)
// ErrCorrupt; other errors are returned as they are.
func (b *Backend) dbErr(err error) error {
	if err == nil || !pebble.IsCorruptionError(err) {
		return err
	}
	return b.faults.corruptionOf(err)
}

// flush flushes the memtables, giving up at deadline (if not zero) or as soon as a fault is
// recorded: Pebble retries a failed flush forever, and DB.Flush would wait for it forever. A
// flush given up on goes on in the background until Close. AsyncFlush itself blocks only in a
// write stall, as a commit of the backend's writes would (memtables that do not flush).
func (b *Backend) flush(deadline time.Time) error {
	if err := b.faults.get(); err != nil {
		return err
	}
	flushed, err := b.db.AsyncFlush()
	if err != nil {
		return b.dbErr(err)
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-flushed:
		return b.faults.get()
	case <-b.faults.failed:
		return b.faults.get()
	case <-timeout:
		return fmt.Errorf("lsm backend: operator %s: flushing the memtables to %s did not finish by the checkpoint's deadline "+
			"(execution.checkpointing.timeout); is its disk slow or hung?", b.opID, b.dbDir)
	}
}

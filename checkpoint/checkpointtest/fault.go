package checkpointtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
)

// Op is a storage operation FaultStorage can fail and count.
type Op int

// The operations of checkpoint.Storage and checkpoint.Writer.
const (
	OpCreate    Op = iota + 1 // Storage.Create
	OpWrite                   // Writer.Write
	OpCommit                  // Writer.Commit
	OpReadRange               // Storage.ReadRange
	OpSize                    // Storage.Size
	OpDelete                  // Storage.Delete
	OpList                    // Storage.List (the name is the prefix)
	OpSweep                   // Storage.Sweep (the name is the directory)
)

func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpWrite:
		return "write"
	case OpCommit:
		return "commit"
	case OpReadRange:
		return "read-range"
	case OpSize:
		return "size"
	case OpDelete:
		return "delete"
	case OpList:
		return "list"
	case OpSweep:
		return "sweep"
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// ErrInjected is wrapped by every failure FaultStorage injects through FailNth or FailAlways.
var ErrInjected = errors.New("checkpointtest: injected fault")

// ReadStats counts the ReadRange calls on one object and the bytes they returned.
type ReadStats struct {
	Calls int
	Bytes int64
}

// FaultStorage wraps a checkpoint.Storage for tests: it fails chosen operations, makes
// objects read truncated, runs a hook before every operation, and counts calls and read
// bytes per object name. With no fault configured it behaves exactly as the storage it wraps.
// Safe for concurrent use.
type FaultStorage struct {
	inner checkpoint.Storage

	mu     sync.Mutex
	rules  []*rule
	truncs []truncation
	delays []delay
	hook   func(op Op, name string) error
	reads  map[string]ReadStats
	calls  map[Op]map[string]int
}

type rule struct {
	op      Op
	substr  string
	nth     int // fire on the nth match; <= 0: on every match
	matched int
	err     error // nil: an error wrapping ErrInjected
}

type delay struct {
	op     Op
	substr string
	d      time.Duration
}

type truncation struct {
	substr string
	size   int64
}

// NewFaultStorage wraps st. Closing the FaultStorage closes st.
func NewFaultStorage(st checkpoint.Storage) *FaultStorage {
	return &FaultStorage{inner: st, reads: map[string]ReadStats{}, calls: map[Op]map[string]int{}}
}

// Inner returns the wrapped storage (to act on it without faults or counting).
func (s *FaultStorage) Inner() checkpoint.Storage { return s.inner }

// FailNth makes the n-th call of op (1-based, counted from now) on an object whose name
// contains nameContains fail with an error wrapping ErrInjected; "" matches every name.
// n <= 0 fails every such call. A failed Create, ReadRange, Size, Delete or List does not
// reach the wrapped storage; a failed Write writes nothing; a failed Commit aborts the object,
// so nothing is stored.
func (s *FaultStorage) FailNth(op Op, nameContains string, n int) {
	s.FailNthWith(op, nameContains, n, nil)
}

// FailNthWith is FailNth with the error to fail with (nil: one wrapping ErrInjected): for
// example an error wrapping snapshot.ErrCorrupt or a permission error, which a retrying
// storage does not retry (ErrInjected itself counts as transient, as any error of unknown
// kind).
func (s *FaultStorage) FailNthWith(op Op, nameContains string, n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{op: op, substr: nameContains, nth: n, err: err})
}

// Slow makes every call of op on an object whose name contains nameContains wait d before
// it runs (or until the call's context is done, which then fails it): a slow network or an
// overloaded store.
func (s *FaultStorage) Slow(op Op, nameContains string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays = append(s.delays, delay{op: op, substr: nameContains, d: d})
}

// FailAlways makes every call of op on an object whose name contains nameContains fail.
func (s *FaultStorage) FailAlways(op Op, nameContains string) { s.FailNth(op, nameContains, 0) }

// TruncateReads makes every object whose name contains nameContains read as if it had only
// size bytes: ReadRange returns no byte at or past size. Size and List are unaffected, as
// with a torn read or a file that changed under the reader.
func (s *FaultStorage) TruncateReads(nameContains string, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncs = append(s.truncs, truncation{substr: nameContains, size: size})
}

// SetHook sets a function that runs before every operation (nil: none), after the operation
// is counted and before any injected fault; a non-nil error fails the operation with exactly
// that error, as FailNth describes. The hook runs without FaultStorage's lock held, so it may
// use the storage; its own calls run the hook again.
func (s *FaultStorage) SetHook(hook func(op Op, name string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

// ClearFaults removes every fault, truncation, delay and the hook; counts are kept.
func (s *FaultStorage) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules, s.truncs, s.delays, s.hook = nil, nil, nil, nil
}

// Reads returns the ReadRange calls on the object name (exactly) that reached the wrapped
// storage, and the bytes they returned (after truncation).
func (s *FaultStorage) Reads(name string) ReadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[name]
}

// AllReads returns the ReadRange counts of every object read so far.
func (s *FaultStorage) AllReads() map[string]ReadStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.reads)
}

// Calls returns how many calls of op were made on objects whose name contains nameContains
// (failed ones included).
func (s *FaultStorage) Calls(op Op, nameContains string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for name, c := range s.calls[op] {
		if strings.Contains(name, nameContains) {
			n += c
		}
	}
	return n
}

// ResetCounts zeroes the call and read counts.
func (s *FaultStorage) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = map[string]ReadStats{}
	s.calls = map[Op]map[string]int{}
}

// before counts the call, waits its delays, runs the hook and returns the error to fail it
// with, if any.
func (s *FaultStorage) before(ctx context.Context, op Op, name string) error {
	s.mu.Lock()
	if s.calls[op] == nil {
		s.calls[op] = map[string]int{}
	}
	s.calls[op][name]++
	hook := s.hook
	var wait time.Duration
	for _, d := range s.delays {
		if d.op == op && strings.Contains(name, d.substr) {
			wait += d.d
		}
	}
	s.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s in %s: %w", op, name, s.inner, ctx.Err())
		}
	}
	if hook != nil {
		if err := hook(op, name); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var fire *rule
	for _, r := range s.rules {
		if r.op != op || !strings.Contains(name, r.substr) {
			continue
		}
		r.matched++
		if fire == nil && (r.nth <= 0 || r.matched == r.nth) {
			fire = r
		}
	}
	if fire != nil && fire.err != nil {
		return fire.err
	}
	if fire != nil {
		return fmt.Errorf("%w: %s %s in %s (matching call %d)", ErrInjected, op, name, s.inner, fire.matched)
	}
	return nil
}

// String describes the wrapped storage.
func (s *FaultStorage) String() string { return "faulty " + s.inner.String() }

// Close closes the wrapped storage.
func (s *FaultStorage) Close() error { return s.inner.Close() }

// Create implements checkpoint.Storage.
func (s *FaultStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	if err := s.before(ctx, OpCreate, name); err != nil {
		return nil, err
	}
	w, err := s.inner.Create(ctx, name, ifNotExist)
	if err != nil {
		return nil, err
	}
	return &faultWriter{s: s, w: w, name: name, ctx: ctx}, nil
}

type faultWriter struct {
	s    *FaultStorage
	ctx  context.Context
	w    checkpoint.Writer
	name string
}

func (w *faultWriter) Write(p []byte) (int, error) {
	if err := w.s.before(w.ctx, OpWrite, w.name); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

func (w *faultWriter) Commit() (int64, error) {
	if err := w.s.before(w.ctx, OpCommit, w.name); err != nil {
		w.w.Abort()
		return 0, err
	}
	return w.w.Commit()
}

func (w *faultWriter) Abort() { w.w.Abort() }

// ReadRange implements checkpoint.Storage.
func (s *FaultStorage) ReadRange(ctx context.Context, name string, offset, length int64) ([]byte, error) {
	if err := s.before(ctx, OpReadRange, name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	limit := int64(-1)
	for _, tr := range s.truncs {
		if strings.Contains(name, tr.substr) && (limit < 0 || tr.size < limit) {
			limit = max(tr.size, 0)
		}
	}
	s.mu.Unlock()
	b, err := s.inner.ReadRange(ctx, name, offset, length)
	if err == nil && limit >= 0 {
		b = b[:max(0, min(int64(len(b)), limit-offset))]
	}
	s.mu.Lock()
	r := s.reads[name]
	r.Calls++
	r.Bytes += int64(len(b))
	s.reads[name] = r
	s.mu.Unlock()
	return b, err
}

// Size implements checkpoint.Storage.
func (s *FaultStorage) Size(ctx context.Context, name string) (int64, error) {
	if err := s.before(ctx, OpSize, name); err != nil {
		return 0, err
	}
	return s.inner.Size(ctx, name)
}

// Delete implements checkpoint.Storage.
func (s *FaultStorage) Delete(ctx context.Context, name string) error {
	if err := s.before(ctx, OpDelete, name); err != nil {
		return err
	}
	return s.inner.Delete(ctx, name)
}

// List implements checkpoint.Storage.
func (s *FaultStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := s.before(ctx, OpList, prefix); err != nil {
		return nil, err
	}
	return s.inner.List(ctx, prefix)
}

// Sweep implements checkpoint.Storage.
func (s *FaultStorage) Sweep(ctx context.Context, dir string) error {
	if err := s.before(ctx, OpSweep, dir); err != nil {
		return err
	}
	return s.inner.Sweep(ctx, dir)
}

var _ checkpoint.Storage = (*FaultStorage)(nil)

package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/state/ttl"
)

// Name is the backend's name in configuration (state.backend.type).
const Name = "lsm"

// Backend is the lsm keyed state backend: working state lives in an embedded Pebble database
// in a working directory of its own. See the package documentation.
type Backend struct {
	opts   Options
	opID   string
	maxP   int
	rng    keygroup.Range
	keySer string

	workDir string    // removed on Close
	lock    io.Closer // the working directory's lock, held until Close (workdir.go)
	dbDir   string
	db      *pebble.DB
	faults  *faults       // Pebble's failures (faults.go)
	pending *pebble.Batch // writes not yet committed (writes.go), or nil
	// batchBytes is the size at which the pending batch is committed; writeErr, the error of
	// a failed commit, which every later call returns (writes.go).
	batchBytes int
	writeErr   error

	states map[string]*stateEntry
	byID   map[uint16]*stateEntry
	nextID uint16

	key      []byte // the current key, as given to SetCurrentKey
	kg       int
	keyEpoch uint64 // bumped by SetCurrentKey; states rebuild their cached entry key
	hasKey   bool
	closed   bool

	inc *incremental // incremental checkpoint bookkeeping; nil unless Options.Incremental
	// restoredBase is the incremental handle whose files a restore downloaded into the
	// database directory as they are (nil: none), which Options.Claim lets checkpoints reuse.
	restoredBase *snapshot.IncrementalHandle

	mu    sync.Mutex // guards snaps, which Release may touch from another goroutine
	dbMu  sync.Mutex // held by Metrics and while Close closes db
	snaps map[*fullSnapshot]struct{}

	onClose []func() // run once by Close (the factory's collector lets go of the backend)

	schemas backend.Schemas // the value serializers' schemas, memoized

	sweep *sweeper // the TTL cleanup (ttlcleanup.go)
}

// stateEntry is a state known to the backend: registered by a descriptor (st != nil) or
// only restored.
type stateEntry struct {
	id   uint16
	meta snapshot.StateMeta
	// alt are other serializer IDs the state was recorded under in other restored snapshots
	// (backend.MergeRestored): the registering descriptor must read them too.
	alt []snapshot.StateMeta
	st  backend.State
	// view is what the descriptor sees: st, or the TTL view over it (ttlview.With).
	view backend.State
	// ttl is the registered descriptor's TTL, nil without one (or before registration).
	ttl *ttl.Config
}

// New creates an lsm backend for one subtask in a fresh working directory under opts.Dir,
// restoring opts.Restore if given (full handles in the canonical format, or incremental
// handles of an lsm backend). It first removes the working directories in opts.Dir whose
// owner is gone (workdir.go). Corruption found while restoring is an error wrapping
// snapshot.ErrCorrupt that names the stored file, never a panic.
func New(ctx context.Context, opts Options) (*Backend, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	b := &Backend{opts: opts, opID: opts.OperatorID, maxP: opts.MaxParallelism, rng: opts.KeyGroupRange,
		keySer: opts.KeySerializerID, states: map[string]*stateEntry{}, byID: map[uint16]*stateEntry{},
		nextID: 1, snaps: map[*fullSnapshot]struct{}{}}
	wd := workDirsFor(opts.FS)
	wd.sweep(opts.Dir, opts.Logger)
	dir, lock, err := wd.create(opts.Dir, opts.OperatorID)
	if err != nil {
		return nil, err
	}
	b.workDir, b.dbDir, b.lock = dir, filepath.Join(dir, "db"), lock
	b.sweep = newSweeper(b, max(opts.TTLCleanupRate, 0))
	// Event-time TTL judges restored entries at least as the snapshots did: the clock starts
	// at the least watermark they recorded for the key groups restored here.
	opts.Clock.Restore(opts.Restore, opts.KeyGroupRange)
	b.faults = newFaults(b.opID, dir, opts.Logger)
	b.opts.faults = b.faults
	if err := b.open(ctx); err != nil {
		if b.db != nil {
			_ = b.db.Close()
		}
		_ = opts.FS.RemoveAll(dir)
		_ = lock.Close()
		return nil, err
	}
	return b, nil
}

func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			out[i] = '_'
		}
	}
	if len(out) > 40 {
		out = out[:40]
	}
	return string(out)
}

// open creates or restores the database.
func (b *Backend) open(ctx context.Context) error {
	var full, incr []*snapshot.KeyedStateHandle
	for _, h := range b.opts.Restore {
		if h.KeyGroupRange.Intersect(b.rng).Len() == 0 {
			continue
		}
		if err := backend.CheckKeySerializer(b.opID, h.KeySerializer, b.keySer, b.opts.KeySerializerAliases); err != nil {
			return err
		}
		if h.Incremental != nil {
			incr = append(incr, h)
		} else {
			full = append(full, h)
		}
	}
	if len(incr) > 0 {
		if err := b.restoreIncremental(ctx, incr); err != nil {
			return b.restoreErr(err)
		}
	} else {
		db, err := b.openDB(b.dbDir)
		if err != nil {
			return fmt.Errorf("lsm backend: open pebble in %s: %w", b.dbDir, err)
		}
		b.db = db
		if err := b.writeBackendMeta(); err != nil {
			return fmt.Errorf("lsm backend: write metadata: %w", err)
		}
	}
	if b.opts.Incremental {
		b.inc = newIncremental(b)
		if b.opts.Claim {
			b.inc.claim(b.restoredBase)
		}
	}
	for _, h := range full {
		if err := b.restoreFull(ctx, h); err != nil {
			return fmt.Errorf("lsm backend: restore operator %s from %s: %w", b.opID, h.File.Path, b.restoreErr(err))
		}
	}
	// Corruption found in the background while restoring (Pebble loads table statistics
	// and compacts on its own goroutines).
	if err := b.faults.get(); err != nil {
		return fmt.Errorf("lsm backend: restore operator %s: %w", b.opID, err)
	}
	return nil
}

// restoreErr maps an error of a restore: corruption Pebble found (in a read, or recorded as
// the backend's fault) becomes the snapshot.ErrCorrupt error naming the stored file, so the
// restore falls back to an earlier checkpoint.
func (b *Backend) restoreErr(err error) error {
	if errors.Is(err, snapshot.ErrCorrupt) {
		return err
	}
	if err := b.dbErr(err); errors.Is(err, snapshot.ErrCorrupt) {
		return fmt.Errorf("lsm backend: restore operator %s: %w", b.opID, err)
	}
	if ferr := b.faults.get(); errors.Is(ferr, snapshot.ErrCorrupt) {
		return fmt.Errorf("lsm backend: restore operator %s: %w (%v)", b.opID, ferr, err)
	}
	return err
}

// MaxParallelism implements backend.Keyed.
func (b *Backend) MaxParallelism() int { return b.maxP }

// KeyGroupRange implements backend.Keyed.
func (b *Backend) KeyGroupRange() keygroup.Range { return b.rng }

// KeySerializerID implements backend.Keyed.
func (b *Backend) KeySerializerID() string { return b.keySer }

// Metrics returns the Pebble database's metrics, or false once the backend is closed. Unlike
// DB, it may be called from any goroutine (a metrics collector), also while the backend
// closes. Writes the backend has batched are not counted until they are committed.
func (b *Backend) Metrics() (*pebble.Metrics, bool) {
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	if b.db == nil {
		return nil, false
	}
	return b.db.Metrics(), true
}

// SetCurrentKey implements backend.Keyed.
func (b *Backend) SetCurrentKey(key []byte, kg int) error {
	if b.closed {
		return backend.ErrClosed
	}
	if !b.rng.Contains(kg) {
		b.hasKey = false // a failed SetCurrentKey leaves no current key, not the previous one
		return fmt.Errorf("%w: key group %d of operator %s is outside this backend's range %v", backend.ErrKeyGroupNotOwned, kg, b.opID, b.rng)
	}
	b.key = append(b.key[:0], key...)
	b.kg = kg
	b.keyEpoch++
	b.hasKey = true
	return nil
}

func (b *Backend) addEntry(e *stateEntry) {
	b.states[e.meta.Name] = e
	b.byID[e.id] = e
	if e.id >= b.nextID {
		b.nextID = e.id + 1
	}
}

// newEntry allocates a state id for meta and persists the registration.
func (b *Backend) newEntry(meta snapshot.StateMeta) (*stateEntry, error) {
	if b.nextID == 0 || int(b.nextID) > maxStates {
		return nil, fmt.Errorf("lsm backend: operator %s has more than %d states", b.opID, maxStates)
	}
	e := &stateEntry{id: b.nextID, meta: meta}
	if err := b.writeStateMeta(e); err != nil {
		return nil, err
	}
	b.addEntry(e)
	return e, nil
}

// CreateState implements backend.Keyed.
func (b *Backend) CreateState(spec backend.Spec) (backend.State, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	if err := spec.Check(); err != nil {
		return nil, fmt.Errorf("lsm backend: %w", err)
	}
	if !validKind(spec.Kind) {
		return nil, fmt.Errorf("lsm backend: state %q: unknown kind %d", spec.Name, spec.Kind)
	}
	meta := b.schemas.Meta(spec)
	e, ok := b.states[spec.Name]
	if ok {
		ev, rw, err := backend.CheckRegistration(b.opID, spec, &b.schemas, b.opts.Clock, append([]snapshot.StateMeta{e.meta}, e.alt...)...)
		if err != nil {
			return nil, err
		}
		if e.st != nil {
			if rw != nil {
				return nil, fmt.Errorf("%w: state %q of operator %s is registered again with another TTL or serializer than its first registration in this run",
					backend.ErrStateConflict, spec.Name, b.opID)
			}
			return e.view, nil
		}
		if rw != nil { // one pass: the rewrite counts the dropped fields too
			if err := b.rewrite(e, rw, &ev, meta); err != nil {
				return nil, err
			}
		} else if err := b.countDropped(e, &ev); err != nil {
			return nil, err
		}
		ev.Log(b.opts.Logger, b.opID)
		e.alt = nil
		if e.meta != meta { // restored under an alias or another schema: recorded under the spec's from now on
			e.meta = meta
			if err := b.writeStateMeta(e); err != nil {
				return nil, err
			}
		}
	} else {
		var err error
		if e, err = b.newEntry(meta); err != nil {
			return nil, err
		}
	}
	e.st = newRawState(spec, stateBase{b: b, id: e.id})
	e.view = e.st
	if spec.TTL != nil && spec.TTL.Enabled() {
		v, err := ttlview.With(e.st, spec, b.opts.Clock, b.sweep.access)
		if err != nil {
			return nil, err
		}
		e.view, e.ttl = v, spec.TTL
		b.sweep.add(sweepState{id: e.id, name: spec.Name, kind: spec.Kind, ttl: spec.TTL})
	}
	return e.view, nil
}

// Keys implements backend.Keyed. Keys are yielded key group by key group.
func (b *Backend) Keys(name string, ns []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		if b.closed {
			yield(nil, backend.ErrClosed)
			return
		}
		e, ok := b.states[name]
		if !ok {
			yield(nil, fmt.Errorf("%w: %q in operator %s", backend.ErrUnknownState, name, b.opID))
			return
		}
		if q, ok := e.st.(*heapTimerQueue); ok {
			q.keys(ns, yield)
			return
		}
		it, err := b.newIter(nil)
		if err != nil {
			yield(nil, fmt.Errorf("lsm backend: keys of state %q: %w", name, b.dbErr(err)))
			return
		}
		defer it.Close()
		var last []byte
		haveLast := false
		for kg := range b.rng.All() {
			// Fresh bounds each time: Pebble keeps the slices it was given.
			lo := appendStatePrefix(nil, kg, e.id)
			hi := prefixEnd(lo)
			it.SetBounds(lo, hi)
			haveLast = false
			var seen map[string]bool // timers: a key's timers are not adjacent
			if e.meta.Kind == backend.KindTimers {
				seen = map[string]bool{}
			}
			for valid := it.First(); valid; valid = it.Next() {
				var d decodedKey
				var err error
				if seen != nil {
					var t backend.Timer
					_, t, err = decodeTimerKey(it.Key())
					d.key, d.ns = t.Key, t.Namespace
					if err == nil && bytes.Equal(d.ns, ns) {
						if seen[string(d.key)] {
							continue
						}
						seen[string(d.key)] = true
					}
				} else {
					d, err = decodeKey(it.Key())
				}
				if err != nil {
					yield(nil, b.corruptKey(it.Key(), err))
					return
				}
				if !bytes.Equal(d.ns, ns) {
					continue
				}
				// Map entries of one key and namespace are adjacent: yield the key once.
				if haveLast && bytes.Equal(last, d.key) {
					continue
				}
				last, haveLast = append(last[:0], d.key...), true
				if !yield(d.key, nil) {
					return
				}
			}
			if err := it.Error(); err != nil {
				yield(nil, fmt.Errorf("lsm backend: keys of state %q: %w", name, b.dbErr(err)))
				return
			}
		}
	}
}

func (b *Backend) corruptKey(k []byte, err error) error {
	return fmt.Errorf("lsm backend: operator %s: database in %s holds %w (key %x)", b.opID, b.dbDir, err, k[:min(len(k), 64)])
}

// Close implements backend.Keyed: it closes the database and removes the working
// directory. Snapshots not yet run or released are released. Close is idempotent.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	for _, f := range b.onClose {
		f()
	}
	b.hasKey = false
	b.mu.Lock()
	snaps := slices.Collect(func(yield func(*fullSnapshot) bool) {
		for s := range b.snaps {
			if !yield(s) {
				return
			}
		}
	})
	b.mu.Unlock()
	for _, s := range snaps {
		s.Release()
	}
	var errs []error
	b.dropWrites()
	b.dbMu.Lock()
	if b.db != nil {
		errs = append(errs, b.db.Close())
		b.db = nil
	}
	b.dbMu.Unlock()
	errs = append(errs, b.opts.FS.RemoveAll(b.workDir))
	b.faults.logClosed()
	// Unlocked only now: a sweep never sees the directory half removed and unlocked.
	errs = append(errs, b.lock.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lsm backend: close operator %s: %w", b.opID, err)
	}
	return nil
}

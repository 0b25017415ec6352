package ttlview

import (
	"fmt"
	"iter"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state/ttl"
)

// Stamped is a value of a TTL state as the backend stores it: the user's value V and the time
// At it was last stamped (see backend.Clock.Stamp). A backend creates a TTL state's raw state with
// RawSpec, whose serializer is StampSerializer's, and wraps it with With; it reads At to
// clean up expired entries and to leave them out of full snapshots.
type Stamped struct {
	At int64
	V  any
}

// StampSerializer returns the serializer of a TTL state's stored values: Stamped values
// encoded as the stamp (backend.AppendStamp) followed by inner's encoding of V. Its ID is inner's:
// whether a state's values are stamped is recorded beside the ID (snapshot.StateMeta.TTL).
func StampSerializer(inner serde.Erased) serde.Erased { return stampSerializer{inner} }

type stampSerializer struct{ inner serde.Erased }

func (s stampSerializer) ID() string      { return s.inner.ID() }
func (s stampSerializer) Immutable() bool { return s.inner.Immutable() }

func (s stampSerializer) AppendAny(dst []byte, v any) ([]byte, error) {
	st, ok := v.(Stamped)
	if !ok {
		return dst, fmt.Errorf("TTL state of %s: cannot encode a %T, want ttlview.Stamped", s.inner.ID(), v)
	}
	return s.inner.AppendAny(backend.AppendStamp(dst, st.At), st.V)
}

func (s stampSerializer) DecodeAny(src []byte) (any, error) {
	at, rest, err := backend.StampOf(src)
	if err != nil {
		return nil, err
	}
	v, err := s.inner.DecodeAny(rest)
	if err != nil {
		return nil, err
	}
	return Stamped{At: at, V: v}, nil
}

func (s stampSerializer) Copy(v any) (any, error) {
	st, ok := v.(Stamped)
	if !ok {
		return v, nil
	}
	c, err := s.inner.Copy(st.V)
	return Stamped{At: st.At, V: c}, err
}

// Unwrap returns the serializer of the user's values, for backends that need it (schemas).
func (s stampSerializer) Unwrap() serde.Erased { return s.inner }

// RawSpec returns the spec a backend creates a TTL state's stored state with: spec with values
// Stamped (StampSerializer) and no word form of the value (user keys keep theirs). A spec
// without TTL is returned unchanged.
func RawSpec(spec backend.Spec) backend.Spec {
	if spec.TTL == nil || !spec.TTL.Enabled() {
		return spec
	}
	spec.Value = StampSerializer(spec.Value)
	spec.Word = nil
	return spec
}

// StampedValue is a raw Value of a TTL state (RawSpec) that keeps each value's stamp beside
// it rather than in a Stamped box. With uses these methods when raw implements them, so
// that a read follows one pointer less and a write allocates no box; Value and Update still
// return and take Stamped values.
type StampedValue interface {
	backend.Value
	// StampedValue returns the current value and its stamp.
	StampedValue() (v any, at int64, ok bool, err error)
	// UpdateStamped sets the current value to v stamped at.
	UpdateStamped(v any, at int64) error
}

// ttlBase is what the TTL states With returns share.
type ttlBase struct {
	cfg   ttl.Config
	ms    int64
	clock *backend.Clock
	// access is called on every access of the state (a backend's incremental cleanup); nil
	// for none.
	access func()
}

func (t *ttlBase) touch() {
	if t.access != nil {
		t.access()
	}
}

// check judges st at now: whether to return it, whether it is expired, and whether a read
// must write it back with a new stamp (OnReadAndWrite, or a NoStamp entry now that the time
// is known).
func (t *ttlBase) check(st Stamped, now int64) (visible, expired, restamp bool) {
	if backend.Expired(st.At, t.ms, now) {
		return t.cfg.Visibility == ttl.ReturnExpiredIfNotCleanedUp, true, false
	}
	restamp = t.cfg.Update == ttl.OnReadAndWrite || (st.At == backend.NoStamp && now != backend.NoStamp)
	return true, false, restamp
}

// With returns the state a TTL spec's descriptor sees over raw, the state a backend created
// with RawSpec(spec): values go in and come out plain, are stamped with clock.Stamp on every
// write (and read, with ttl.OnReadAndWrite: a read never moves a stamp back, which under event
// time a late record's timestamp would), and expired ones are not returned (unless
// ttl.ReturnExpiredIfNotCleanedUp) and are removed when read, as Flink's TTL state
// decorators do. List elements and map entries expire one by one. Over a raw state of word
// values (RawWordSpec: a StampedWordValue, StampedWordList or StampedWordMap) the state is a
// WordValue, WordList or WordMap too. access, if not nil, is
// called on every access (the hashmap backend's incremental cleanup). raw must be a Value,
// List or Map.
func With(raw backend.State, spec backend.Spec, clock *backend.Clock, access func()) (backend.State, error) {
	if err := spec.TTL.Validate(); err != nil {
		return nil, fmt.Errorf("state %q: %w", spec.Name, err)
	}
	if clock == nil {
		clock = &backend.Clock{}
	}
	b := ttlBase{cfg: *spec.TTL, ms: spec.TTL.Millis(), clock: clock, access: access}
	switch r := raw.(type) {
	case backend.Map:
		m := &ttlMap{ttlBase: b, raw: r}
		if sw, ok := r.(StampedWordMap); ok && spec.Word != nil {
			return &ttlWordMap{ttlMap: m, sw: sw, box: spec.Word.Box}, nil
		}
		if wk, ok := r.(backend.WordKeyMap); ok && spec.UserKeyWord != nil && spec.UserKeyWord.Box != nil {
			return &ttlWordKeyMap{ttlMap: m, wk: wk, box: spec.UserKeyWord.Box}, nil
		}
		return m, nil
	case backend.List:
		l := &ttlList{ttlBase: b, raw: r}
		if sw, ok := r.(StampedWordList); ok && spec.Word != nil {
			return &ttlWordList{ttlList: l, sw: sw}, nil
		}
		return l, nil
	case backend.Value:
		fast, _ := r.(StampedValue)
		v := &ttlValue{ttlBase: b, raw: r, fast: fast}
		if sw, ok := r.(StampedWordValue); ok && spec.Word != nil {
			return &ttlWordValue{ttlValue: v, sw: sw}, nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("state %q: TTL over a %T", spec.Name, raw)
}

func (t *ttlBase) stamped(v any) Stamped { return Stamped{At: t.clock.Stamp(t.cfg.Time), V: v} }

// restamped is st stamped again by a read: with the time now, but never earlier than it was
// (under event time a read for a late record must not shorten the entry's life: its last
// access is the latest time it was accessed at).
func (t *ttlBase) restamped(st Stamped) Stamped {
	return Stamped{At: t.restampAt(st.At), V: st.V}
}

func (t *ttlBase) now() int64 { return t.clock.Now(t.cfg.Time) }

func stampedOf(v any) (Stamped, error) {
	st, ok := v.(Stamped)
	if !ok {
		return Stamped{}, fmt.Errorf("TTL state holds a %T, want ttlview.Stamped", v)
	}
	return st, nil
}

type ttlValue struct {
	ttlBase
	raw  backend.Value
	fast StampedValue // raw, when it keeps stamps unboxed; else nil
}

func (s *ttlValue) SetNamespace(ns []byte) { s.raw.SetNamespace(ns) }
func (s *ttlValue) Clear() error           { s.touch(); return s.raw.Clear() }

func (s *ttlValue) Update(v any) error {
	s.touch()
	if s.fast != nil {
		return s.fast.UpdateStamped(v, s.clock.Stamp(s.cfg.Time))
	}
	return s.raw.Update(s.stamped(v))
}

// get returns the raw state's current value.
func (s *ttlValue) get() (Stamped, bool, error) {
	if s.fast != nil {
		v, at, ok, err := s.fast.StampedValue()
		return Stamped{At: at, V: v}, ok, err
	}
	v, ok, err := s.raw.Value()
	if !ok || err != nil {
		return Stamped{}, false, err
	}
	st, err := stampedOf(v)
	return st, err == nil, err
}

func (s *ttlValue) Value() (any, bool, error) {
	s.touch()
	st, ok, err := s.get()
	if !ok || err != nil {
		return nil, false, err
	}
	visible, expired, restamp := s.check(st, s.now())
	switch {
	case expired:
		if err := s.raw.Clear(); err != nil {
			return nil, false, err
		}
	case restamp && s.fast != nil:
		if err := s.fast.UpdateStamped(st.V, s.restamped(st).At); err != nil {
			return nil, false, err
		}
	case restamp:
		if err := s.raw.Update(s.restamped(st)); err != nil {
			return nil, false, err
		}
	}
	if !visible {
		return nil, false, nil
	}
	return st.V, true, nil
}

type ttlList struct {
	ttlBase
	raw backend.List
	// one holds the stamped element of a one-element Update: both backends copy what Update
	// passes them (heap into its cells, lsm into its encoding), so it is reused.
	one [1]any
}

func (s *ttlList) SetNamespace(ns []byte) { s.raw.SetNamespace(ns) }
func (s *ttlList) Clear() error           { s.touch(); return s.raw.Clear() }
func (s *ttlList) Add(v any) error        { s.touch(); return s.raw.Add(s.stamped(v)) }

func (s *ttlList) AddAll(vs []any) error {
	s.touch()
	return s.raw.AddAll(s.stampAll(vs))
}

func (s *ttlList) Update(vs []any) error {
	s.touch()
	if len(vs) == 1 {
		s.one[0] = s.stamped(vs[0])
		err := s.raw.Update(s.one[:])
		s.one[0] = nil
		return err
	}
	return s.raw.Update(s.stampAll(vs))
}

func (s *ttlList) stampAll(vs []any) []any {
	at := s.clock.Stamp(s.cfg.Time)
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = Stamped{At: at, V: v}
	}
	return out
}

// Get returns the visible elements; when some expired, or stamps change on read, the stored
// list is rewritten with the live elements (Flink's TtlListState does the same).
func (s *ttlList) Get() ([]any, error) {
	s.touch()
	raw, err := s.raw.Get()
	if err != nil || len(raw) == 0 {
		return nil, err
	}
	now := s.now()
	out := make([]any, 0, len(raw))
	var keep []any // the live elements, when the stored list must change
	rewrite := false
	for i, v := range raw {
		st, err := stampedOf(v)
		if err != nil {
			return nil, err
		}
		visible, expired, restamp := s.check(st, now)
		if visible {
			out = append(out, st.V)
		}
		if (expired || restamp) && !rewrite {
			rewrite = true
			keep = append(make([]any, 0, len(raw)), raw[:i]...)
		}
		if !expired && rewrite {
			if restamp {
				st = s.restamped(st)
			}
			keep = append(keep, st)
		}
	}
	if rewrite { // under OnReadAndWrite every element restamps, so keep holds them all renewed
		if err := s.raw.Update(keep); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type ttlMap struct {
	ttlBase
	raw backend.Map
	// err is a failed write-back of renewed stamps after an iteration the loop left early,
	// when it could not be yielded: the next call returns it.
	err error
}

func (s *ttlMap) pending() error {
	err := s.err
	s.err = nil
	return err
}

func (s *ttlMap) SetNamespace(ns []byte) { s.raw.SetNamespace(ns) }
func (s *ttlMap) Clear() error           { s.touch(); return s.raw.Clear() }
func (s *ttlMap) Put(uk, v any) error {
	if err := s.pending(); err != nil {
		return err
	}
	s.touch()
	return s.raw.Put(uk, s.stamped(v))
}

func (s *ttlMap) Remove(uk any) error {
	if err := s.pending(); err != nil {
		return err
	}
	s.touch()
	return s.raw.Remove(uk)
}

func (s *ttlMap) Get(uk any) (any, bool, error) {
	if err := s.pending(); err != nil {
		return nil, false, err
	}
	s.touch()
	v, ok, err := s.raw.Get(uk)
	if !ok || err != nil {
		return nil, false, err
	}
	return s.read(v, func() error { return s.raw.Remove(uk) }, func(st Stamped) error { return s.raw.Put(uk, st) })
}

// read judges the stored entry v that a lookup found: it removes it when expired, writes it
// back with its renewed stamp when a read renews it, and returns what the read sees.
func (s *ttlMap) read(v any, remove func() error, put func(Stamped) error) (any, bool, error) {
	st, err := stampedOf(v)
	if err != nil {
		return nil, false, err
	}
	visible, expired, restamp := s.check(st, s.now())
	switch {
	case expired:
		err = remove()
	case restamp:
		err = put(s.restamped(st))
	}
	if err != nil || !visible {
		return nil, false, err
	}
	return st.V, true, nil
}

// ttlWordKeyMap is a ttlMap over a raw map that looks its user keys up as words: it is a
// WordKeyMap too, so that a read of a word user key boxes nothing.
type ttlWordKeyMap struct {
	*ttlMap
	wk  backend.WordKeyMap
	box func(uint64) any // the user key of a word, to write a renewed stamp
}

// GetWordKey implements WordKeyMap as Get does Map.Get.
func (s *ttlWordKeyMap) GetWordKey(uk uint64) (any, bool, error) {
	if err := s.pending(); err != nil {
		return nil, false, err
	}
	s.touch()
	v, ok, err := s.wk.GetWordKey(uk)
	if !ok || err != nil {
		return nil, false, err
	}
	return s.read(v, func() error { return s.wk.RemoveWordKey(uk) }, func(st Stamped) error { return s.raw.Put(s.box(uk), st) })
}

// ContainsWordKey implements WordKeyMap.
func (s *ttlWordKeyMap) ContainsWordKey(uk uint64) (bool, error) {
	_, ok, err := s.GetWordKey(uk)
	return ok, err
}

// RemoveWordKey implements WordKeyMap.
func (s *ttlWordKeyMap) RemoveWordKey(uk uint64) error {
	if err := s.pending(); err != nil {
		return err
	}
	s.touch()
	return s.wk.RemoveWordKey(uk)
}

func (s *ttlMap) Contains(uk any) (bool, error) {
	_, ok, err := s.Get(uk)
	return ok, err
}

func (s *ttlMap) IsEmpty() (bool, error) {
	for _, err := range s.All() {
		return false, err
	}
	return true, nil
}

// All yields the visible entries and removes the expired ones it passes. Entries whose stamp
// a read renews are written back after the iteration (a Map may lose only the entry just
// yielded while it iterates), also when the loop stops early; a write-back that fails then
// is returned by the state's next call.
func (s *ttlMap) All() iter.Seq2[backend.MapEntry, error] {
	return func(yield func(backend.MapEntry, error) bool) {
		if err := s.pending(); err != nil {
			yield(backend.MapEntry{}, err)
			return
		}
		s.touch()
		now := s.now()
		var renew []backend.MapEntry // Value: the Stamped entry read
		stopped := true
		defer func() {
			for _, e := range renew {
				if err := s.raw.Put(e.Key, s.restamped(e.Value.(Stamped))); err != nil {
					if stopped {
						s.err = err
					} else {
						yield(backend.MapEntry{}, err)
					}
					return
				}
			}
		}()
		for e, err := range s.raw.All() {
			if err != nil {
				yield(backend.MapEntry{}, err)
				return
			}
			st, err := stampedOf(e.Value)
			if err != nil {
				yield(backend.MapEntry{}, err)
				return
			}
			visible, expired, restamp := s.check(st, now)
			if expired {
				if err := s.raw.Remove(e.Key); err != nil {
					yield(backend.MapEntry{}, err)
					return
				}
			} else if restamp {
				renew = append(renew, backend.MapEntry{Key: e.Key, Value: st})
			}
			if visible && !yield(backend.MapEntry{Key: e.Key, Value: st.V}, nil) {
				return
			}
		}
		stopped = false
	}
}

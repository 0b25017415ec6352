package backendtest

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/streamstate/streamstate/state/ttl"
)

// noStamp is the model's "time not known" (backend.NoStamp, written out so that the model
// does not lean on the code it checks).
const noStamp = math.MinInt64

// tKey is a key and namespace of the TTL model.
type tKey struct {
	k  int64
	ns string
}

// tEntry is a value the model knows of with the time it was stamped. maybe marks a live
// entry the backend may or may not hold: one merged from an entry a read could not see, or
// one that had expired when a snapshot was taken (a full snapshot drops it, an incremental one
// may keep it) and lives again under a longer TTL or while event time is unknown.
type tEntry struct {
	v     int64
	at    int64
	maybe bool
}

// tSum is a reducing state: the sums it may hold (more than one when an Add reduced into an
// entry that may or may not still be stored).
type tSum struct {
	cands []int64
	at    int64
	maybe bool
}

// ttlModel is the truth of the TTL model test: Flink's TTL semantics over a clock of its own.
// An entry is judged by judge() and stamped with stamp(); an expired entry may still be
// stored (cleanup is the backend's business), so reads may return it only with
// ReturnExpiredIfNotCleanedUp, and a read removes it.
type ttlModel struct {
	cfg       ttl.Config
	ms        int64 // the TTL in ms
	now       int64 // processing time
	wm, ts    int64 // event time: watermark and record timestamp, noStamp when unknown
	value     map[tKey]*tEntry
	list      map[tKey][]tEntry
	mp        map[tKey]map[int64]*tEntry
	sum       map[tKey]*tSum
	nextValue int64 // list elements are unique, so that a read says which ones it returned
}

func (m *ttlModel) judge() int64 {
	if m.cfg.Time == ttl.EventTime {
		return m.wm
	}
	return m.now
}

func (m *ttlModel) stamp() int64 {
	if m.cfg.Time != ttl.EventTime {
		return m.now
	}
	if m.ts != noStamp {
		return m.ts
	}
	return m.wm
}

func (m *ttlModel) expired(at int64) bool {
	now := m.judge()
	return at != noStamp && now != noStamp && at+m.ms <= now
}

// restamp reports whether a read of a live entry stamped at stamps it again.
func (m *ttlModel) restamp(at int64) bool {
	return m.cfg.Update == ttl.OnReadAndWrite || (at == noStamp && m.judge() != noStamp)
}

// restampTo is the stamp a read gives a live entry stamped at: the time of the read, never
// earlier than at (a read for a late record does not shorten an entry's life).
func (m *ttlModel) restampTo(at int64) int64 { return max(at, m.stamp()) }

func (m *ttlModel) returnsExpired() bool { return m.cfg.Visibility == ttl.ReturnExpiredIfNotCleanedUp }

// observe applies a read of entry e that returned (got, ok): it checks the read and returns
// the entry as it is after it (nil: gone).
func (m *ttlModel) observe(e *tEntry, got int64, ok bool) (*tEntry, error) {
	if e == nil {
		if ok {
			return nil, fmt.Errorf("returned %d, want nothing", got)
		}
		return nil, nil
	}
	exp := m.expired(e.at)
	switch {
	case ok && got != e.v:
		return nil, fmt.Errorf("returned %d, want %d (stamped %d, expired %v)", got, e.v, e.at, exp)
	case ok && exp && !m.returnsExpired():
		return nil, fmt.Errorf("returned %d expired (stamped %d, judged at %d, TTL %d ms)", got, e.at, m.judge(), m.ms)
	case !ok && !exp && !e.maybe:
		return nil, fmt.Errorf("returned nothing, want %d live (stamped %d, judged at %d, TTL %d ms)", e.v, e.at, m.judge(), m.ms)
	}
	if exp || !ok {
		return nil, nil
	}
	n := *e
	n.maybe = false
	if m.restamp(n.at) {
		n.at = m.restampTo(n.at)
	}
	return &n, nil
}

// observeList applies a list read that returned got.
func (m *ttlModel) observeList(k tKey, got []int64) error {
	els := m.list[k]
	idx := make(map[int64]int, len(els))
	for i, e := range els {
		idx[e.v] = i
	}
	present := make([]bool, len(els))
	last := -1
	for _, v := range got {
		i, ok := idx[v]
		if !ok || i <= last {
			return fmt.Errorf("list %v: element %d unknown or out of order, model %v", got, v, els)
		}
		present[i], last = true, i
	}
	var keep []tEntry
	for i, e := range els {
		n, err := m.observe(&e, e.v, present[i])
		if err != nil {
			return fmt.Errorf("list %v, element %d: %w", got, e.v, err)
		}
		if n != nil {
			keep = append(keep, *n)
		}
	}
	m.setList(k, keep)
	return nil
}

func (m *ttlModel) setList(k tKey, els []tEntry) {
	if len(els) == 0 {
		delete(m.list, k)
		return
	}
	m.list[k] = els
}

// observeMap applies a full read of a map (All) that returned got.
func (m *ttlModel) observeMap(k tKey, got map[int64]int64) error {
	want := m.mp[k]
	for uk := range got {
		if want[uk] == nil {
			return fmt.Errorf("map %v: unknown entry %d, model %v", got, uk, fmtMap(want))
		}
	}
	for _, uk := range slices.Sorted(maps.Keys(want)) {
		v, ok := got[uk]
		n, err := m.observe(want[uk], v, ok)
		if err != nil {
			return fmt.Errorf("map %v, entry %d: %w", got, uk, err)
		}
		m.setEntry(k, uk, n)
	}
	return nil
}

func (m *ttlModel) setEntry(k tKey, uk int64, e *tEntry) {
	if e == nil {
		delete(m.mp[k], uk)
		if len(m.mp[k]) == 0 {
			delete(m.mp, k)
		}
		return
	}
	if m.mp[k] == nil {
		m.mp[k] = map[int64]*tEntry{}
	}
	m.mp[k][uk] = e
}

func fmtMap(m map[int64]*tEntry) string {
	out := map[int64]tEntry{}
	for k, e := range m {
		out[k] = *e
	}
	return fmt.Sprint(out)
}

// sumOptions returns what a read of the reducing state at k may see: its sums, and whether
// it may see nothing.
func (m *ttlModel) sumOptions(k tKey) (cands []int64, none bool) {
	s := m.sum[k]
	switch {
	case s == nil:
		return nil, true
	case m.expired(s.at) && !m.returnsExpired():
		return nil, true
	}
	return s.cands, s.maybe || m.expired(s.at)
}

// observeSum applies a read of the reducing state at k that returned (got, ok).
func (m *ttlModel) observeSum(k tKey, got int64, ok bool) error {
	cands, none := m.sumOptions(k)
	if (ok && !slices.Contains(cands, got)) || (!ok && !none) {
		return fmt.Errorf("sum = %d, %v; want one of %v (or nothing: %v)", got, ok, cands, none)
	}
	s := m.sum[k]
	if !ok || m.expired(s.at) {
		delete(m.sum, k)
		return nil
	}
	n := tSum{cands: []int64{got}, at: s.at}
	if m.restamp(n.at) {
		n.at = m.restampTo(n.at)
	}
	m.sum[k] = &n
	return nil
}

// addSum applies Add(x): a read of the sum (unseen), then a write of the reduced value.
func (m *ttlModel) addSum(k tKey, x int64) {
	cands, none := m.sumOptions(k)
	var out []int64
	for _, c := range cands {
		out = append(out, c+x)
	}
	if none {
		out = append(out, x)
	}
	m.sum[k] = &tSum{cands: dedupe(out), at: m.stamp()}
}

// mergeSum applies MergeNamespaces(to, [from]) of the reducing state: from's sum (if read)
// plus to's (if read) is written to to.
func (m *ttlModel) mergeSum(to, from tKey) {
	fc, fnone := m.sumOptions(from)
	tc, tnone := m.sumOptions(to)
	delete(m.sum, from)
	var out []int64
	maybe := false
	for _, f := range optionsOf(fc, fnone) {
		for _, t := range optionsOf(tc, tnone) {
			switch {
			case f == nil && t == nil:
				maybe = true
			case f == nil:
				out = append(out, *t)
			case t == nil:
				out = append(out, *f)
			default:
				out = append(out, *f+*t)
			}
		}
	}
	if len(out) == 0 { // neither was read: to is empty (an expired one was cleared)
		delete(m.sum, to)
		return
	}
	m.sum[to] = &tSum{cands: dedupe(out), at: m.stamp(), maybe: maybe}
}

func optionsOf(cands []int64, none bool) []*int64 {
	var out []*int64
	for i := range cands {
		out = append(out, &cands[i])
	}
	if none {
		out = append(out, nil)
	}
	return out
}

func dedupe(vs []int64) []int64 { slices.Sort(vs); return slices.Compact(vs) }

// mergeList applies MergeNamespaces(to, [from]) of the list state: from's visible elements,
// read then cleared, are added to to's with the stamp of now.
func (m *ttlModel) mergeList(to, from tKey) {
	var add []tEntry
	for _, e := range m.list[from] {
		exp := m.expired(e.at)
		if exp && !m.returnsExpired() {
			continue
		}
		add = append(add, tEntry{v: e.v, at: m.stamp(), maybe: e.maybe || exp})
	}
	delete(m.list, from)
	m.setList(to, append(slices.Clone(m.list[to]), add...))
}

// restored marks, after a restore, the entries snapExpired says had expired when the snapshot
// was taken as maybe: a full snapshot dropped them, an incremental one may have kept them.
func (m *ttlModel) restored(snapExpired func(at int64) bool) {
	for k, e := range m.value {
		if snapExpired(e.at) {
			m.value[k] = &tEntry{v: e.v, at: e.at, maybe: true}
		}
	}
	for k, els := range m.list {
		for i := range els {
			if snapExpired(els[i].at) {
				els[i].maybe = true
			}
		}
		m.list[k] = els
	}
	for _, es := range m.mp {
		for uk, e := range es {
			if snapExpired(e.at) {
				es[uk] = &tEntry{v: e.v, at: e.at, maybe: true}
			}
		}
	}
	for k, s := range m.sum {
		if snapExpired(s.at) {
			m.sum[k] = &tSum{cands: s.cands, at: s.at, maybe: true}
		}
	}
}

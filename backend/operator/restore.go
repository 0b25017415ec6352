package operator

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// rawState is a restored state that is not registered yet: its share of the old subtasks'
// items, still serialized.
type rawState struct {
	meta snapshot.OperatorStateMeta
	// alt are other serializer IDs the state was recorded under by other old subtasks: the
	// registering descriptor must read them too.
	alt []snapshot.OperatorStateMeta
	// keys are the broadcast entries' keys (nil for list states); values the elements or the
	// entries' values.
	keys, values [][]byte
	// files are the files the items came from, for errors.
	files []string
}

// decode turns the restored items into a registered state using spec's serializers, which
// read the IDs the items were written with (as their own IDs or aliases). The state is
// recorded as meta, the spec's IDs, from then on.
func (r *rawState) decode(b *Backend, spec backend.Spec, meta snapshot.OperatorStateMeta) (opState, error) {
	bad := func(what string, i int, err error) error {
		return fmt.Errorf("%w: operator state %q restored from %s: %s %d: %v",
			snapshot.ErrCorrupt, r.meta.Name, strings.Join(r.files, ", "), what, i, err)
	}
	if r.meta.Mode == snapshot.ModeBroadcast {
		s := &broadcastState{b: b, m: meta, key: spec.UserKey, val: spec.Value, entries: make(map[string]entry, len(r.keys))}
		for i := range r.keys {
			k, err := spec.UserKey.DecodeAny(r.keys[i])
			if err != nil {
				return nil, bad("key of entry", i, err)
			}
			v, err := spec.Value.DecodeAny(r.values[i])
			if err != nil {
				return nil, bad("value of entry", i, err)
			}
			s.entries[string(r.keys[i])] = entry{key: k, value: v}
		}
		return s, nil
	}
	s := &listState{b: b, m: meta, val: spec.Value}
	if len(r.values) > 0 {
		s.list = make([]any, len(r.values))
	}
	for i, raw := range r.values {
		v, err := spec.Value.DecodeAny(raw)
		if err != nil {
			return nil, bad("element", i, err)
		}
		s.list[i] = v
	}
	return s, nil
}

// rewrite applies rw, a migration, to every restored element or entry value, still
// serialized. Its error names the state and the item.
func (r *rawState) rewrite(b *Backend, rw *backend.Rewrite) error {
	b.opts.Logger.Info("migrating restored operator state", "operator", b.opts.OperatorID, "items", len(r.values), "rewrite", rw.String())
	out := make([][]byte, len(r.values)) // replaces r.values only when all items migrated
	for i, v := range r.values {
		var err error
		if out[i], err = rw.Value(nil, v); err != nil {
			return fmt.Errorf("operator backend: restore from %s: item %d: %w", strings.Join(r.files, ", "), i, err)
		}
	}
	r.values = out
	return nil
}

// span is a half-open range [lo, hi) of the concatenation of a split state's lists.
type span struct{ lo, hi int64 }

// splitAssignment deals n elements to q subtasks as Flink's RoundRobinOperatorStateRepartitioner
// does: contiguous chunks of n/q elements, the first n%q of them (counted from subtask start,
// wrapping around) one larger; chunks are laid out in that order. next is where the following
// state's assignment starts, the first subtask that got no extra element, so the extras of
// successive states go round robin.
func splitAssignment(n int64, q, start int) (spans []span, next int) {
	spans = make([]span, q)
	base, extra := n/int64(q), n%int64(q)
	var pos int64
	for i := range q {
		idx := (i + start) % q
		c := base
		if int64(i) < extra {
			c++
		}
		spans[idx] = span{pos, pos + c}
		pos += c
	}
	return spans, (start + int(extra)) % q
}

// part is one old subtask's section of a state.
type part struct {
	handle int // index into the sorted handles
	meta   snapshot.OperatorStateMeta
}

// restore computes this subtask's share of every state of opts.Restore, reads it and keeps it
// serialized in b.raw.
func (b *Backend) restore(ctx context.Context) error {
	hs, err := sortHandles(b.opts.Restore)
	if err != nil {
		return err
	}
	oldP, newP, me := hs[0].Parallelism, b.opts.Parallelism, b.opts.SubtaskIndex

	// Every state's sections, in old subtask order, checked for consistency.
	parts := map[string][]part{}
	for i, h := range hs {
		for _, m := range h.States {
			if prev := parts[m.Name]; len(prev) > 0 {
				// Serializer IDs may differ (a subtask that registered the state after a
				// restore under an alias records the new ID, one that did not the old one):
				// the registering descriptor must read them all (rawState.alt).
				p := prev[0].meta
				if p.Mode != m.Mode {
					return &snapshot.FileError{Path: h.File.Path, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf(
						"operator state %q is %s state of %s/%s here but %s state of %s/%s in %s",
						m.Name, m.Mode, m.Value, m.UserKey, p.Mode, p.Value, p.UserKey, hs[prev[0].handle].File.Path)}
				}
			}
			parts[m.Name] = append(parts[m.Name], part{handle: i, meta: m})
		}
	}
	names := slices.Sorted(maps.Keys(parts))

	// What to read: take[name][handle] is the range of that section's items this subtask gets.
	take := map[string]map[int]span{}
	splitStart := 0
	for _, name := range names {
		ps := parts[name]
		t := map[int]span{}
		switch ps[0].meta.Mode {
		case snapshot.ModeSplit:
			if oldP == newP {
				for _, p := range ps {
					if hs[p.handle].Subtask == me {
						t[p.handle] = span{0, p.meta.Count}
					}
				}
				break
			}
			var total int64
			for _, p := range ps {
				total += p.meta.Count
			}
			var spans []span
			spans, splitStart = splitAssignment(total, newP, splitStart)
			mine := spans[me]
			var pos int64
			for _, p := range ps {
				lo, hi := max(mine.lo, pos), min(mine.hi, pos+p.meta.Count)
				if lo < hi {
					t[p.handle] = span{lo - pos, hi - pos}
				}
				pos += p.meta.Count
			}
		case snapshot.ModeUnion:
			var size int64
			for _, p := range ps {
				t[p.handle] = span{0, p.meta.Count}
				size += p.meta.Length
			}
			if w := b.opts.UnionSizeWarningBytes; w > 0 && size > w {
				b.opts.Logger.Warn("union list state is large: every subtask restores all of it, so it is shipped in full to each subtask; consider split list state or broadcast state",
					"operator", b.opts.OperatorID, "subtask", me, "state", name, "bytes", size,
					"warnBytes", w, "oldParallelism", oldP, "parallelism", newP)
			}
		case snapshot.ModeBroadcast:
			t[ps[0].handle] = span{0, ps[0].meta.Count} // the lowest old subtask's copy
		}
		take[name] = t
	}

	// One read per handle, of the sections this subtask needs.
	for name, ps := range parts {
		r := &rawState{meta: snapshot.OperatorStateMeta{Name: name, Mode: ps[0].meta.Mode,
			Value: ps[0].meta.Value, UserKey: ps[0].meta.UserKey, Schema: ps[0].meta.Schema, UserKeySchema: ps[0].meta.UserKeySchema}}
		for _, p := range ps[1:] {
			m := snapshot.OperatorStateMeta{Name: name, Mode: p.meta.Mode, Value: p.meta.Value, UserKey: p.meta.UserKey, Schema: p.meta.Schema, UserKeySchema: p.meta.UserKeySchema}
			if m != r.meta && !slices.Contains(r.alt, m) {
				r.alt = append(r.alt, m)
			}
		}
		b.raw[name] = r
	}
	for i, h := range hs {
		want := func(m snapshot.OperatorStateMeta) bool {
			_, ok := take[m.Name][i]
			return ok
		}
		if !slices.ContainsFunc(h.States, want) {
			continue
		}
		secs, err := snapshot.ReadOperatorSections(ctx, b.opts.Reader, h, want)
		if err != nil {
			return err
		}
		for j, sec := range secs {
			if sec == nil {
				continue
			}
			name := h.States[j].Name
			sp, r := take[name][i], b.raw[name]
			if sp.hi > int64(len(sec.Values)) { // ReadOperatorSections checked the count
				return &snapshot.FileError{Path: h.File.Path, Err: snapshot.ErrCorrupt,
					Detail: fmt.Sprintf("operator state %q has %d items, metadata says %d", name, len(sec.Values), h.States[j].Count)}
			}
			if sec.Keys != nil {
				r.keys = append(r.keys, sec.Keys[sp.lo:sp.hi]...)
			}
			r.values = append(r.values, sec.Values[sp.lo:sp.hi]...)
			r.files = append(r.files, h.File.Path)
		}
	}
	return nil
}

// sortHandles checks that the handles are of one previous run, one per subtask, and returns
// them in subtask order.
func sortHandles(in []*snapshot.OperatorStateHandle) ([]*snapshot.OperatorStateHandle, error) {
	hs := make([]*snapshot.OperatorStateHandle, 0, len(in))
	for i, h := range in {
		if h == nil {
			return nil, fmt.Errorf("restore handle %d is nil", i)
		}
		if err := h.Validate(); err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b *snapshot.OperatorStateHandle) int { return cmp.Compare(a.Subtask, b.Subtask) })
	for i, h := range hs {
		bad := func(format string, args ...any) error {
			return &snapshot.FileError{Path: h.File.Path, Err: snapshot.ErrCorrupt, Detail: fmt.Sprintf(format, args...)}
		}
		if h.Parallelism != hs[0].Parallelism {
			return nil, bad("operator state handle of parallelism %d restored together with one of parallelism %d (%s)",
				h.Parallelism, hs[0].Parallelism, hs[0].File.Path)
		}
		if i > 0 && hs[i-1].Subtask == h.Subtask {
			return nil, bad("two operator state handles of subtask %d (the other is %s)", h.Subtask, hs[i-1].File.Path)
		}
	}
	return hs, nil
}

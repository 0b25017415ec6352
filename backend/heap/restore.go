package heap

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// A restored state stays in its serialized form until its descriptor is registered: only then
// are its serializers known. Until then it is carried into snapshots unchanged.
type restored struct {
	m snapshot.StateMeta
	// alt are other serializer IDs the state was recorded under in other restored snapshots
	// (backend.MergeRestored): the registering descriptor must read them too.
	alt  []snapshot.StateMeta
	recs [][]rawRecord // per key group index
}

type rawRecord struct {
	key, ns, userKey, value []byte
	list                    [][]byte
	file                    string // the snapshot file the record was read from
}

// restorer is implemented by the state tables: insert one restored record.
type restorer interface {
	restore(kgIdx int, r *rawRecord) error
}

func (r *restored) meta() snapshot.StateMeta { return r.m }
func (r *restored) registered() bool         { return false }
func (r *restored) internal() backend.State  { return nil }
func (r *restored) freeze() frozen           { return r }

func (r *restored) eachKey(fn func(key, ns []byte) bool) {
	for _, recs := range r.recs {
		seen := map[string]bool{} // a map has a record per entry
		for _, rec := range recs {
			k := string(appendMapKey(nil, rec.key, rec.ns))
			if seen[k] {
				continue
			}
			seen[k] = true
			if !fn(rec.key, rec.ns) {
				return
			}
		}
	}
}

func (r *restored) empty(int) bool {
	for _, recs := range r.recs {
		if len(recs) > 0 {
			return false
		}
	}
	return true
}

// write writes the restored records as they were read. Expired entries of a TTL state are
// not dropped here: the TTL's duration is on the descriptor, which has not been registered
// yet (the snapshot records only the time characteristic), so the bytes are carried
// unchanged until a registration decodes them and the next snapshot judges them.
func (r *restored) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	for _, rec := range r.recs[kgIdx] {
		switch r.m.Kind {
		case backend.KindList:
			w.List(idx, rec.key, rec.ns, len(rec.list))
			for _, e := range rec.list {
				w.ListElement(e)
			}
		case backend.KindMap:
			w.MapEntry(idx, rec.key, rec.ns, rec.userKey, rec.value)
		default:
			w.Value(idx, rec.key, rec.ns, rec.value)
		}
	}
	return scratch, nil
}

// restore reads the records of opts.Restore that lie in the backend's key-group range. The
// snapshot streams in key group by key group (snapshot.ReadKeyGroups): besides the restored
// records themselves, which are the backend's state, a restore holds only the block being
// decoded and the read-ahead. A failure found after some records were copied (a damaged
// block, or the whole-file checksum verified once the last block is read) fails New, which
// drops the backend with them, and the restore falls back to an earlier checkpoint.
func (b *Backend) restore(ctx context.Context, opts backend.Options) error {
	var used []*snapshot.KeyedStateHandle
	for _, h := range opts.Restore {
		if h.KeyGroupRange.Intersect(b.rng).Len() == 0 {
			continue
		}
		if opts.Reader == nil {
			return fmt.Errorf("heap backend: backend.Options.Reader is required to restore")
		}
		if err := backend.CheckKeySerializer(b.opID, h.KeySerializer, b.keySer, opts.KeySerializerAliases); err != nil {
			return err
		}
		used = append(used, h)
		var err error
		if h.Incremental != nil && len(h.Incremental.Chain) > 0 {
			err = b.restoreChain(ctx, opts.Reader, h.Incremental.Chain)
		} else {
			err = b.restoreHandle(ctx, opts.Reader, h, nil)
		}
		if err != nil {
			return fmt.Errorf("heap backend: restore operator %s: %w", b.opID, err)
		}
	}
	if b.inc != nil && opts.Claim && len(used) == 1 && used[0].KeyGroupRange == b.rng &&
		used[0].Incremental != nil && len(used[0].Incremental.Chain) > 0 {
		// Claimed: the next checkpoint is a delta on the restored chain.
		b.inc.confirmed = newChain(slices.Clone(used[0].Incremental.Chain))
	}
	return nil
}

// restoreHandle reads the records of h's key groups in b's range into restored states. keep,
// if not nil, filters them (restoreChain); it sees tombstones, which are never kept.
func (b *Backend) restoreHandle(ctx context.Context, r snapshot.Reader, h *snapshot.KeyedStateHandle,
	keep func(t *restored, kg int, rec *snapshot.Record) bool) error {
	targets := make([]*restored, len(h.States))
	for i, m := range h.States {
		t, ok := b.states[m.Name]
		if !ok {
			t = &restored{m: m, recs: make([][]rawRecord, b.rng.Len())}
			b.states[m.Name] = t
			b.order = append(b.order, m.Name)
		} else if differs, err := backend.MergeRestored(b.opID, t.meta(), m); err != nil {
			return err
		} else if r := t.(*restored); differs && !slices.Contains(r.alt, m) {
			r.alt = append(r.alt, m)
		}
		targets[i] = t.(*restored)
	}
	return snapshot.ReadKeyGroups(ctx, r, h, b.rng, func(kg int, rec *snapshot.Record) error {
		t := targets[rec.State]
		if keep != nil && !keep(t, kg, rec) || rec.Tombstone != snapshot.TombstoneNone {
			return nil
		}
		i := kg - b.rng.Start
		t.recs[i] = append(t.recs[i], copyRecord(rec, h.File.Path))
		return nil
	})
}

func copyRecord(r *snapshot.Record, file string) rawRecord {
	c := rawRecord{key: slices.Clone(r.Key), ns: slices.Clone(r.Namespace),
		userKey: slices.Clone(r.UserKey), value: slices.Clone(r.Value), file: file}
	if r.List != nil {
		c.list = make([][]byte, len(r.List))
		for i, e := range r.List {
			c.list[i] = slices.Clone(e)
		}
	}
	return c
}

// register turns a restored state into a live one by decoding its records with spec's
// serializers. A record that does not decode is corrupt (its block's checksum held, so the
// bytes are what was written, or a serializer of the same ID writes another format): the
// error wraps snapshot.ErrCorrupt and names the file, so a restore falls back to an older
// checkpoint.
func (b *Backend) register(spec backend.Spec, meta snapshot.StateMeta, r *restored, rw *backend.Rewrite) (table, error) {
	t := b.newTable(rawSpec(spec), meta) // recorded under the spec's serializer IDs from now on (aliases)
	ins := t.(restorer)
	if rw != nil {
		if err := b.rewrite(r, rw); err != nil {
			return nil, err
		}
	}
	for i, recs := range r.recs {
		for j := range recs {
			if err := ins.restore(i, &recs[j]); err != nil {
				ser := r.m.Value
				if r.m.UserKey != "" {
					ser += ", user key " + r.m.UserKey
				}
				return nil, fmt.Errorf("heap backend: restore state %q of operator %s: %w", spec.Name, b.opID, &snapshot.FileError{
					Path: recs[j].file, Err: snapshot.ErrCorrupt,
					Detail: fmt.Sprintf("a record of state %q in key group %d does not decode with serializer %s: %v", spec.Name, b.rng.Start+i, ser, err)})
			}
		}
	}
	b.states[spec.Name] = t
	if rw != nil || meta != r.m || len(r.alt) > 0 {
		b.resetBase() // the chain's files hold the records as they were
	}
	b.track(spec.Name, t)
	return t, nil
}

// rewrite applies rw to every value of the restored state r, still in its serialized form.
func (b *Backend) rewrite(r *restored, rw *backend.Rewrite) error {
	n := 0
	for _, recs := range r.recs {
		n += len(recs)
	}
	if b.logger != nil {
		b.logger.Info("rewriting restored state", "operator", b.opID, "records", n, "rewrite", rw.String())
	}
	// The rewritten values replace the recorded ones only once all are rewritten: a failed
	// rewrite leaves the restored state as it was, for a registration that reads it as is.
	var vals [][]byte // values and list elements, in record order
	for i, recs := range r.recs {
		for j := range recs {
			rec := &recs[j]
			var err error
			if r.m.Kind == backend.KindList {
				for _, e := range rec.list {
					var v []byte
					if v, err = rw.Value(nil, e); err != nil {
						break
					}
					vals = append(vals, v)
				}
			} else {
				var v []byte
				v, err = rw.Value(nil, rec.value)
				vals = append(vals, v)
			}
			if errors.Is(err, snapshot.ErrCorrupt) { // bad recorded bytes: name their file
				return fmt.Errorf("heap backend: restore state %q of operator %s: %w", r.m.Name, b.opID, &snapshot.FileError{
					Path: rec.file, Err: snapshot.ErrCorrupt,
					Detail: fmt.Sprintf("a record of state %q in key group %d cannot be rewritten: %v", r.m.Name, b.rng.Start+i, err)})
			}
			if err != nil {
				return fmt.Errorf("heap backend: restore state %q of operator %s: a record in key group %d: %w", r.m.Name, b.opID, b.rng.Start+i, err)
			}
		}
	}
	for _, recs := range r.recs {
		for j := range recs {
			if r.m.Kind == backend.KindList {
				n := copy(recs[j].list, vals)
				vals = vals[n:]
			} else {
				recs[j].value, vals = vals[0], vals[1:]
			}
		}
	}
	return nil
}

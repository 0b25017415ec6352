package heap

import (
	"encoding/binary"
)

// skeyMax is the longest key encoding stored in a table's short map.
const skeyMax = 15

// skey is a short map key: a key encoding of up to 15 bytes in the void namespace, with its
// length in the last byte. 16 bytes inline, so a lookup hashes and compares without following
// a pointer: the common case (int64 or short string keys, no window) costs one map probe.
type skey [16]byte

// tkey addresses one (key, namespace) in a kgTable: the short form when it fits, else the
// general form `uvarint(len(key)) key ns`.
type tkey struct {
	form uint8 // formU64, formShort or formLong
	u    uint64
	s    skey
	m    mkey
}

// The forms of a tkey, by map: 8-byte key encodings (int64, uint64, float64, time keys) in the
// void namespace are a uint64, the fastest Go map key; other short ones an skey.
const (
	formLong uint8 = iota
	formU64
	formShort
)

// setKey makes k address (key, ns); the general form is a lookup key into buf's memory.
func (k *tkey) setKey(key, ns []byte, buf *[]byte) {
	if len(ns) == 0 && len(key) == 8 {
		k.form = formU64
		k.u = binary.BigEndian.Uint64(key)
		return
	}
	if len(ns) == 0 && len(key) <= skeyMax {
		k.form = formShort
		k.s = skey{}
		copy(k.s[:], key)
		k.s[15] = byte(len(key))
		return
	}
	k.form = formLong
	*buf = appendMapKey((*buf)[:0], key, ns)
	k.m = lookupKey(*buf)
}

// kgTable is one state's entries of one key group, copy-on-write against snapshots.
//
// A snapshot's synchronous phase marks the tables frozen; a frozen table is never modified.
// The first write to a frozen table puts a new, empty layer on top of it (O(1)): writes go to
// the layer, deletions of entries below become tombstones, reads fall through to the frozen
// table. Once no snapshot is running, the next access folds the layer into the table below,
// which costs O(entries written meanwhile), not O(entries). Value cells are stored by value;
// list and map cells are pointers that carry the epoch of the layer that created them, and a
// cell from an older layer is copied before it is modified, so frozen cells never change.
type kgTable[C any] struct {
	u64    map[uint64]C
	short  map[skey]C
	long   map[mkey]C
	epoch  uint64
	frozen bool
	base   *kgTable[C]        // the frozen table under this layer, or nil
	tomb   *kgTable[struct{}] // keys deleted in this layer that base may hold, or nil
}

func newKGTable[C any](epoch uint64) *kgTable[C] {
	return &kgTable[C]{u64: map[uint64]C{}, short: map[skey]C{}, long: map[mkey]C{}, epoch: epoch}
}

// own looks k up in this layer only.
func (t *kgTable[C]) own(k *tkey) (C, bool) {
	var c C
	var ok bool
	switch k.form {
	case formU64:
		c, ok = t.u64[k.u]
	case formShort:
		c, ok = t.short[k.s]
	default:
		c, ok = t.long[k.m]
	}
	return c, ok
}

func (t *kgTable[C]) get(k *tkey) (C, bool) {
	c, ok, _ := t.find(k)
	return c, ok
}

// find is get that also reports whether the cell was found in a frozen table: one that a
// snapshot may still read, so that what the cell refers to must not change.
func (t *kgTable[C]) find(k *tkey) (c C, ok, frozen bool) {
	for ; t != nil; t = t.base {
		if c, ok := t.own(k); ok {
			return c, true, t.frozen
		}
		if t.tomb != nil {
			if _, dead := t.tomb.own(k); dead {
				break
			}
		}
	}
	var zero C
	return zero, false, false
}

func (t *kgTable[C]) putOwn(k *tkey, c C) {
	switch k.form {
	case formU64:
		t.u64[k.u] = c
	case formShort:
		t.short[k.s] = c
	default:
		t.long[k.m.owned()] = c
	}
}

func (t *kgTable[C]) delOwn(k *tkey) {
	switch k.form {
	case formU64:
		delete(t.u64, k.u)
	case formShort:
		delete(t.short, k.s)
	default:
		delete(t.long, k.m)
	}
}

// put stores c; t must be writable.
func (t *kgTable[C]) put(k *tkey, c C) {
	t.putOwn(k, c)
	if t.tomb != nil {
		t.tomb.delOwn(k)
	}
}

// del removes k; t must be writable.
func (t *kgTable[C]) del(k *tkey) {
	t.delOwn(k)
	if t.base != nil {
		if _, below := t.base.get(k); below {
			if t.tomb == nil {
				t.tomb = newKGTable[struct{}](0)
			}
			t.tomb.putOwn(k, struct{}{})
		}
	}
}

// eachOwn calls fn for every entry of this layer only.
func (t *kgTable[C]) eachOwn(fn func(key, ns []byte, c C) bool) bool {
	var u [8]byte
	for k, c := range t.u64 {
		binary.BigEndian.PutUint64(u[:], k)
		if !fn(u[:], nil, c) {
			return false
		}
	}
	for s, c := range t.short {
		if !fn(s[:s[15]], nil, c) {
			return false
		}
	}
	for m, c := range t.long {
		key, ns, _ := splitMapKey(m.bytes())
		if !fn(key, ns, c) {
			return false
		}
	}
	return true
}

// each calls fn for every visible entry until it returns false. key and ns are only valid
// during the call.
func (t *kgTable[C]) each(fn func(key, ns []byte, c C) bool) {
	t.eachShadowed(nil, fn)
}

// eachShadowed visits the entries of t and its bases that no layer above (shadowed) hides.
func (t *kgTable[C]) eachShadowed(above []*kgTable[C], fn func(key, ns []byte, c C) bool) bool {
	var k tkey
	var buf []byte
	visible := func(key, ns []byte) bool {
		if len(above) == 0 {
			return true
		}
		k.setKey(key, ns, &buf)
		for _, a := range above {
			if _, ok := a.own(&k); ok {
				return false
			}
			if a.tomb != nil {
				if _, dead := a.tomb.own(&k); dead {
					return false
				}
			}
		}
		return true
	}
	ok := t.eachOwn(func(key, ns []byte, c C) bool {
		return !visible(key, ns) || fn(key, ns, c)
	})
	if !ok || t.base == nil {
		return ok
	}
	return t.base.eachShadowed(append(above, t), fn)
}

// fold merges t's layers into one table, in place at the bottom, and returns it. Only when
// no snapshot is running: nothing references the frozen layers then.
func (t *kgTable[C]) fold() *kgTable[C] {
	if t.base == nil {
		t.frozen = false
		return t
	}
	b := t.base.fold()
	t.eachOwn(func(key, ns []byte, c C) bool {
		var k tkey
		var buf []byte
		k.setKey(key, ns, &buf)
		b.putOwn(&k, c)
		return true
	})
	if t.tomb != nil {
		t.tomb.eachOwn(func(key, ns []byte, _ struct{}) bool {
			var k tkey
			var buf []byte
			k.setKey(key, ns, &buf)
			b.delOwn(&k)
			return true
		})
	}
	b.epoch = t.epoch
	return b
}

func newTables[C any](n int) []*kgTable[C] {
	ts := make([]*kgTable[C], n)
	for i := range ts {
		ts[i] = newKGTable[C](0)
	}
	return ts
}

// readable returns the table of key group index i for reading, folding its layers first if
// no snapshot is running.
func readable[C any](b *Backend, ts []*kgTable[C], i int) *kgTable[C] {
	t := ts[i]
	if t.base != nil && b.running.Load() == 0 {
		t = t.fold()
		ts[i] = t
	}
	return t
}

// writable returns the table of key group index i for writing: folded if no snapshot is
// running, else under a new layer if frozen.
func writable[C any](b *Backend, ts []*kgTable[C], i int) *kgTable[C] {
	t := ts[i]
	if t.frozen || t.base != nil {
		if b.running.Load() == 0 {
			t = t.fold() // nothing reads the frozen generations any more
		} else if t.frozen {
			t = newKGTable[C](b.nextEpoch())
			t.base = ts[i]
		}
		ts[i] = t
	}
	return t
}

func freezeAll[C any](ts []*kgTable[C]) []*kgTable[C] {
	for _, t := range ts {
		t.frozen = true
	}
	return append([]*kgTable[C](nil), ts...)
}

// tablesEmpty reports whether no table has a visible entry.
func tablesEmpty[C any](ts []*kgTable[C]) bool {
	return !tablesHold(ts, func(C) bool { return true })
}

// tablesHold reports whether a table has a visible entry whose cell is written (a TTL
// state's cell holding only expired values is not).
func tablesHold[C any](ts []*kgTable[C], written func(C) bool) bool {
	for _, t := range ts {
		found := false
		t.each(func(_, _ []byte, c C) bool { found = written(c); return !found })
		if found {
			return true
		}
	}
	return false
}

// clearKey removes the current key of s from ts. It writes only if the key has an entry, so
// clearing nothing puts no layer on a frozen table.
func clearKey[C any](s *stateBase, ts []*kgTable[C]) error {
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	if _, ok := readable(s.b, ts, s.b.kgIdx).get(k); !ok {
		return nil
	}
	writableKey(s, ts, s.b.kgIdx, k).del(k)
	return nil
}

// eachKey calls fn for every (key, namespace) of every table.
func eachKey[C any](ts []*kgTable[C], fn func(key, ns []byte) bool) {
	for _, t := range ts {
		cont := true
		t.each(func(key, ns []byte, _ C) bool { cont = fn(key, ns); return cont })
		if !cont {
			return
		}
	}
}

// splitMapKey splits a map key uvarint(len(key)) key ns. The returned slices share b.
func splitMapKey(b []byte) (key, ns []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

// appendMapKey appends the general map key of (key, ns).
func appendMapKey(dst, key, ns []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	return append(dst, ns...)
}

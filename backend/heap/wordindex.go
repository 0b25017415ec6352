package heap

import (
	"math/bits"
	"math/rand/v2"
)

// wordIndex is a hash table from a pair of words (key, user key) to a value V (a word, or a
// stamped word for a TTL state: ttlview.StampedWord): an open
// addressing table with linear probing and backward-shift deletion, slots inline. It is the
// point-lookup index of a wordMapState (one per key group): a Get probes one slot, usually one
// cache miss, where the map's own cells cost a Go map probe (header, directory, table, group)
// and then the cell's entries. It is not copy-on-write: it holds the live state only, and
// snapshots never read it.
type wordIndex[V any] struct {
	slots []indexSlot[V] // len is 0 or a power of two
	n     int            // used slots
	shift uint8          // 64 - log2(len(slots))
	seed  uint64         // per table, so that no key set collides by construction
}

type indexSlot[V any] struct {
	k, uk uint64
	v     V
	used  bool
}

// wordIndexMinSlots is the size of a table's first allocation.
const wordIndexMinSlots = 16

// home returns the slot where (k, uk) starts probing; len(x.slots) > 0.
func (x *wordIndex[V]) home(k, uk uint64) uint64 {
	h := mix64(mix64(k^x.seed) ^ uk)
	return h >> x.shift
}

// mix64 is the finalizer of murmur3's 64-bit hash: every input bit affects every output bit.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func (x *wordIndex[V]) get(k, uk uint64) (v V, ok bool) {
	if x.n == 0 {
		return v, false
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.home(k, uk); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if !s.used {
			return v, false
		}
		if s.k == k && s.uk == uk {
			return s.v, true
		}
	}
}

func (x *wordIndex[V]) put(k, uk uint64, v V) {
	if (x.n+1)*4 > len(x.slots)*3 { // load factor at most 3/4
		x.resize(max(wordIndexMinSlots, 2*len(x.slots)))
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.home(k, uk); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if !s.used {
			*s = indexSlot[V]{k: k, uk: uk, v: v, used: true}
			x.n++
			return
		}
		if s.k == k && s.uk == uk {
			s.v = v
			return
		}
	}
}

// del removes (k, uk) if present. The entries after it in its probe run move back into the
// gap when their home allows, so that a probe never has to skip a deleted slot.
func (x *wordIndex[V]) del(k, uk uint64) {
	if x.n == 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	i := x.home(k, uk)
	for ; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if !s.used {
			return
		}
		if s.k == k && s.uk == uk {
			break
		}
	}
	for j := (i + 1) & mask; x.slots[j].used; j = (j + 1) & mask {
		// The entry at j may fill the gap at i unless its home lies cyclically in (i, j].
		if h := x.home(x.slots[j].k, x.slots[j].uk); (j-h)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = indexSlot[V]{}
	x.n--
	if x.n == 0 {
		*x = wordIndex[V]{} // an emptied key group gives its memory back
	} else if len(x.slots) > wordIndexMinSlots && x.n*8 < len(x.slots) {
		x.resize(len(x.slots) / 2)
	}
}

// resize rehashes into n slots (a power of two that holds x.n entries).
func (x *wordIndex[V]) resize(n int) {
	old := x.slots
	x.slots = make([]indexSlot[V], n)
	x.shift = uint8(64 - bits.TrailingZeros(uint(n)))
	if x.seed == 0 {
		x.seed = rand.Uint64() | 1
	}
	mask := uint64(n - 1)
	for _, s := range old {
		if !s.used {
			continue
		}
		i := x.home(s.k, s.uk)
		for x.slots[i].used {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

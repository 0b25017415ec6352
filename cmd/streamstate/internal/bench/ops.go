package bench

import "math/rand/v2"

const (
	// MaxParallelism is the number of key groups of the measured backends.
	MaxParallelism = 128
	// ListLen is the number of elements preloaded in every key's list (as flink-benchmarks).
	ListLen = 1
	// MapKeys is the number of user keys preloaded in every key's map (flink-benchmarks'
	// mapKeyCount).
	MapKeys   = 10
	addAllLen = 100     // elements of one listAddAll
	seqLen    = 1 << 20 // length of the random key sequence; a power of two
	freshLen  = 1 << 16 // fresh keys for valueAdd and listAdd: also their batch size; a power of two
	seqMask   = seqLen - 1
	freshMask = freshLen - 1
)

// Kinds are the state kinds, in the order Run measures them; every operation needs the
// fixture of one kind.
var Kinds = []string{"value", "list", "map"}

// Op is one measured operation, defined once as calls on a store.
type Op struct {
	Name string
	Kind string // the fixture it needs: "value", "list" or "map"
	// Batch is, for an operation that grows state, the most operations between two resets;
	// 0 = unbounded.
	Batch int
	// Per is how many operations one call counts as (JMH's @OperationsPerInvocation); 0 = 1.
	Per int
	// run performs operations off to off+n-1 of the sequences on st, adding what reads read to
	// *sink. It is timed.
	run func(st store, q *Seqs, off, n int, sink *int64) error
	// reset puts back what run(off, n) changed; not timed. Nil when run changes no sizes.
	reset func(st store, q *Seqs, off, n int) error
}

// Ops is the table of operations, in the order they are reported.
var Ops = []Op{
	{Name: "valueGet", Kind: "value", run: func(st store, q *Seqs, off, n int, sink *int64) error {
		var sum int64
		for i := off; i < off+n; i++ {
			v, err := st.ValueGet(q.keys[i&seqMask])
			if err != nil {
				return err
			}
			sum += v
		}
		*sink += sum
		return nil
	}},
	{Name: "valueUpdate", Kind: "value", run: func(st store, q *Seqs, off, n int, _ *int64) error {
		for i := off; i < off+n; i++ {
			if err := st.ValueSet(q.keys[i&seqMask], int64(i)); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "valueAdd", Kind: "value", Batch: freshLen, run: func(st store, q *Seqs, off, n int, _ *int64) error {
		for i := off; i < off+n; i++ {
			if err := st.ValueSet(q.fresh[i&freshMask], int64(i)); err != nil {
				return err
			}
		}
		return nil
	}, reset: func(st store, q *Seqs, off, n int) error {
		for i := off; i < off+n; i++ {
			if err := st.ValueClear(q.fresh[i&freshMask]); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "listAdd", Kind: "list", Batch: freshLen, run: func(st store, q *Seqs, off, n int, _ *int64) error {
		for i := off; i < off+n; i++ {
			q.one[0] = int64(i)
			if err := st.ListSet(q.fresh[i&freshMask], q.one); err != nil {
				return err
			}
		}
		return nil
	}, reset: func(st store, q *Seqs, off, n int) error {
		for i := off; i < off+n; i++ {
			if err := st.ListClear(q.fresh[i&freshMask]); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "listAppend", Kind: "list", Batch: 1 << 16, run: func(st store, q *Seqs, off, n int, _ *int64) error {
		for i := off; i < off+n; i++ {
			if err := st.ListAdd(q.keys[i&seqMask], int64(i)); err != nil {
				return err
			}
		}
		return nil
	}, reset: resetLists},
	{Name: "listGet", Kind: "list", run: func(st store, q *Seqs, off, n int, sink *int64) error {
		var a acc
		for i := off; i < off+n; i++ {
			if st.ListSum(q.keys[i&seqMask], &a); a.err != nil {
				return a.err
			}
		}
		*sink += a.sum
		return nil
	}},
	{Name: "listAddAll", Kind: "list", Batch: 1 << 12, run: func(st store, q *Seqs, off, n int, _ *int64) error {
		for i := off; i < off+n; i++ {
			if err := st.ListAddAll(q.keys[i&seqMask], q.addAll); err != nil {
				return err
			}
		}
		return nil
	}, reset: resetLists},
	{Name: "mapGet", Kind: "map", run: func(st store, q *Seqs, off, n int, sink *int64) error {
		var sum int64
		for i := off; i < off+n; i++ {
			v, err := st.MapGet(q.keys[i&seqMask], q.uks[i&seqMask])
			if err != nil {
				return err
			}
			sum += v
		}
		*sink += sum
		return nil
	}},
	// mapAdd puts user key off+i, which no preloaded map holds (those are negative).
	{Name: "mapAdd", Kind: "map", Batch: 1 << 16, run: func(st store, q *Seqs, off, n int, _ *int64) error {
		for i := off; i < off+n; i++ {
			if err := st.MapPut(q.keys[i&seqMask], int64(i), int64(i)); err != nil {
				return err
			}
		}
		return nil
	}, reset: func(st store, q *Seqs, off, n int) error {
		for i := off; i < off+n; i++ {
			if err := st.MapRemove(q.keys[i&seqMask], int64(i)); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "mapContains", Kind: "map", run: func(st store, q *Seqs, off, n int, sink *int64) error {
		var hits int64
		for i := off; i < off+n; i++ {
			ok, err := st.MapContains(q.keys[i&seqMask], q.uks[i&seqMask])
			if err != nil {
				return err
			}
			if ok {
				hits++
			}
		}
		*sink += hits
		return nil
	}},
	{Name: "mapIterator", Kind: "map", Per: MapKeys, run: func(st store, q *Seqs, off, n int, sink *int64) error {
		var a acc
		for i := off; i < off+n; i++ {
			if st.MapSum(q.keys[i&seqMask], &a); a.err != nil {
				return a.err
			}
		}
		*sink += a.sum
		return nil
	}},
}

// resetLists restores the preloaded lists of the keys run(off, n) touched.
func resetLists(st store, q *Seqs, off, n int) error {
	var buf []int64
	for i := off; i < off+n; i++ {
		k := q.keys[i&seqMask]
		buf = listOf(k, buf)
		if err := st.ListSet(k, buf); err != nil {
			return err
		}
	}
	return nil
}

// OpNames returns the names of Ops, in order.
func OpNames() []string {
	names := make([]string, len(Ops))
	for i, op := range Ops {
		names[i] = op.Name
	}
	return names
}

// Seqs are the precomputed random sequences every operation walks, so that the random
// number generator stays out of the timing. Backend and baseline use the same ones.
type Seqs struct {
	keys  []int64 // random preloaded keys, seqLen long
	uks   []int64 // random preloaded map user keys, parallel to keys
	fresh []int64 // keys beyond the preloaded ones in random order, freshLen long
	// mapKeys are the user keys every preloaded map holds; new user keys (mapAdd) are small
	// non-negative numbers, which these never are.
	mapKeys [MapKeys]int64
	addAll  []int64 // the elements of one listAddAll
	one     []int64 // listAdd's one-element list, reused
}

// NewSeqs returns the sequences of seed over keys preloaded keys.
func NewSeqs(seed uint64, keys int) *Seqs {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := &Seqs{keys: make([]int64, seqLen), uks: make([]int64, seqLen),
		fresh: make([]int64, freshLen), addAll: make([]int64, addAllLen), one: make([]int64, 1)}
	for i := range s.mapKeys {
		s.mapKeys[i] = -1 - r.Int64N(1<<62)
	}
	for i := range s.keys {
		s.keys[i] = r.Int64N(int64(keys))
		s.uks[i] = s.mapKeys[r.IntN(MapKeys)]
	}
	for i := range s.fresh {
		s.fresh[i] = int64(keys) + int64(i)
	}
	r.Shuffle(len(s.fresh), func(i, j int) { s.fresh[i], s.fresh[j] = s.fresh[j], s.fresh[i] })
	for i := range s.addAll {
		s.addAll[i] = r.Int64()
	}
	return s
}

// Preloaded contents, computed from the key so that a reset can restore them.
func valueOf(k int64) int64         { return k*7919 + 1000 }
func listElem(k int64, j int) int64 { return k*ListLen + int64(j) + 1000 }
func mapValue(k int64, j int) int64 { return k*MapKeys + int64(j) + 1000 }
func listOf(k int64, dst []int64) []int64 {
	dst = dst[:0]
	for j := range ListLen {
		dst = append(dst, listElem(k, j))
	}
	return dst
}

// preload fills st with the preloaded state of kind for keys 0..keys-1, checking every so
// many keys whether ctxErr reports a cancellation.
func preload(st store, kind string, keys int, q *Seqs, ctxErr func() error) error {
	var buf []int64
	for k := range int64(keys) {
		if k&0xffff == 0 {
			if err := ctxErr(); err != nil {
				return err
			}
		}
		var err error
		switch kind {
		case "value":
			err = st.ValueSet(k, valueOf(k))
		case "list":
			buf = listOf(k, buf)
			err = st.ListSet(k, buf)
		case "map":
			for j, uk := range q.mapKeys {
				if err = st.MapPut(k, uk, mapValue(k, j)); err != nil {
					break
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

package lsm

import (
	"fmt"

	"github.com/streamstate/streamstate/backend"
)

// countProgressEvery is how many values countDropped scans between two progress lines.
const countProgressEvery = 1 << 20

// countDropped passes every stored value of state e (values, list elements, map values) to
// ev.Count when ev drops fields, so that its log says how many carried them. It reads the
// whole state once, key group by key group, and logs its progress every
// countProgressEvery values, for large state.
func (b *Backend) countDropped(e *stateEntry, ev *backend.Evolution) error {
	if !ev.Counting() {
		return nil
	}
	it, err := b.newIter(nil)
	if err != nil {
		return fmt.Errorf("lsm backend: count dropped fields of %s: %w", ev.State, b.dbErr(err))
	}
	defer it.Close()
	var elems [][]byte
	for kg := range b.rng.All() {
		lo := appendStatePrefix(nil, kg, e.id) // fresh bounds: Pebble keeps the slices
		it.SetBounds(lo, prefixEnd(lo))
		for it.First(); it.Valid(); it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				return fmt.Errorf("lsm backend: count dropped fields of %s: %w", ev.State, b.dbErr(err))
			}
			if e.meta.Kind != backend.KindList {
				ev.Count(v)
			} else if elems, err = splitList(elems[:0], v); err == nil {
				for _, el := range elems {
					ev.Count(el)
				}
			} // a list that does not split is reported when it is read
			if ev.Counted%countProgressEvery == 0 && ev.Counted > 0 {
				b.opts.Logger.Info("counting the values that carry fields the registered serializer drops",
					"operator", b.opID, "state", ev.State, "keyGroup", kg, "valuesScanned", ev.Counted)
			}
			if !ev.Counting() {
				return nil
			}
		}
	}
	return it.Error()
}

package heap

import "github.com/streamstate/streamstate/backend"

// countDropped passes every restored value of r (values, list elements, map values, still
// serialized) to ev.Count when ev drops fields, so that its log says how many carried them.
func countDropped(ev *backend.Evolution, r *restored) {
	if !ev.Counting() {
		return
	}
	for _, recs := range r.recs {
		for i := range recs {
			if r.m.Kind == backend.KindList {
				for _, e := range recs[i].list {
					ev.Count(e)
				}
				continue
			}
			ev.Count(recs[i].value)
		}
	}
}

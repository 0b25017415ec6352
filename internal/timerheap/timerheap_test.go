package timerheap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestModel checks the queue against a sorted slice over random adds, removes, polls and
// freezes; frozen views must not change afterwards.
func TestModel(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	const kgs = 8
	q := New(kgs)
	type mt struct {
		t  Timer
		kg int
	}
	var model []mt
	find := func(x Timer) int {
		for j, m := range model {
			if !m.t.Less(x) && !x.Less(m.t) {
				return j
			}
		}
		return -1
	}
	type view struct {
		f    *Frozen
		want [kgs]int
	}
	var views []view
	for step := 0; step < 5000; step++ {
		x := Timer{Timestamp: int64(r.IntN(50)), Key: []byte{byte(r.IntN(4))}, Namespace: []byte{byte(r.IntN(2))}}
		kg := int(x.Key[0]) % kgs
		switch op := r.IntN(10); {
		case op < 5:
			added := q.Add(kg, x)
			if added != (find(x) < 0) {
				t.Fatalf("step %d: Add(%v) = %v", step, x, added)
			}
			if added {
				model = append(model, mt{Timer{x.Timestamp, slices.Clone(x.Key), slices.Clone(x.Namespace)}, kg})
			}
		case op < 7:
			j := find(x)
			if got := q.Remove(kg, x); got != (j >= 0) {
				t.Fatalf("step %d: Remove(%v) = %v", step, x, got)
			}
			if j >= 0 {
				model = slices.Delete(model, j, j+1)
			}
		case op < 9:
			got, i, ok := q.Poll()
			if ok != (len(model) > 0) {
				t.Fatalf("step %d: Poll ok = %v with %d timers", step, ok, len(model))
			}
			if !ok {
				continue
			}
			j := slices.IndexFunc(model, func(m mt) bool {
				return !slices.ContainsFunc(model, func(o mt) bool { return o.t.Less(m.t) })
			})
			if w := model[j]; w.t.Less(got) || got.Less(w.t) || w.kg != i {
				t.Fatalf("step %d: Poll = %v in %d, want %v in %d", step, got, i, w.t, w.kg)
			}
			model = slices.Delete(model, j, j+1)
		default:
			v := view{f: q.Freeze()}
			for _, m := range model {
				v.want[m.kg]++
			}
			views = append(views, v)
		}
		if q.Len() != len(model) {
			t.Fatalf("step %d: Len = %d, want %d", step, q.Len(), len(model))
		}
	}
	for _, v := range views {
		for i := range kgs {
			n := 0
			v.f.Each(i, func(Timer) bool { n++; return true })
			if n != v.want[i] || v.f.Len(i) != v.want[i] {
				t.Fatalf("frozen key group %d has %d timers, want %d", i, n, v.want[i])
			}
		}
	}
}

package heap

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestWordIndexModel runs random puts, gets and deletes against a Go map, with few distinct
// words so that probe runs are long, wrap around the table's end and are cut by deletions.
func TestWordIndexModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	type pair struct{ k, uk uint64 }
	for round := range 20 {
		var x wordIndex[uint64]
		want := map[pair]uint64{}
		keys := 1 + rng.IntN(400)
		for op := range 20000 {
			p := pair{uint64(rng.IntN(keys)), uint64(rng.IntN(8))}
			if rng.IntN(2) == 0 {
				p.k = -p.k // words with high bits set as well
			}
			switch rng.IntN(3) {
			case 0:
				v := rng.Uint64()
				x.put(p.k, p.uk, v)
				want[p] = v
			case 1:
				x.del(p.k, p.uk)
				delete(want, p)
			default:
				got, ok := x.get(p.k, p.uk)
				if w, wok := want[p]; got != w || ok != wok {
					t.Fatalf("seed %d round %d op %d: get(%d, %d) = %d,%v want %d,%v", seed, round, op, p.k, p.uk, got, ok, w, wok)
				}
			}
			if x.n != len(want) {
				t.Fatalf("seed %d round %d op %d: %d entries, want %d", seed, round, op, x.n, len(want))
			}
		}
		for p, w := range want {
			if got, ok := x.get(p.k, p.uk); !ok || got != w {
				t.Fatalf("seed %d round %d: get(%d, %d) = %d,%v want %d", seed, round, p.k, p.uk, got, ok, w)
			}
		}
		if 4*x.n > 3*len(x.slots) {
			t.Fatalf("seed %d round %d: %d entries in %d slots", seed, round, x.n, len(x.slots))
		}
	}
}

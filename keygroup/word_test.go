package keygroup

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

func TestHashWord(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	words := []uint64{0, 1, 1 << 63, math.MaxUint64, 0x0102030405060708}
	for range 100000 {
		words = append(words, r.Uint64())
	}
	for _, w := range words {
		b := binary.BigEndian.AppendUint64(nil, w)
		if got, want := hashWord(w), Hash(b); got != want {
			t.Fatalf("hashWord(%#x) = %#x, Hash = %#x", w, got, want)
		}
		for _, maxP := range []int{1, 7, 128, UpperBoundMaxParallelism} {
			if got, want := OfWord(w, maxP), Of(b, maxP); got != want {
				t.Fatalf("OfWord(%#x, %d) = %d, Of = %d", w, maxP, got, want)
			}
		}
	}
}

func FuzzHashWord(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, w uint64) {
		if got, want := hashWord(w), Hash(binary.BigEndian.AppendUint64(nil, w)); got != want {
			t.Fatalf("hashWord(%#x) = %#x, Hash = %#x", w, got, want)
		}
	})
}

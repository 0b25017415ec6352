package keygroup

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestRangesPartitionAndAgreeWithOperatorIndex(t *testing.T) {
	for maxP := 1; maxP <= 1024; maxP++ {
		for p := 1; p <= maxP; p++ {
			next := 0
			for i := 0; i < p; i++ {
				r := RangeFor(maxP, p, i)
				if r.Start != next {
					t.Fatalf("maxP=%d p=%d subtask %d: range %v starts at %d, want %d (gap or overlap)", maxP, p, i, r, r.Start, next)
				}
				if r.Len() < 1 {
					t.Fatalf("maxP=%d p=%d subtask %d: empty range %v", maxP, p, i, r)
				}
				for kg := r.Start; kg <= r.End; kg++ {
					if got := OperatorIndex(maxP, p, kg); got != i {
						t.Fatalf("maxP=%d p=%d: key group %d is in range of %d but OperatorIndex says %d", maxP, p, kg, i, got)
					}
				}
				next = r.End + 1
			}
			if next != maxP {
				t.Fatalf("maxP=%d p=%d: ranges end at %d, want %d", maxP, p, next, maxP)
			}
		}
	}
}

func TestDefaultMaxParallelism(t *testing.T) {
	cases := map[int]int{1: 128, 2: 128, 85: 128, 86: 256, 100: 256, 171: 256, 172: 512, 1000: 2048, 30000: 32768, 1 << 20: 32768}
	for p, want := range cases {
		if got := DefaultMaxParallelism(p); got != want {
			t.Errorf("DefaultMaxParallelism(%d) = %d, want %d", p, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct{ maxP, p int }{{0, 1}, {32769, 1}, {128, 0}, {128, 129}, {-1, -1}} {
		if err := Validate(c.maxP, c.p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%d, %d) = %v, want ErrInvalid", c.maxP, c.p, err)
		}
	}
	if err := Validate(128, 128); err != nil {
		t.Fatal(err)
	}
}

func TestHashIsStable(t *testing.T) {
	// murmur3 x86_32 seed 0 reference values; the hash is part of the checkpoint format.
	if got := Hash([]byte("hello")); got != 0x248bfa47 {
		t.Fatalf("Hash(hello) = %#x", got)
	}
	if got := Hash(nil); got != 0 {
		t.Fatalf("Hash(nil) = %#x", got)
	}
	var b [8]byte
	counts := make([]int, 128)
	for i := 0; i < 128*1000; i++ {
		binary.BigEndian.PutUint64(b[:], uint64(i))
		counts[Of(b[:], 128)]++
	}
	for kg, c := range counts {
		if c < 800 || c > 1200 {
			t.Fatalf("key group %d got %d of 128000 sequential keys; hash is badly skewed", kg, c)
		}
	}
}

func TestRangeOps(t *testing.T) {
	r := Range{Start: 3, End: 9}
	if r.Len() != 7 || !r.Contains(3) || !r.Contains(9) || r.Contains(10) {
		t.Fatal("Len/Contains wrong")
	}
	if got := r.Intersect(Range{Start: 8, End: 20}); got != (Range{Start: 8, End: 9}) {
		t.Fatalf("Intersect = %v", got)
	}
	if got := r.Intersect(Range{Start: 10, End: 20}); got.Len() != 0 {
		t.Fatalf("Intersect = %v", got)
	}
	n := 0
	for range r.All() {
		n++
	}
	if n != 7 || EmptyRange.Len() != 0 {
		t.Fatal("All/EmptyRange wrong")
	}
}

package keygroup

import (
	"errors"
	"fmt"
	"iter"
	"math/bits"

	"github.com/twmb/murmur3"
)

// UpperBoundMaxParallelism is the largest supported max parallelism (Flink's 1<<15).
const UpperBoundMaxParallelism = 1 << 15

// ErrInvalid is returned (wrapped) for an out-of-range parallelism or max parallelism.
var ErrInvalid = errors.New("keygroup: invalid parallelism")

// Range is an inclusive range [Start, End] of key groups, as Flink's KeyGroupRange.
// The empty range has End < Start; EmptyRange is the canonical one.
type Range struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// EmptyRange is a range that contains no key group.
var EmptyRange = Range{Start: 0, End: -1}

// Len returns the number of key groups in r.
func (r Range) Len() int {
	if r.End < r.Start {
		return 0
	}
	return r.End - r.Start + 1
}

// Contains reports whether key group kg is in r.
func (r Range) Contains(kg int) bool { return kg >= r.Start && kg <= r.End }

// Intersect returns the key groups in both r and o (possibly empty).
func (r Range) Intersect(o Range) Range {
	s, e := max(r.Start, o.Start), min(r.End, o.End)
	if e < s {
		return EmptyRange
	}
	return Range{Start: s, End: e}
}

// All iterates the key groups of r in ascending order.
func (r Range) All() iter.Seq[int] {
	return func(yield func(int) bool) {
		for kg := r.Start; kg <= r.End; kg++ {
			if !yield(kg) {
				return
			}
		}
	}
}

func (r Range) String() string { return fmt.Sprintf("[%d, %d]", r.Start, r.End) }

// Validate checks 1 <= parallelism <= maxParallelism <= UpperBoundMaxParallelism.
func Validate(maxParallelism, parallelism int) error {
	if maxParallelism < 1 || maxParallelism > UpperBoundMaxParallelism {
		return fmt.Errorf("%w: max parallelism %d is outside [1, %d]; set pipeline.max-parallelism within it",
			ErrInvalid, maxParallelism, UpperBoundMaxParallelism)
	}
	if parallelism < 1 || parallelism > maxParallelism {
		return fmt.Errorf("%w: parallelism %d is outside [1, max parallelism %d]; lower parallelism.default or raise pipeline.max-parallelism",
			ErrInvalid, parallelism, maxParallelism)
	}
	return nil
}

// RangeFor returns the key groups owned by subtask index of an operator with the given
// parallelism: [(i*maxP + p - 1)/p, ((i+1)*maxP - 1)/p]. The caller must have validated the
// arguments with Validate and 0 <= index < parallelism.
func RangeFor(maxParallelism, parallelism, index int) Range {
	return Range{
		Start: (index*maxParallelism + parallelism - 1) / parallelism,
		End:   ((index+1)*maxParallelism - 1) / parallelism,
	}
}

// OperatorIndex returns the subtask index that owns key group kg: kg*p/maxP.
func OperatorIndex(maxParallelism, parallelism, kg int) int {
	return kg * parallelism / maxParallelism
}

// DefaultMaxParallelism computes Flink's default max parallelism for an operator:
// min(max(roundUpPow2(p + p/2), 128), 32768).
func DefaultMaxParallelism(parallelism int) int {
	n := roundUpPow2(parallelism + parallelism/2)
	return min(max(n, 128), UpperBoundMaxParallelism)
}

func roundUpPow2(x int) int {
	if x <= 1 {
		return 1
	}
	n := 1
	for n < x {
		n <<= 1
	}
	return n
}

// Hash is the 32-bit murmur3 hash (seed 0) of a key's serialized bytes. It is part of the
// checkpoint format: changing it would send restored keys to the wrong key groups.
func Hash(serializedKey []byte) uint32 { return murmur3.Sum32(serializedKey) }

// Of returns the key group of a serialized key: Hash(key) mod maxParallelism.
func Of(serializedKey []byte, maxParallelism int) int {
	return int(Hash(serializedKey) % uint32(maxParallelism))
}

// OfWord is Of for an 8-byte serialized key given as a big-endian word (the key encoding of
// int64, uint64 and float64 keys): Of(binary.BigEndian.AppendUint64(nil, w), maxP). It hashes
// the word without a byte slice, for the hot path of setting the current key.
func OfWord(w uint64, maxParallelism int) int {
	return int(hashWord(w) % uint32(maxParallelism))
}

// hashWord is murmur3's 32-bit hash (seed 0) of the 8 big-endian bytes of w, written out for
// exactly two blocks; TestHashWord and FuzzHashWord hold it equal to Hash.
func hashWord(w uint64) uint32 {
	// murmur3 reads blocks as little-endian uint32s of the bytes: the reversed halves of w.
	h := mixBlock(0, bits.ReverseBytes32(uint32(w>>32)))
	h = mixBlock(h, bits.ReverseBytes32(uint32(w)))
	h ^= 8 // the length
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// mixBlock mixes one 4-byte block k into the murmur3 state h.
func mixBlock(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = bits.RotateLeft32(k, 15)
	k *= 0x1b873593
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

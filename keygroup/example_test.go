package keygroup_test

import (
	"fmt"

	"github.com/streamstate/streamstate/keygroup"
)

func Example() {
	p := 3
	maxP := keygroup.DefaultMaxParallelism(p)
	for i := range p {
		fmt.Println(i, keygroup.RangeFor(maxP, p, i))
	}
	kg := keygroup.Of([]byte("alice"), maxP)
	fmt.Println(keygroup.OperatorIndex(maxP, p, kg) == kg*p/maxP)
	// Output:
	// 0 [0, 42]
	// 1 [43, 85]
	// 2 [86, 127]
	// true
}

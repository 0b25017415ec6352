//go:build !unix

package stream

import "time"

// processCPUTime is not measured outside unix: benchmarks then report a CPU time of 0.
func processCPUTime() time.Duration { return 0 }

package stream

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestOptionsRejected: options that cannot mean what they say fail Execute, naming the field,
// instead of being taken as a default (a resume with nothing to resume from would start
// fresh; a negative timeout would mean none).
func TestOptionsRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no state backend", Options{}, "Options.StateBackend is not set"},
		{"resume without checkpoints", Options{StateBackend: heapBackend, Restore: Restore{Latest: true}}, "nothing to resume from"},
		{"negative timeout", Options{StateBackend: heapBackend, Checkpointing: CheckpointConfig{Timeout: -time.Second}}, "Checkpointing.Timeout is negative"},
		{"negative interval", Options{StateBackend: heapBackend, Checkpointing: CheckpointConfig{Interval: -time.Second}}, "Checkpointing.Interval is negative"},
		{"negative watermark interval", Options{StateBackend: heapBackend, AutoWatermarkInterval: -1}, "AutoWatermarkInterval is negative"},
		{"negative concurrency", Options{StateBackend: heapBackend, Checkpointing: CheckpointConfig{MaxConcurrent: -1}}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGraph()
			Sink(FromSource(g, "source", &sliceSource{events: testEvents(10, 2), splits: 1}, WatermarkStrategy{}), func(event, int64) error { return nil })
			j, err := Execute(context.Background(), g, tc.opts)
			if err == nil {
				_ = j.Wait()
				t.Fatalf("Execute ran; want an error saying %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

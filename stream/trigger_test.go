package stream

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// holdSource is a sliceSource whose splits wait for more data at their end instead of
// finishing, so that the job runs until it is stopped.
type holdSource struct{ *sliceSource }

func (s holdSource) OpenSplit(split int, pos int64) (SplitReader[event], error) {
	r, err := s.sliceSource.OpenSplit(split, pos)
	return holdReader{r}, err
}

type holdReader struct{ SplitReader[event] }

func (r holdReader) Next() (event, int64, ReadStatus, error) {
	e, ts, st, err := r.SplitReader.Next()
	if st == Done {
		st = NoData
	}
	return e, ts, st, err
}

// TestTriggerCheckpoint: a requested checkpoint is an ordinary checkpoint of the job's
// checkpoints, taken with periodic checkpoints off, and a restore of the latest picks it.
func TestTriggerCheckpoint(t *testing.T) {
	ctx := context.Background()
	evs := testEvents(2000, 8)
	cpDir := t.TempDir()
	cps := openCheckpoints(t, cpDir)
	g := NewGraph()
	s := FromSource(g, "source", Source[event](holdSource{&sliceSource{events: evs, splits: 2}}), WatermarkStrategy{})
	Process(KeyBy(s, func(e event) string { return e.Key }, nil), "sums",
		func() KeyedProcessFunction[string, event, string] { return &runningSum{} })
	j, err := Execute(ctx, g, Options{StateBackend: heapBackend, Parallelism: 2, Checkpoints: cps})
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 3; want++ {
		s, err := j.TriggerCheckpoint(ctx)
		if err != nil || s.ID != want || s.Savepoint || s.Failed != nil {
			t.Fatalf("TriggerCheckpoint = %+v, %v; want checkpoint %d", s, err, want)
		}
	}
	j.Cancel()
	_ = j.Wait()
	// Retention followed the requested checkpoints (NumRetained 2).
	if ids, err := cps.Completed(ctx); err != nil || !slices.Equal(ids, []int64{2, 3}) {
		t.Errorf("completed checkpoints %v, %v; want [2 3]", ids, err)
	}
	j, err = Execute(ctx, g, Options{StateBackend: heapBackend, Parallelism: 3, Checkpoints: openCheckpoints(t, cpDir),
		Restore: Restore{Latest: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { j.Cancel(); _ = j.Wait() }()
	if r := j.Restored(); r == nil || r.CheckpointID != 3 {
		t.Errorf("restored %v, want checkpoint 3", r)
	}
	if s, err := j.TriggerCheckpoint(ctx); err != nil || s.ID != 4 {
		t.Errorf("after the restore: TriggerCheckpoint = %+v, %v; want checkpoint 4", s, err)
	}
}

func TestTriggerCheckpointWithoutStorage(t *testing.T) {
	g := NewGraph()
	s := FromSource(g, "source", Source[event](holdSource{&sliceSource{events: testEvents(10, 2), splits: 1}}), WatermarkStrategy{})
	Process(KeyBy(s, func(e event) string { return e.Key }, nil), "sums",
		func() KeyedProcessFunction[string, event, string] { return &runningSum{} })
	j, err := Execute(context.Background(), g, Options{StateBackend: heapBackend})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { j.Cancel(); _ = j.Wait() }()
	if _, err := j.TriggerCheckpoint(context.Background()); err == nil || !strings.Contains(err.Error(), "no checkpoint storage") {
		t.Errorf("TriggerCheckpoint without checkpoints: %v", err)
	}
}

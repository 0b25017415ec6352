package checkpoint_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/keygroup"
)

// soakEnv names the number of checkpoints TestSoakCheckpoints takes (issue 17 asks for 10000).
const soakEnv = "STREAMSTATE_SOAK_CHECKPOINTS"

// TestSoakCheckpoints takes $STREAMSTATE_SOAK_CHECKPOINTS checkpoints of a small state on
// file:// with 2 retained, each with an exclusive file and a shared file (so retention
// deletes both kinds), and checks that checkpoint time stays flat — the median of the last
// 100 at most 3× that of the first 100 (before issue 17 every checkpoint listed every chk-N
// directory ever made, 4 ms with none and ~400 ms with 50k) — and that nothing but the
// retained checkpoints remains: no directory, no temporary file. It takes minutes, so it runs
// only when asked:
//
//	STREAMSTATE_SOAK_CHECKPOINTS=10000 go test -run TestSoakCheckpoints -v -timeout 1h ./checkpoint/
func TestSoakCheckpoints(t *testing.T) {
	v := os.Getenv(soakEnv)
	if v == "" {
		t.Skipf("the soak of 10,000 checkpoints takes minutes: set %s=10000 to run it", soakEnv)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 200 {
		t.Fatalf("%s=%q: want a number of checkpoints of at least 200", soakEnv, v)
	}
	dir := t.TempDir()
	st := openURL(t, "file://"+dir)
	c, _ := cpOpen(t, st, "job", 2)
	ctx := context.Background()
	times := make([]time.Duration, 0, n)
	start := time.Now()
	for id := int64(1); id <= int64(n); id++ {
		t0 := time.Now()
		p, err := c.Begin(id)
		if err != nil {
			t.Fatal(err)
		}
		m := cpMetadata(cpMaxP, cpWrite(t, p, "op-0", keygroup.Range{Start: 0, End: 3}, fmt.Sprint("v", id)),
			cpShared(t, st, "job", fmt.Sprintf("sst-%d", id)))
		if err := p.Complete(ctx, m); err != nil {
			t.Fatalf("checkpoint %d: %v", id, err)
		}
		times = append(times, time.Since(t0))
	}
	total := time.Since(start)
	first, last := stats(times[:100]), stats(times[n-100:])
	t.Logf("%d checkpoints on file:// in %v (%v each); first 100: median %v, p90 %v, max %v; last 100: median %v, p90 %v, max %v",
		n, total.Round(time.Millisecond), (total / time.Duration(n)).Round(time.Microsecond),
		first[0], first[1], first[2], last[0], last[1], last[2])
	if last[0] > 3*first[0] {
		t.Errorf("checkpoint time grew: median %v over the last 100 checkpoints, %v over the first 100", last[0], first[0])
	}
	var left []string
	err = filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		retained := func(id int) bool {
			chk := fmt.Sprintf("job/chk-%d", id)
			return rel == chk || strings.HasPrefix(rel, chk+"/") && !strings.HasSuffix(rel, ".tmp") ||
				rel == fmt.Sprintf("job/shared/sst-%d", id)
		}
		if rel != "." && rel != "job" && rel != "job/shared" && !retained(n-1) && !retained(n) {
			left = append(left, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("after %d checkpoints, 2 retained, the storage also holds %d entries: %q", n, len(left), left[:min(len(left), 20)])
	}
	cpExpectCompleted(t, c, int64(n-1), int64(n))
}

// stats returns the median, 90th percentile and maximum of ds.
func stats(ds []time.Duration) [3]time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return [3]time.Duration{r(s[len(s)/2]), r(s[len(s)*9/10]), r(s[len(s)-1])}
}

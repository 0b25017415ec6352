package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// fakeTime is a clock that moves only when the writer sleeps: a RunPlateau on it writes
// exactly Rate keys per second of its time, whatever the machine's speed.
type fakeTime struct{ t time.Time }

func (f *fakeTime) now() time.Time          { return f.t }
func (f *fakeTime) sleep(d time.Duration)   { f.t = f.t.Add(d) }
func (f *fakeTime) config(c *PlateauConfig) { c.Now, c.Sleep = f.now, f.sleep }

// TestRunPlateauCounts runs the plateau benchmark on a clock of its own, on both backends:
// it writes Rate keys per second, samples every Interval, counts as live exactly the keys
// written less than a TTL ago, and the backend stores at least those (expired ones may
// still wait for their cleanup) and no more than were written.
func TestRunPlateauCounts(t *testing.T) {
	for _, name := range []string{"hashmap", "lsm"} {
		t.Run(name, func(t *testing.T) {
			ft := &fakeTime{t: time.UnixMilli(1_000_000)}
			cfg := PlateauConfig{StateBackend: stateBackend(t, name), Rate: 5000, TTL: 200 * time.Millisecond,
				Duration: 2 * time.Second, Interval: 250 * time.Millisecond, List: true, Map: true}
			ft.config(&cfg)
			var samples []Sample
			sum, err := RunPlateau(context.Background(), cfg, func(s Sample) error {
				samples = append(samples, s)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(samples) != 8 || sum.Samples != 8 {
				t.Fatalf("%d samples (summary: %d), want 8", len(samples), sum.Samples)
			}
			for i, s := range samples {
				at := time.Duration(i+1) * cfg.Interval
				wantWritten := int64(cfg.Rate) * int64(at) / int64(time.Second)
				if s.Elapsed != at || s.Written != wantWritten {
					t.Errorf("sample %d: elapsed %v, written %d; want %v and %d", i, s.Elapsed, s.Written, at, wantWritten)
				}
				wantLive := int64(cfg.Rate) * int64(cfg.TTL) / int64(time.Second)
				if d := s.Live - wantLive; d < -int64(cfg.Rate/100+1) || d > int64(cfg.Rate/100+1)+5 {
					t.Errorf("sample %d: live %d, want about %d", i, s.Live, wantLive)
				}
				if s.Stored < s.Live-5 || s.Stored > s.Written {
					t.Errorf("sample %d: stored %d, want between the live %d and the written %d", i, s.Stored, s.Live, s.Written)
				}
				if (s.DiskBytes > 0) != (name == "lsm") {
					t.Errorf("sample %d: disk %d bytes", i, s.DiskBytes)
				}
			}
			if sum.Last.Written != samples[7].Written || sum.Middle.Written != samples[4].Written {
				t.Errorf("summary maxima: middle %d, last %d written; want samples 5 and 8", sum.Middle.Written, sum.Last.Written)
			}
		})
	}
}

func TestPlateauConfigValidate(t *testing.T) {
	err := PlateauConfig{Rate: 0, TTL: -time.Second, CleanupSize: -2}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"StateBackend", "rate", "TTL", "duration", "interval"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

package fraud

import (
	"context"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/stream"
)

// model computes the alerts of cfg's transactions directly, account by account.
func model(c Config) []string {
	c.defaults()
	type flag struct{ small, at int64 }
	flags := map[int64]flag{}
	var lines []string
	for split := range c.Splits {
		src := &reader{cfg: c, split: int64(split)}
		for k := range src.splitEvents() {
			t := Generate(c, split, k)
			if f, ok := flags[t.Account]; ok {
				if t.Amount > LargeAmount && t.Timestamp <= f.at {
					lines = append(lines, string(AppendAlert(nil, Alert{Account: t.Account, Small: f.small, Large: t.Amount, Timestamp: t.Timestamp})))
				}
				delete(flags, t.Account)
			}
			if t.Amount < SmallAmount {
				flags[t.Account] = flag{t.Amount, t.Timestamp + Window.Milliseconds()}
			}
		}
	}
	slices.Sort(lines)
	return lines
}

func readLines(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := stream.CommittedLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

func TestFraudMatchesModel(t *testing.T) {
	c := Config{Events: 200_000, Accounts: 400, Output: t.TempDir()}
	want := model(c)
	if len(want) < 50 {
		t.Fatalf("the model raises only %d alerts; the test would prove little", len(want))
	}
	g := stream.NewGraph()
	if err := Build(g, c); err != nil {
		t.Fatal(err)
	}
	j, err := stream.Execute(context.Background(), g, stream.Options{StateBackend: &heap.StateBackend{}, Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, c.Output)
	if !slices.Equal(got, want) {
		t.Fatalf("%d alerts, want %d; first got %q, first want %q", len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
	}
}

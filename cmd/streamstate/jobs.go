package main

import (
	"github.com/streamstate/streamstate/jobs/fraud"
	"github.com/streamstate/streamstate/jobs/nexmark"
	"github.com/streamstate/streamstate/stream"
)

// jobParams are the settings every shipped job takes from the command line.
type jobParams struct {
	Events int64
	Rate   float64
	Seed   uint64
	Output string
}

// jobSpec is a job shipped with the CLI.
type jobSpec struct {
	about string
	// keyedOperators is the number of keyed operators, which share the slots' memory.
	keyedOperators int
	build          func(g *stream.Graph, p jobParams) error
}

// nexmarkMiniBatch is the size of the Nexmark windows' in-memory pre-aggregation, as
// Flink SQL's table.exec.mini-batch.size.
const nexmarkMiniBatch = 100_000

// jobs are the jobs `streamstate run` knows. To add one, add a line.
var jobs = map[string]jobSpec{
	"fraud": {"Flink's fraud-detection walkthrough", 1, func(g *stream.Graph, p jobParams) error {
		return fraud.Build(g, fraud.Config{Events: p.Events, Rate: p.Rate, Seed: p.Seed, Output: p.Output})
	}},
	"nexmark-q5":  nexmarkJob("q5", "Nexmark q5, hot items over sliding windows", 2),
	"nexmark-q7":  nexmarkJob("q7", "Nexmark q7, highest bid per window", 2),
	"nexmark-q8":  nexmarkJob("q8", "Nexmark q8, new users: persons joined with their auctions per window", 1),
	"nexmark-q11": nexmarkJob("q11", "Nexmark q11, user sessions over session windows", 1),
}

func nexmarkJob(query, about string, keyed int) jobSpec {
	return jobSpec{about, keyed, func(g *stream.Graph, p jobParams) error {
		gen := nexmark.DefaultConfig()
		gen.Seed = p.Seed
		return nexmark.Build(g, nexmark.JobConfig{Query: query, Generator: gen, Events: p.Events, Rate: p.Rate, MiniBatch: nexmarkMiniBatch},
			func(s *stream.Stream[string]) {
				stream.SinkToFiles(s, "results", p.Output, func(dst []byte, v string) []byte { return append(dst, v...) })
			})
	}}
}

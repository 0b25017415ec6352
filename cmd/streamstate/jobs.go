package main

import (
	"github.com/streamstate/streamstate/jobs/fraud"
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

// jobs are the jobs `streamstate run` knows. To add one, add a line.
var jobs = map[string]jobSpec{
	"fraud": {"Flink's fraud-detection walkthrough", 1, func(g *stream.Graph, p jobParams) error {
		return fraud.Build(g, fraud.Config{Events: p.Events, Rate: p.Rate, Seed: p.Seed, Output: p.Output})
	}},
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/alecthomas/kong"
)

// cli is the command tree.
type cli struct {
	Run         runCmd         `cmd:"" help:"Run a job (${jobs}) with checkpoints; SIGUSR1 takes a savepoint, SIGUSR2 stops with one."`
	Savepoint   savepointCmd   `cmd:"" help:"Trigger a savepoint of a running job by its process id (sends SIGUSR1, or SIGUSR2 with --stop)."`
	Bench       benchCmd       `cmd:"" help:"Micro-benchmarks."`
	Demo        demoCmd        `cmd:"" help:"Run the demo job: write keyed state, checkpoint, rescale 2→3→1 through a checkpoint and a savepoint, and verify every key."`
	Checkpoints checkpointsCmd `cmd:"" help:"Look into checkpoint storage: list jobs and checkpoints, inspect one, validate every file (read-only)."`
}

// benchCmd groups the benchmarks.
type benchCmd struct {
	State      benchStateCmd      `cmd:"" help:"State micro-benchmark (Flink's Value/List/MapStateBenchmark) against a baseline: plain Go maps for hashmap, raw Pebble for lsm."`
	Checkpoint benchCheckpointCmd `cmd:"" help:"Checkpoint benchmark: load keys, change a percentage between checkpoints, report each checkpoint's phases and bytes written."`
	Nexmark    benchNexmarkCmd    `cmd:"" help:"Nexmark query throughput and CPU per event at each of several checkpoint intervals (the first is the baseline)."`
}

// env is what every command's Run receives: the context and where to write. Commands write
// results to Out and progress or warnings to Log; they never touch os.Stdout directly.
type env struct {
	Ctx context.Context
	Out io.Writer
	Log io.Writer
}

// exitRequest is the panic value of kong's Exit inside run (after --help), so that run
// returns instead of exiting the process.
type exitRequest struct{ code int }

// run parses args (without the program name) and runs the selected command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("streamstate"),
		kong.Description("Flink-style state management for Go: demo job and benchmarks."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest{code}) }),
		kong.Vars{
			"backends": strings.Join(backendNames(), ", "),
			"ops":      strings.Join(benchOpNames(), ", "),
			"jobs":     strings.Join(jobNames(), ", "),
		},
	)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			if e.code != 0 {
				err = fmt.Errorf("exit status %d", e.code)
			}
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		var pe *kong.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%w (see streamstate %s --help)", err, strings.TrimSpace(commandPath(pe.Context)))
		}
		return err
	}
	return kctx.Run(&env{Ctx: ctx, Out: stdout, Log: stderr})
}

// commandPath is the selected command path of a parse, for the --help hint.
func commandPath(kctx *kong.Context) string {
	if kctx == nil {
		return ""
	}
	return kctx.Command()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "streamstate: %v\n", err)
		os.Exit(1)
	}
}

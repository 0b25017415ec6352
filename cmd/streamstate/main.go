package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/streamstate/streamstate/cmd/streamstate/internal/earlysignal"
)

// cli is the command tree.
type cli struct {
	Run         runCmd         `cmd:"" help:"Run a job (${jobs}) with checkpoints; SIGUSR1 takes a savepoint, SIGUSR2 stops with one, SIGINT or SIGTERM cancels (a second one exits at once)."`
	Savepoint   savepointCmd   `cmd:"" help:"Take a savepoint of a running job (by process id, --job, or the only one running), wait for it and print where it went; --stop stops the job with it. Only a streamstate job is signalled."`
	Bench       benchCmd       `cmd:"" help:"Micro-benchmarks."`
	Demo        demoCmd        `cmd:"" help:"Run the demo job: write keyed state, checkpoint, rescale 2→3→1 through a checkpoint and a savepoint, and verify every key."`
	Checkpoints checkpointsCmd `cmd:"" help:"Look into checkpoint storage: list jobs and checkpoints, inspect one, validate every file (read-only)."`
}

// benchCmd groups the benchmarks.
type benchCmd struct {
	State        benchStateCmd        `cmd:"" help:"State micro-benchmark (Flink's Value/List/MapStateBenchmark) against a baseline: plain Go maps for hashmap, raw Pebble for lsm."`
	Checkpoint   benchCheckpointCmd   `cmd:"" help:"Checkpoint benchmark: load keys, change a percentage between checkpoints, report each checkpoint's phases and bytes written."`
	Nexmark      benchNexmarkCmd      `cmd:"" help:"Nexmark query throughput and CPU per event at each of several checkpoint intervals (the first is the baseline)."`
	TTL          benchTTLCmd          `cmd:"" name:"ttl" help:"State TTL plateau: new keys arrive forever with a TTL of a few seconds; every second, the state entries, Go heap and lsm disk bytes, which must level off."`
	Restore      benchRestoreCmd      `cmd:"" help:"Restore benchmark: restore time and peak RSS of a checkpoint of each size, backend and storage, next to the raw read rate of the same bytes."`
	RestoreChild benchRestoreChildCmd `cmd:"" name:"restore-child" hidden:"" help:"One restore of bench restore, in a process of its own."`
}

// env is what every command's Run receives: the context and where to write. Commands write
// results to Out and progress or warnings to Log; they never touch os.Stdout directly.
type env struct {
	Ctx context.Context
	Out io.Writer
	Log io.Writer
	// Signals, for a command that implements signalTaker, delivers the process's signals
	// (earlysignal.Handled), registered before main; nil when run is
	// called in-process (tests). Other commands see SIGINT and SIGTERM as Ctx's cancellation.
	Signals <-chan os.Signal
	// Exit ends the process at once (os.Exit); nil in-process.
	Exit func(code int)
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
}

// signalTaker is a command that handles the process's signals itself (env.Signals).
type signalTaker interface{ takesSignals() }

// exitRequest is the panic value of kong's Exit inside run (after --help), so that run
// returns instead of exiting the process.
type exitRequest struct{ code int }

// run parses args (without the program name) and runs the selected command, in-process: no
// signal handling, no forced exit.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, &env{Out: stdout, Log: stderr, Getenv: os.Getenv})
}

// runWith parses args and runs the selected command with e (whose Ctx it sets). With
// e.Signals, a command that is no signalTaker is canceled by the first SIGINT or SIGTERM and
// exits at once on the second.
func runWith(ctx context.Context, args []string, e *env) (err error) {
	stdout, stderr := e.Out, e.Log
	var c cli
	parser, err := kong.New(&c,
		kong.Name("streamstate"),
		kong.Description("Flink-style state management for Go: demo job and benchmarks."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest{code}) }),
		kong.Vars{
			"backends": strings.Join(backendNames, ", "),
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
	e.Ctx = ctx
	if _, ok := kctx.Selected().Target.Addr().Interface().(signalTaker); !ok && e.Signals != nil {
		var cancel context.CancelFunc
		e.Ctx, cancel = context.WithCancel(ctx)
		stop, done := make(chan struct{}), make(chan struct{})
		defer func() { close(stop); <-done; cancel() }()
		go cancelOnSignal(e.Signals, cancel, e.Exit, stop, done)
	}
	return kctx.Run(e)
}

// cancelOnSignal cancels on the first SIGINT or SIGTERM and exits at once on the second,
// until stop is closed; it ignores SIGUSR1 and SIGUSR2, which only a running job answers.
func cancelOnSignal(sigs <-chan os.Signal, cancel context.CancelFunc, exit func(int), stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	canceled := false
	for {
		select {
		case <-stop:
			return
		case s := <-sigs:
			if s != syscall.SIGINT && s != syscall.SIGTERM {
				continue
			}
			if canceled && exit != nil {
				exit(forcedExitCode(s))
			}
			canceled = true
			cancel()
		}
	}
}

// commandPath is the selected command path of a parse, for the --help hint.
func commandPath(kctx *kong.Context) string {
	if kctx == nil {
		return ""
	}
	return kctx.Command()
}

func main() {
	// The signals were registered before main, by earlysignal's init: one that arrived while
	// the process started is queued for the command, not lost (nor fatal, SIGUSR1's default
	// action).
	sigs, stop := earlysignal.Take()
	err := runWith(context.Background(), os.Args[1:], &env{Out: os.Stdout, Log: os.Stderr, Signals: sigs, Exit: os.Exit, Getenv: os.Getenv})
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "streamstate: %v\n", err)
		os.Exit(1)
	}
}

// Command archstats measures the shape of a Go module and prints it as Markdown, so that an
// architecture change can be shown as a before/after table computed the same way both times
// (issue 18). It is a maintenance tool, nobody's API.
//
//	go run ./internal/cmd/archstats                 # the module in the current directory
//	go run ./internal/cmd/archstats -dir ../other   # another checkout
//	git archive abc123 | tar -x -C /tmp/old && go run ./internal/cmd/archstats -dir /tmp/old -rev abc123
//
// The report has five sections:
//
//  1. every package with production files: its files, production lines and exported names;
//  2. the largest production files;
//  3. the production lines under cmd/;
//  4. dependency counts from `go list -deps` for a few packages (-deps), with how many of
//     the dependencies' import paths contain "aws" or "pebble";
//  5. the production files over a line limit (-over, default 600).
//
// Definitions, printed with the report so that a reader need not come here:
//
//   - A production file is a .go file whose name does not end in _test.go. All of them count,
//     whatever their build constraints. Directories named testdata, vendor, or starting with
//     "." or "_", and directories holding another module (a go.mod), are skipped, as the go
//     command does. A package is a directory holding at least one production file.
//   - Lines are physical lines, blank and comment lines included (what `wc -l` counts, plus a
//     last line without a newline).
//   - Exported names are the distinct exported top-level names declared in production files:
//     each const, var, type and func name counts once (so `var A, B int` is two). Methods,
//     struct fields and interface methods are not counted. A name declared in two files of a
//     package under different build constraints counts once.
//
// Section 4 runs the go command in the module (`go list -deps`, which counts the package
// itself and the standard library); the other sections only read files. A package that
// `go list` cannot load is reported with its error in the table instead of failing the
// report, because in an "after" tree a listed package may no longer exist.
//
// It imports only the standard library.
package main

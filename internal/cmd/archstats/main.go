package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// defaultDeps are the packages whose dependency counts issue 18 asks for.
const defaultDeps = "./state,./stream,./cmd/streamstate"

func main() {
	dir := flag.String("dir", ".", "root of the module checkout to measure (the directory holding go.mod)")
	deps := flag.String("deps", defaultDeps, "comma-separated packages, relative to -dir, whose `go list -deps` are counted")
	top := flag.Int("top", 10, "how many of the largest production files to list")
	over := flag.Int("over", 600, "list the production files with more lines than this")
	rev := flag.String("rev", "", "what is measured, for the report header (default: the git commit checked out in -dir)")
	flag.Parse()
	if err := run(*dir, *rev, splitList(*deps), *top, *over); err != nil {
		fmt.Fprintln(os.Stderr, "archstats:", err)
		os.Exit(1)
	}
}

// run measures the module at dir and prints the report on stdout. rev names what is
// measured; "" asks git.
func run(dir, rev string, deps []string, top, over int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolve -dir: %w", err)
	}
	m, err := scanModule(abs)
	if err != nil {
		return err
	}
	if rev == "" {
		rev = revision(abs)
	}
	counts := make([]depCount, 0, len(deps))
	for _, p := range deps {
		counts = append(counts, countDeps(abs, p))
	}
	return writeReport(os.Stdout, report{
		Module:   m,
		Revision: rev,
		Deps:     counts,
		Top:      top,
		Over:     over,
	})
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// revision describes the checked-out commit of dir for the report header: the short hash,
// with " (uncommitted changes)" when the work tree differs from it or holds untracked
// files (which the report counts), or "" when dir is not in a git work tree.
func revision(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	status, err := exec.Command("git", "-C", dir, "status", "--porcelain").Output()
	if err == nil && len(strings.TrimSpace(string(status))) > 0 {
		rev += " (uncommitted changes)"
	}
	return rev
}

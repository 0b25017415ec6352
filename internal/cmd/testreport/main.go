package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// raceSkip marks the skip reason of a test that runs only without the race detector.
const raceSkip = "under -race"

func main() {
	save := flag.String("save", "", "live mode: copy the JSON events read from stdin to this file")
	summary := flag.Bool("summary", false, "summary mode: print totals and every skip of the JSON files given as arguments")
	raceSkipped := flag.Bool("race-skipped", false, "print, per package, a -run pattern of the tests of the JSON files given that skipped under -race")
	flag.Parse()
	var err error
	switch {
	case *summary:
		err = printSummary(os.Stdout, flag.Args())
	case *raceSkipped:
		err = printRaceSkipped(os.Stdout, flag.Args())
	default:
		err = live(os.Stdin, os.Stdout, *save)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
}

// live prints package results and the output of failed tests as events arrive. It fails if a
// test or package failed, or if the input ends without any package result (a build that
// never ran).
func live(in io.Reader, out io.Writer, save string) error {
	var saved io.Writer = io.Discard
	if save != "" {
		f, err := os.Create(save)
		if err != nil {
			return err
		}
		defer f.Close()
		saved = f
	}
	outputs := map[string][]string{} // package/test -> output lines, until the test ends
	failed, packages := 0, 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		fmt.Fprintf(saved, "%s\n", line)
		var e event
		if json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Fprintf(out, "%s\n", line) // not an event: the go command's own output (build errors)
			continue
		}
		id := e.Package + "/" + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(out, e.Output)
		case e.Action == "build-fail":
			failed++
		case e.Action == "output" && e.Test == "":
			fmt.Fprint(out, e.Output) // package lines: "ok  pkg 1.2s", "FAIL", panics outside tests
		case e.Action == "output":
			outputs[id] = append(outputs[id], e.Output)
		case e.Test != "" && e.Action == "fail":
			failed++
			fmt.Fprintf(out, "--- FAIL: %s %s (%.2fs)\n", e.Package, e.Test, e.Elapsed)
			for _, o := range outputs[id] {
				fmt.Fprint(out, "    ", o)
			}
			delete(outputs, id)
		case e.Test != "" && (e.Action == "pass" || e.Action == "skip"):
			delete(outputs, id)
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			packages++
			if e.Action == "fail" {
				failed++
				printUnfinished(out, e.Package, outputs)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d tests or packages failed", failed)
	}
	if packages == 0 {
		return fmt.Errorf("no package result in the input: did the build fail?")
	}
	return nil
}

// unfinishedLines bounds what is printed of a test that never ended (a panic prints every
// goroutine's stack; its first lines say what happened).
const unfinishedLines = 200

// printUnfinished prints the output of the tests of pkg that were running when the package
// failed without their ending (a panic, a timeout, a crash of the test binary), so the reason
// is in the log.
func printUnfinished(out io.Writer, pkg string, outputs map[string][]string) {
	var ids []string
	for id := range outputs {
		if strings.HasPrefix(id, pkg+"/") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		lines := outputs[id]
		fmt.Fprintf(out, "--- FAIL: %s %s (did not finish)\n", pkg, strings.TrimPrefix(id, pkg+"/"))
		if len(lines) > unfinishedLines {
			fmt.Fprintf(out, "    (%d lines, the first %d:)\n", len(lines), unfinishedLines)
			lines = lines[:unfinishedLines]
		}
		for _, o := range lines {
			fmt.Fprint(out, "    ", o)
		}
		delete(outputs, id)
	}
}

// result is what the summary knows of one test.
type result struct {
	pkg, test, action, reason string
}

// readResults returns the final action of every test (not subtests' parents' packages) in
// the files, with the skip reason of skipped ones.
func readResults(files []string) ([]result, error) {
	var results []result
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		outputs := map[string][]string{}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
				continue
			}
			id := e.Package + "/" + e.Test
			switch e.Action {
			case "output":
				outputs[id] = append(outputs[id], e.Output)
			case "pass", "fail", "skip":
				results = append(results, result{pkg: e.Package, test: e.Test, action: e.Action, reason: skipReason(outputs[id])})
				delete(outputs, id)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return results, nil
}

// skipReason is what a test printed besides its framing lines ("=== RUN", "--- SKIP"):
// the message it gave t.Skip, and anything it logged before.
func skipReason(lines []string) string {
	var reason []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		reason = append(reason, l)
	}
	return strings.Join(reason, " ")
}

func printSummary(out io.Writer, files []string) error {
	results, err := readResults(files)
	if err != nil {
		return err
	}
	// A test skipped in one run (under -race) and run in another counts once, as run.
	ran := map[string]bool{}
	for _, r := range results {
		if r.action != "skip" {
			ran[r.pkg+" "+r.test] = true
		}
	}
	var passed, failed, rerun int
	var skipped []result
	for _, r := range results {
		switch {
		case r.action == "pass":
			passed++
		case r.action == "fail":
			failed++
		case ran[r.pkg+" "+r.test]:
			rerun++
		default:
			skipped = append(skipped, r)
		}
	}
	sort.Slice(skipped, func(i, j int) bool {
		return skipped[i].pkg+" "+skipped[i].test < skipped[j].pkg+" "+skipped[j].test
	})
	if len(skipped) > 0 {
		fmt.Fprintf(out, "skipped tests (%d), with their reasons:\n", len(skipped))
		for _, r := range skipped {
			fmt.Fprintf(out, "  %s %s: %s\n", r.pkg, r.test, r.reason)
		}
	}
	if rerun > 0 {
		fmt.Fprintf(out, "%d tests skipped under -race ran without it\n", rerun)
	}
	fmt.Fprintf(out, "tests: %d passed, %d failed, %d skipped\n", passed, failed, len(skipped))
	if failed > 0 {
		return fmt.Errorf("%d tests failed", failed)
	}
	return nil
}

func printRaceSkipped(out io.Writer, files []string) error {
	results, err := readResults(files)
	if err != nil {
		return err
	}
	byPkg := map[string][]string{}
	for _, r := range results {
		if r.action == "skip" && strings.Contains(r.reason, raceSkip) {
			// A subtest is rerun through its top-level test.
			top, _, _ := strings.Cut(r.test, "/")
			byPkg[r.pkg] = append(byPkg[r.pkg], regexp.QuoteMeta(top))
		}
	}
	pkgs := make([]string, 0, len(byPkg))
	for p := range byPkg {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		fmt.Fprintf(out, "%s ^(%s)$\n", p, strings.Join(dedupe(byPkg[p]), "|"))
	}
	return nil
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

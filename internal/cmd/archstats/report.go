package main

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// report is everything the Markdown report prints.
type report struct {
	Module module
	// Revision names what was measured (see revision); "" when unknown.
	Revision string
	Deps     []depCount
	// Top is how many of the largest files to list; Over is the line limit of section 5.
	Top, Over int
}

// cmdLines returns the production lines and files under the module's top-level cmd/.
func cmdLines(m module) (lines, files int) {
	for _, p := range m.Packages {
		for _, f := range p.Files {
			if strings.HasPrefix(f.Path, "cmd/") {
				lines += f.Lines
				files++
			}
		}
	}
	return lines, files
}

// largestFiles returns the production files by decreasing lines (ties by path); at most n
// of them when n >= 0.
func largestFiles(m module, n int) []file {
	var all []file
	for _, p := range m.Packages {
		all = append(all, p.Files...)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Lines != all[j].Lines {
			return all[i].Lines > all[j].Lines
		}
		return all[i].Path < all[j].Path
	})
	if n >= 0 && n < len(all) {
		all = all[:n]
	}
	return all
}

// filesOver returns the production files with more than limit lines, largest first.
func filesOver(m module, limit int) []file {
	var out []file
	for _, f := range largestFiles(m, -1) {
		if f.Lines > limit {
			out = append(out, f)
		}
	}
	return out
}

// writeReport prints r as Markdown.
func writeReport(w io.Writer, r report) error {
	b := bufio.NewWriter(w)
	m := r.Module
	var files, lines, exported int
	for _, p := range m.Packages {
		files += len(p.Files)
		lines += p.Lines()
		exported += len(p.Exported)
	}
	fmt.Fprintf(b, "# Architecture statistics of %s\n\n", m.Path)
	if r.Revision != "" {
		fmt.Fprintf(b, "Measured at %s by `go run ./internal/cmd/archstats`.\n\n", r.Revision)
	}
	fmt.Fprintf(b, "%d packages, %d production files, %d production lines, %d exported names.\n\n",
		len(m.Packages), files, lines, exported)
	b.WriteString("A production file is a .go file not named *_test.go (any build constraint); testdata,\n" +
		"vendor, dot and underscore directories and nested modules are skipped. Lines are physical\n" +
		"lines, blank and comment lines included. Exported names are the distinct exported top-level\n" +
		"const, var, type and func names of a package's production files, each name counted once;\n" +
		"methods and struct fields are not counted.\n\n")

	b.WriteString("## Packages\n\n| Package | Files | Lines | Exported names |\n|---|--:|--:|--:|\n")
	for _, p := range m.Packages {
		fmt.Fprintf(b, "| `%s` | %d | %d | %d |\n", p.Dir, len(p.Files), p.Lines(), len(p.Exported))
	}
	fmt.Fprintf(b, "| **total** | %d | %d | %d |\n\n", files, lines, exported)

	fmt.Fprintf(b, "## The %d largest production files\n\n| File | Lines |\n|---|--:|\n", r.Top)
	for _, f := range largestFiles(m, r.Top) {
		fmt.Fprintf(b, "| `%s` | %d |\n", f.Path, f.Lines)
	}
	b.WriteString("\n")

	cl, cf := cmdLines(m)
	fmt.Fprintf(b, "## Lines under cmd/\n\n%d production lines in %d files under `cmd/`.\n\n", cl, cf)

	b.WriteString("## Dependencies\n\n" +
		"`go list -deps` counts the package itself and the standard library; aws and pebble count\n" +
		"the import paths containing those words (as `go list -deps ./state | grep -c aws`).\n\n" +
		"| Package | `go list -deps` | not standard library | aws | pebble |\n|---|--:|--:|--:|--:|\n")
	for _, d := range r.Deps {
		if d.Err != nil {
			fmt.Fprintf(b, "| `%s` | error: %s | | | |\n", d.Package, strings.ReplaceAll(d.Err.Error(), "|", `\|`))
			continue
		}
		fmt.Fprintf(b, "| `%s` | %d | %d | %d | %d |\n", d.Package, d.Total, d.NonStd, d.AWS, d.Pebble)
	}
	b.WriteString("\n")

	over := filesOver(m, r.Over)
	fmt.Fprintf(b, "## Production files over %d lines\n\n", r.Over)
	if len(over) == 0 {
		b.WriteString("None.\n")
	} else {
		fmt.Fprintf(b, "%d files.\n\n| File | Lines |\n|---|--:|\n", len(over))
		for _, f := range over {
			fmt.Fprintf(b, "| `%s` | %d |\n", f.Path, f.Lines)
		}
	}
	return b.Flush()
}

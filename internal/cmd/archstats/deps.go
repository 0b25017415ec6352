package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// depCount is the transitive dependency count of one package, as `go list -deps` prints it.
type depCount struct {
	// Package is the package pattern as given (e.g. "./state").
	Package string
	// Total is the number of packages `go list -deps` prints: the package itself, the
	// module's and other modules' packages, and the standard library.
	Total int
	// NonStd is Total without the standard library.
	NonStd int
	// AWS and Pebble count the import paths containing "aws" and "pebble", the way
	// `go list -deps ./state | grep -c aws` does.
	AWS, Pebble int
	// Err is why the counts could not be taken (the package does not exist or does not
	// load); the counts are then zero.
	Err error
}

// countDeps runs `go list -deps` for pattern in the module at dir.
func countDeps(dir, pattern string) depCount {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pattern)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return depCount{Package: pattern, Err: fmt.Errorf("go list -deps %s: %w: %s", pattern, err, msg)}
	}
	c, err := parseDeps(stdout.String())
	c.Package = pattern
	if err != nil {
		c = depCount{Package: pattern, Err: fmt.Errorf("go list -deps %s: %w", pattern, err)}
	}
	return c
}

// parseDeps counts the lines "<import path> <true|false>" of `go list -deps -f
// '{{.ImportPath}} {{.Standard}}'`.
func parseDeps(out string) (depCount, error) {
	var c depCount
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		ip, std, ok := strings.Cut(line, " ")
		if !ok || (std != "true" && std != "false") {
			return depCount{}, fmt.Errorf("unexpected line %q", line)
		}
		c.Total++
		if std == "false" {
			c.NonStd++
		}
		if strings.Contains(ip, "aws") {
			c.AWS++
		}
		if strings.Contains(ip, "pebble") {
			c.Pebble++
		}
	}
	return c, nil
}

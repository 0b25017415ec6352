package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tinyModule is a synthetic module: file path → content. The expected numbers in the tests
// below were counted by hand from it.
var tinyModule = map[string]string{
	"go.mod": "module example.com/m // a comment\n\ngo 1.22\n",
	// 1 line, 1 exported name; the root package is "." .
	"m.go": "package m; type Root int\n",
	// 22 lines; exported: C, D, V, T, U, Func (not e, w, _, init, Method, F, M).
	"a/a.go": `package a

import "strings"

const (
	C, D = 1, 2
	e    = 3
)

var V, _ = strings.ToUpper("x"), 0

type T struct{ F int }

type (
	U interface{ M() }
	w int
)

func (T) Method() {}

func Func() string { return strings.ToLower("A") + string(rune(e)) }
func init()        { _ = w(0) }
`,
	// 5 lines each, the last without a newline; Inv is declared twice and counts once.
	"a/on.go":  "//go:build tag\n\npackage a\n\nconst Inv = true",
	"a/off.go": "//go:build !tag\n\npackage a\n\nconst Inv = false\n",
	// Not counted: tests, testdata, dot and underscore directories and files, nested modules.
	"a/a_test.go":           "package a\n\nfunc ExportedInTest() {}\n",
	"a/x_test.go":           "package a_test\n\nfunc ExportedInExternalTest() {}\n",
	"a/testdata/td.go":      "package td\n\nfunc TD() {}\n",
	"a/.hidden/h.go":        "package h\n\nfunc H() {}\n",
	"a/_skip/s.go":          "package s\n\nfunc S() {}\n",
	"a/_ignored.go":         "package a\n\nfunc Ignored() {}\n",
	"a/notgo.txt":           "package a\n",
	"nested/go.mod":         "module example.com/nested\n",
	"nested/n.go":           "package nested\n\nfunc N() {}\n",
	"onlytests/o_test.go":   "package onlytests\n\nfunc TestO() {}\n",
	"awsfake/aws.go":        "package awsfake\n\n// Region is exported.\nconst Region = \"x\"\n",
	"cmd/tool/main.go":      "package main\n\nimport (\n\t\"example.com/m/a\"\n\t\"example.com/m/awsfake\"\n)\n\nfunc main() { println(a.Func(), awsfake.Region, Helper()) }\n",
	"cmd/tool/helper.go":    "package main\n\n// Helper is exported even in package main.\nfunc Helper() int { return 1 }\n",
	"cmd/tool/main_test.go": "package main\n\nfunc TestMain() {}\n",
}

// writeModule writes files under a new temporary directory and returns it.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestScanModuleCountsPackagesFilesLinesAndExportedNames(t *testing.T) {
	m, err := scanModule(writeModule(t, tinyModule))
	if err != nil {
		t.Fatal(err)
	}
	if m.Path != "example.com/m" {
		t.Errorf("module path %q, want example.com/m", m.Path)
	}
	want := []pkg{
		{ImportPath: "example.com/m", Dir: ".", Files: []file{{"m.go", 1}}, Exported: []string{"Root"}},
		{ImportPath: "example.com/m/a", Dir: "a",
			Files:    []file{{"a/a.go", 22}, {"a/off.go", 5}, {"a/on.go", 5}},
			Exported: []string{"C", "D", "Func", "Inv", "T", "U", "V"}},
		{ImportPath: "example.com/m/awsfake", Dir: "awsfake", Files: []file{{"awsfake/aws.go", 4}}, Exported: []string{"Region"}},
		{ImportPath: "example.com/m/cmd/tool", Dir: "cmd/tool",
			Files:    []file{{"cmd/tool/helper.go", 4}, {"cmd/tool/main.go", 8}},
			Exported: []string{"Helper"}},
	}
	if !reflect.DeepEqual(m.Packages, want) {
		t.Fatalf("packages:\n got %+v\nwant %+v", m.Packages, want)
	}
	if got := m.Packages[1].Lines(); got != 32 {
		t.Errorf("package a has %d lines, want 32", got)
	}
	if lines, files := cmdLines(m); lines != 12 || files != 2 {
		t.Errorf("cmd/ has %d lines in %d files, want 12 in 2", lines, files)
	}
	wantTop := []file{{"a/a.go", 22}, {"cmd/tool/main.go", 8}, {"a/off.go", 5}}
	if got := largestFiles(m, 3); !reflect.DeepEqual(got, wantTop) {
		t.Errorf("largest 3 files %v, want %v (ties by path)", got, wantTop)
	}
	if got := largestFiles(m, 100); len(got) != 7 {
		t.Errorf("largestFiles(100) returned %d files, want all 7", len(got))
	}
	wantOver := []file{{"a/a.go", 22}, {"cmd/tool/main.go", 8}}
	if got := filesOver(m, 5); !reflect.DeepEqual(got, wantOver) {
		t.Errorf("files over 5 lines %v, want %v (a 5-line file is not over)", got, wantOver)
	}
}

func TestCountLines(t *testing.T) {
	for src, want := range map[string]int{"": 0, "x": 1, "x\n": 1, "\n": 1, "\n\n": 2, "a\nb": 2, "a\nb\n": 2} {
		if got := countLines([]byte(src)); got != want {
			t.Errorf("countLines(%q) = %d, want %d", src, got, want)
		}
	}
}

func TestScanModuleFailsRatherThanMiscount(t *testing.T) {
	if _, err := scanModule(t.TempDir()); !errors.Is(err, errNoModule) {
		t.Errorf("a directory without go.mod: err = %v, want errNoModule", err)
	}
	noDirective := writeModule(t, map[string]string{"go.mod": "go 1.22\n"})
	if _, err := scanModule(noDirective); !errors.Is(err, errNoModule) {
		t.Errorf("a go.mod without module directive: err = %v, want errNoModule", err)
	}
	broken := writeModule(t, map[string]string{"go.mod": "module \"example.com/q\"\n", "b.go": "package b\n\nfunc {\n"})
	if _, err := scanModule(broken); err == nil || !strings.Contains(err.Error(), "b.go") {
		t.Errorf("a file that does not parse: err = %v, want an error naming b.go", err)
	}
	quoted := writeModule(t, map[string]string{"go.mod": "module \"example.com/q\"\n", "b.go": "package b\n"})
	if m, err := scanModule(quoted); err != nil || m.Path != "example.com/q" {
		t.Errorf("quoted module path: got %q, %v; want example.com/q", m.Path, err)
	}
}

func TestCountDepsOfTinyModule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "-mod=mod")
	root := writeModule(t, tinyModule)
	c := countDeps(root, "./cmd/tool")
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	// cmd/tool, a and awsfake; a also pulls strings from the standard library.
	if c.NonStd != 3 || c.AWS != 1 || c.Pebble != 0 || c.Total <= c.NonStd {
		t.Errorf("deps of ./cmd/tool: %+v, want 3 outside the standard library (plus some inside), 1 aws, 0 pebble", c)
	}
	if c := countDeps(root, "./awsfake"); c.Err != nil || c.NonStd != 1 || c.Total != 1 || c.AWS != 1 {
		t.Errorf("deps of ./awsfake: %+v, want itself only", c)
	}
	if c := countDeps(root, "./missing"); c.Err == nil {
		t.Errorf("deps of a package that does not exist: %+v, want an error", c)
	}
}

func TestParseDeps(t *testing.T) {
	c, err := parseDeps("errors true\ngithub.com/aws/smithy-go false\ngithub.com/cockroachdb/pebble/v2/vfs false\nexample.com/m false\n")
	if err != nil {
		t.Fatal(err)
	}
	want := depCount{Total: 4, NonStd: 3, AWS: 1, Pebble: 1}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if _, err := parseDeps("no-standard-field\n"); err == nil {
		t.Error("a line without the Standard field was accepted")
	}
}

func TestWriteReport(t *testing.T) {
	m, err := scanModule(writeModule(t, tinyModule))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = writeReport(&out, report{
		Module:   m,
		Revision: "abc123",
		Deps:     []depCount{{Package: "./x", Total: 9, NonStd: 4, AWS: 2, Pebble: 1}, {Package: "./gone", Err: errors.New("a|b")}},
		Top:      2,
		Over:     5,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Measured at abc123 ",
		"4 packages, 7 production files, 49 production lines, 10 exported names.",
		"methods and struct fields are not counted",
		"| `.` | 1 | 1 | 1 |\n",
		"| `a` | 3 | 32 | 7 |\n",
		"| `cmd/tool` | 2 | 12 | 1 |\n",
		"| **total** | 7 | 49 | 10 |\n",
		"## The 2 largest production files\n\n| File | Lines |\n|---|--:|\n| `a/a.go` | 22 |\n| `cmd/tool/main.go` | 8 |\n\n",
		"12 production lines in 2 files under `cmd/`.",
		"| `./x` | 9 | 4 | 2 | 1 |\n",
		"| `./gone` | error: a\\|b | | | |\n",
		"## Production files over 5 lines\n\n2 files.\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

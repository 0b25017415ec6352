package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// errNoModule reports a -dir without a usable go.mod.
var errNoModule = errors.New("no module")

// module is what the file-reading sections of the report are computed from.
type module struct {
	// Path is the module path declared in go.mod.
	Path string
	// Packages are the directories holding production files, sorted by import path.
	Packages []pkg
}

// pkg is one package: a directory holding at least one production (non-_test.go) file.
type pkg struct {
	// ImportPath is the module path joined with Dir.
	ImportPath string
	// Dir is the directory relative to the module root, slash-separated; "." for the root.
	Dir string
	// Files are the production files, sorted by path.
	Files []file
	// Exported are the distinct exported top-level const, var, type and func names of the
	// production files, sorted. Methods are not included.
	Exported []string
}

// file is one production file.
type file struct {
	// Path is relative to the module root, slash-separated.
	Path string
	// Lines is the number of physical lines (see countLines).
	Lines int
}

// Lines is the sum of the lines of p's production files.
func (p pkg) Lines() int {
	n := 0
	for _, f := range p.Files {
		n += f.Lines
	}
	return n
}

// scanModule reads every production file of the module rooted at root. It fails on a
// missing go.mod or a file that does not parse, rather than reporting a count that
// silently leaves something out.
func scanModule(root string) (module, error) {
	modPath, err := readModulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return module{}, err
	}
	byDir := map[string]*pkg{}
	names := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == root {
				return nil
			}
			if skipDir(d.Name()) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !d.Type().IsRegular() || !isProduction(d.Name()) {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		exported, err := exportedNames(fset, p, src)
		if err != nil {
			return err
		}
		dir := path.Dir(rel)
		pk := byDir[dir]
		if pk == nil {
			ip := modPath
			if dir != "." {
				ip = modPath + "/" + dir
			}
			pk = &pkg{ImportPath: ip, Dir: dir}
			byDir[dir] = pk
			names[dir] = map[string]bool{}
		}
		pk.Files = append(pk.Files, file{Path: rel, Lines: countLines(src)})
		for _, n := range exported {
			names[dir][n] = true
		}
		return nil
	})
	if err != nil {
		return module{}, fmt.Errorf("scan %s: %w", root, err)
	}
	m := module{Path: modPath}
	for dir, pk := range byDir {
		for n := range names[dir] {
			pk.Exported = append(pk.Exported, n)
		}
		sort.Strings(pk.Exported)
		sort.Slice(pk.Files, func(i, j int) bool { return pk.Files[i].Path < pk.Files[j].Path })
		m.Packages = append(m.Packages, *pk)
	}
	sort.Slice(m.Packages, func(i, j int) bool { return m.Packages[i].ImportPath < m.Packages[j].ImportPath })
	return m, nil
}

// skipDir reports whether the go command ignores a directory of this name.
func skipDir(name string) bool {
	return name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// isProduction reports whether a file name is a Go source file that is not a test file. Like
// the go command, it ignores names starting with "." or "_".
func isProduction(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
}

// readModulePath returns the path of the module directive of the go.mod file at p.
func readModulePath(p string) (string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoModule, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != "module" {
			continue
		}
		if uq, err := strconv.Unquote(f[1]); err == nil {
			return uq, nil
		}
		return f[1], nil
	}
	return "", fmt.Errorf("%w: %s has no module directive", errNoModule, p)
}

// countLines counts physical lines: the newlines, plus one for a last line that has no
// newline. An empty file has zero lines.
func countLines(src []byte) int {
	n := bytes.Count(src, []byte("\n"))
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return n
}

// exportedNames returns the exported top-level const, var, type and func names declared in
// one source file, in declaration order; methods are left out.
func exportedNames(fset *token.FileSet, filename string, src []byte) ([]string, error) {
	f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var out []string
	add := func(id *ast.Ident) {
		if id.IsExported() {
			out = append(out, id.Name)
		}
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				add(d.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.ValueSpec:
					for _, id := range s.Names {
						add(id)
					}
				case *ast.TypeSpec:
					add(s.Name)
				}
			}
		}
	}
	return out, nil
}

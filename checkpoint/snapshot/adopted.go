package snapshot

import (
	"fmt"
	"path"
	"strings"
)

// AdoptedPrefix starts the path of an adopted file: a shared file of another snapshot in the
// same checkpoint storage that a checkpoint references after a restore in claim mode (Flink's
// RecoveryClaimMode.CLAIM). Paths in a checkpoint's metadata are relative to its job's
// directory <root>/<job>/, so a file elsewhere under the storage root is written as
// "../" followed by its path relative to the root, e.g. "../other-job/shared/x-000012.sst" or
// "../savepoints/savepoint-1/shared/x-000012.sst".
const AdoptedPrefix = "../"

// AdoptedPath returns the adopted form of the file at rootPath, a path relative to the
// checkpoint storage root (see AdoptedPrefix). It does not validate rootPath:
// ValidAdoptedShared does.
func AdoptedPath(rootPath string) string { return AdoptedPrefix + rootPath }

// IsAdopted reports whether p has the adopted form's prefix (see AdoptedPrefix).
func IsAdopted(p string) bool { return strings.HasPrefix(p, AdoptedPrefix) }

// AdoptedRoot returns the path of an adopted file relative to the storage root, and whether
// p is adopted at all. It does not validate p.
func AdoptedRoot(p string) (string, bool) { return strings.CutPrefix(p, AdoptedPrefix) }

// ValidAdoptedShared checks that p is an adopted path of the one shape a checkpoint may
// reference: "../<dir>/shared/<name>", where <dir> is one or more clean path elements (a job
// directory, or a savepoint's directory) and <name> a base name other than _metadata. It
// never leaves the storage root: no element is "." or "..", empty, or holds a backslash.
func ValidAdoptedShared(p string) error {
	rest, ok := AdoptedRoot(p)
	if !ok {
		return fmt.Errorf("file path %q is not adopted (it does not start with %s)", p, AdoptedPrefix)
	}
	if err := validPath(rest); err != nil {
		return fmt.Errorf("adopted file path %q: %w", p, err)
	}
	elems := strings.Split(rest, "/")
	if len(elems) < 3 || elems[len(elems)-2]+"/" != SharedDir {
		return fmt.Errorf("adopted file path %q is not of the form %s<dir>/%s<name>", p, AdoptedPrefix, SharedDir)
	}
	for _, e := range elems {
		if e == "" || e == "." || e == ".." || strings.Contains(e, "\\") {
			return fmt.Errorf("adopted file path %q has an element %q", p, e)
		}
	}
	if name := elems[len(elems)-1]; name == MetadataName || path.Base(name) != name {
		return fmt.Errorf("adopted file path %q names no data file", p)
	}
	return nil
}

// validateAdopted checks where m's adopted paths point: a savepoint adopts nothing (it is
// relocatable, so it holds every file itself), and a checkpoint never names its own job's
// directory through the adopted form (its own files are "shared/..."; a second spelling of
// the same file would let retention delete a file still referenced by the other).
func (m *Metadata) validateAdopted() error {
	if m.Claimed != "" {
		dir, ok := strings.CutSuffix(m.Claimed, "/")
		if m.Savepoint {
			return fmt.Errorf("savepoint records a claimed snapshot %q; only checkpoints do", m.Claimed)
		}
		if err := validPath(dir); !ok || err != nil {
			return fmt.Errorf("claimed snapshot directory %q is not a clean relative directory path ending in a slash", m.Claimed)
		}
		if first, _, _ := strings.Cut(dir, "/"); first == m.JobID {
			return fmt.Errorf("claimed snapshot directory %q is in the job's own directory", m.Claimed)
		}
	}
	for _, f := range m.Files() {
		rest, ok := AdoptedRoot(f.Path)
		if !ok {
			continue
		}
		if m.Savepoint {
			return fmt.Errorf("savepoint references file %s outside its directory; a savepoint holds every file itself", f.Path)
		}
		if dir, _, _ := strings.Cut(rest, "/"); dir == m.JobID {
			return fmt.Errorf("file %s is in the job's own directory; it must be written %s", f.Path, strings.TrimPrefix(rest, dir+"/"))
		}
	}
	return nil
}

package blobstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fileDirs makes the writes of a file:// storage durable and removes what they leave behind.
// gocloud's fileblob writes an object to "<path>.<UnixNano in hex>.tmp" next to its final
// path (no_tmp_dir, which OpenURL sets) and renames it into place; it never fsyncs, and it
// creates directories for an object's name (os.MkdirAll) but never removes them.
//
// A commit is made durable in three steps: the temporary file is fsynced before the rename
// (so the final name never points at missing bytes), the directory holding the final name is
// fsynced after it, and so is the parent of every directory created for it, up to the root,
// whose own entry OpenURL made durable when it created it. Which directories are known to be
// durably linked into their parents is remembered (linked), so a commit costs two fsyncs
// unless it created a directory.
//
// Directories are removed (removeEmpty) when a Delete or a Sweep leaves them empty, never the
// root. A writer that creates its directory while a delete removes it retries (Create);
// removal and the linked bookkeeping are serialized against the commits' directory syncs by
// mu, so a directory removed and created again is always fsynced into its parent again.
type fileDirs struct {
	root string // absolute, cleaned: the directory fileblob resolves the URL's path to
	// onSync, if set, is called with the path of every file or directory after it was
	// fsynced (tests observe the order of syncs with it).
	onSync func(path string)

	// mu is held shared while a commit syncs directories and exclusively while directories
	// are removed.
	mu sync.RWMutex
	// linkedMu guards linked.
	linkedMu sync.Mutex
	// linked are the directories under root whose entry in their parent is durable.
	linked map[string]bool
}

// fileRoot returns the directory of a file:// URL as fileblob resolves it: the path of the
// URL, relative to the working directory for file://./dir, made absolute.
func fileRoot(host, urlPath string) (string, error) {
	p := urlPath
	if host == "." || os.PathSeparator != '/' {
		p = strings.TrimPrefix(p, "/")
	}
	return filepath.Abs(filepath.FromSlash(p))
}

// openFileDirs creates root if needed, durably: every directory it creates is fsynced into
// its parent.
func openFileDirs(root string, onSync func(string)) (*fileDirs, error) {
	d := &fileDirs{root: filepath.Clean(root), onSync: onSync, linked: map[string]bool{}}
	var created []string
	for p := d.root; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		created = append(created, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if len(created) == 0 {
		return d, nil
	}
	if err := os.MkdirAll(d.root, 0o777); err != nil {
		return nil, err
	}
	for _, p := range created { // deepest first: a parent's fsync covers its new entry
		if err := d.syncPath(filepath.Dir(p)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// syncFile fsyncs an open file.
func (d *fileDirs) syncFile(f *os.File) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if d.onSync != nil {
		d.onSync(f.Name())
	}
	return nil
}

// syncPath fsyncs the file or directory at p.
func (d *fileDirs) syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = d.syncFile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// within reports whether p is root or below it.
func (d *fileDirs) within(p string) bool {
	rel, err := filepath.Rel(d.root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// syncDirs makes a new entry of dir durable: dir is fsynced, and so is the parent of every
// directory from dir up to the root that is not yet known to be linked durably.
func (d *fileDirs) syncDirs(dir string) error {
	dir = filepath.Clean(dir)
	if !d.within(dir) {
		// fileblob wrote somewhere fileRoot does not predict: refuse rather than skip fsyncs.
		return fmt.Errorf("file storage: %s is outside the storage directory %s", dir, d.root)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.syncPath(dir); err != nil {
		return err
	}
	for p := dir; p != d.root; p = filepath.Dir(p) {
		d.linkedMu.Lock()
		ok := d.linked[p]
		d.linkedMu.Unlock()
		if ok {
			return nil
		}
		if err := d.syncPath(filepath.Dir(p)); err != nil {
			return err
		}
		d.linkedMu.Lock()
		d.linked[p] = true
		d.linkedMu.Unlock()
	}
	return nil
}

// objectDir returns the directory of object name's file, if name is one fileblob stores
// unescaped (every name streamstate writes is): no control characters, no empty, "." or
// ".." segment, no leading or trailing '/', no backslash.
func (d *fileDirs) objectDir(name string) (string, bool) {
	if !plainName(name) {
		return "", false
	}
	return filepath.Dir(filepath.Join(d.root, filepath.FromSlash(name))), true
}

func plainName(name string) bool {
	if name == "" || strings.ContainsRune(name, '\\') {
		return false
	}
	for _, c := range name {
		if c < 32 {
			return false
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// removeEmpty removes dir and then its parents while they are empty, stopping below the root.
func (d *fileDirs) removeEmpty(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p := filepath.Clean(dir); p != d.root && d.within(p); p = filepath.Dir(p) {
		if err := removeDir(p); err != nil {
			return // not empty, already gone, or not a directory
		}
		d.forget(p)
	}
}

// forget drops a removed directory from linked (its subdirectories were removed before it).
// Called with mu held exclusively.
func (d *fileDirs) forget(p string) {
	d.linkedMu.Lock()
	defer d.linkedMu.Unlock()
	delete(d.linked, p)
}

// removeDir removes an empty directory, and never a file (os.Remove alone would).
func removeDir(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", p)
	}
	return os.Remove(p)
}

// sweep removes, under the directory of prefix dir (a name ending in '/', or "" for the
// root), fileblob's temporary files created before start and then every directory left
// empty, deepest first; the directory of dir itself stays. It returns the paths it removed
// and the errors of what it could not remove.
func (d *fileDirs) sweep(dir string, start time.Time) (removed []string, err error) {
	top := d.root
	if dir != "" {
		if !strings.HasSuffix(dir, "/") || !plainName(strings.TrimSuffix(dir, "/")) {
			return nil, fmt.Errorf("file storage: cannot sweep %q: want a directory name ending in '/' without empty, '.' or '..' segments", dir)
		}
		top = filepath.Join(d.root, filepath.FromSlash(strings.TrimSuffix(dir, "/")))
	}
	var dirs []string
	var errs []error
	walkErr := filepath.WalkDir(top, func(p string, e fs.DirEntry, werr error) error {
		if werr != nil {
			if errors.Is(werr, fs.ErrNotExist) {
				return nil // gone, or nothing under dir at all
			}
			errs = append(errs, werr)
			return nil
		}
		if e.IsDir() {
			if p != top {
				dirs = append(dirs, p)
			}
			return nil
		}
		if t, ok := fileblobTempTime(e.Name()); ok && t.Before(start) {
			if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				errs = append(errs, rerr)
			} else if rerr == nil {
				removed = append(removed, p)
			}
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	slices.Reverse(dirs) // WalkDir visits a directory before its contents
	for _, p := range dirs {
		if os.Remove(p) == nil { // fails while not empty
			d.forget(p)
			removed = append(removed, p)
		}
	}
	return removed, errors.Join(errs...)
}

// isFileblobTemp reports whether name is one of fileblob's temporary files of an unfinished
// write: "<name>.<UnixNano in hex>.tmp" (16 hex digits from 2006 to 2262).
func isFileblobTemp(name string) bool {
	_, ok := fileblobTempTime(name)
	return ok
}

// fileblobTempTime returns when the temporary file name was created, by its name.
func fileblobTempTime(name string) (time.Time, bool) {
	rest, ok := strings.CutSuffix(name, ".tmp")
	if !ok || len(rest) < 18 || rest[len(rest)-17] != '.' {
		return time.Time{}, false
	}
	hex := rest[len(rest)-16:]
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return time.Time{}, false
		}
	}
	ns, err := strconv.ParseInt(hex, 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

package lsm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Working directories and their owners.
//
// Each backend works in a directory streamstate-lsm-<operator>-<random> of Options.Dir (the
// root, state.backend.lsm.localdir) holding a lock file. The backend holds an exclusive
// flock(2) on it from before it writes the owner into it until its directory is removed by
// Close. The kernel releases a flock when its process dies, however it dies, so a directory
// whose lock can be taken and whose lock file names an owner belongs to nobody: a process
// killed before Close (SIGKILL, OOM, power loss) left it. New removes such directories before
// it creates its own. Unlike a check of the recorded process id, this cannot mistake a new
// process that reuses the id for the owner, and flock locks of two backends of one process
// exclude each other as locks of two processes do (POSIX fcntl locks would not).
//
// The lock and the sweep are the backend's only file IO that bypasses Options.FS, because
// they genuinely need the operating system: flock needs a file descriptor, the lock file is
// created exclusively (O_EXCL) and the sweep must not follow a symbolic link (Lstat) nor touch
// another user's directory (the owner's uid); vfs.FS offers none of these (its Lock is a
// POSIX fcntl lock that Create truncates and that any close of the file in the process
// releases). So they run only when Options.FS is the operating system's filesystem (vfs.Default,
// or a wrapper of it such as errorfs): osWorkDirs. Any other filesystem has no lock that
// tells a live owner from a dead one, so its working directories are made through Options.FS
// and neither locked nor swept: fsWorkDirs (with vfs.NewMem, for hermetic tests, nothing
// outlives the process anyway).
const (
	workDirPrefix = "streamstate-lsm-"
	lockFileName  = "streamstate.lock"
	// abandonedAfter is how old a working directory with an empty lock file must be before a
	// sweep removes it: younger ones may be being created right now.
	abandonedAfter = time.Hour
)

// workDirs makes the backend's working directories: osWorkDirs or fsWorkDirs.
type workDirs interface {
	// sweep removes the working directories in root whose owner is gone. Failures are
	// logged, not returned: a leftover directory must not keep a job from starting.
	sweep(root string, log *slog.Logger)
	// create creates a fresh working directory for operator opID in root, owned by the
	// caller, who closes lock after removing the directory.
	create(root, opID string) (dir string, lock io.Closer, err error)
}

// workDirsFor returns the workDirs for the filesystem the backend works on.
func workDirsFor(fsys vfs.FS) workDirs {
	// Types, not values, are compared: an FS of an uncomparable type would make == panic.
	if reflect.TypeOf(vfs.Root(fsys)) == reflect.TypeOf(vfs.Default) {
		return osWorkDirs{}
	}
	return fsWorkDirs{fs: fsys}
}

// fsWorkDirs makes working directories through a filesystem that is not the operating
// system's, without a lock and without a sweep (see the top of the file).
type fsWorkDirs struct{ fs vfs.FS }

func (fsWorkDirs) sweep(string, *slog.Logger) {}

func (w fsWorkDirs) create(root, opID string) (string, io.Closer, error) {
	if err := w.fs.MkdirAll(root, 0o755); err != nil {
		return "", nil, fmt.Errorf("lsm backend: create %s (%slocaldir): %w", root, ConfigPrefix, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	dir := filepath.Join(root, workDirPrefix+sanitize(opID)+"-"+hex.EncodeToString(rnd[:]))
	// vfs.FS cannot create a directory exclusively: the name must not exist yet (64 random
	// bits: a collision is not worth a retry).
	switch _, err := w.fs.Stat(dir); {
	case err == nil:
		return "", nil, fmt.Errorf("lsm backend: create a working directory in %s (%slocaldir): %s already exists", root, ConfigPrefix, dir)
	case !errors.Is(err, fs.ErrNotExist):
		return "", nil, fmt.Errorf("lsm backend: create a working directory in %s (%slocaldir): %w", root, ConfigPrefix, err)
	}
	if err := w.fs.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("lsm backend: create a working directory in %s (%slocaldir): %w", root, ConfigPrefix, err)
	}
	return dir, noLock{}, nil
}

// noLock is the lock of a working directory of fsWorkDirs: there is none.
type noLock struct{}

func (noLock) Close() error { return nil }

// osWorkDirs makes working directories locked with flock and sweeps the abandoned ones, on
// the operating system's filesystem (see the top of the file).
type osWorkDirs struct{}

func (osWorkDirs) sweep(root string, log *slog.Logger) { sweepWorkDirs(root, log) }

func (osWorkDirs) create(root, opID string) (string, io.Closer, error) {
	return createWorkDir(root, opID)
}

// createWorkDir creates a fresh working directory for operator opID in root, locked by this
// backend, and records the owner (process id and a start token) in its lock file. The caller
// closes the returned lock file after removing the directory.
func createWorkDir(root, opID string) (dir string, lock io.Closer, err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", nil, fmt.Errorf("lsm backend: create %s (%slocaldir): %w", root, ConfigPrefix, err)
	}
	dir, err = os.MkdirTemp(root, workDirPrefix+sanitize(opID)+"-")
	if err != nil {
		return "", nil, fmt.Errorf("lsm backend: create a working directory in %s (%slocaldir): %w", root, ConfigPrefix, err)
	}
	f, err := lockOwner(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("lsm backend: lock working directory %s: %w", dir, err)
	}
	return dir, f, nil
}

func lockOwner(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	// Blocking: a sweep that found the file before the owner record may hold the lock for
	// the time it takes to read the (empty) file.
	if err := flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	owner := fmt.Sprintf("pid %d\nstart %s %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339Nano), hex.EncodeToString(tok[:]))
	if _, err := f.WriteString(owner); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// flock applies how to f, retrying when a signal interrupts it.
func flock(f *os.File, how int) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// sweepWorkDirs removes the working directories in root whose owner is gone: their lock is
// not held and their lock file names an owner (or, with an empty lock file, they are older
// than abandonedAfter: their creator died between creating and locking it). Directories
// without a lock file (of another program, or of a version without locks that may be
// running), of other users, and anything not named like a working directory are left alone. Failures are logged, not returned: a leftover directory must not
// keep a job from starting.
func sweepWorkDirs(root string, log *slog.Logger) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("lsm backend: cannot list the working directories' root to remove abandoned ones", "dir", root, "err", err)
		}
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), workDirPrefix) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		owner, err := sweepWorkDir(dir)
		switch {
		case err != nil:
			log.Warn("lsm backend: cannot remove an abandoned working directory", "dir", dir, "err", err)
		case owner != "":
			log.Info("lsm backend: removed the working directory of an owner that is gone", "dir", dir, "owner", owner)
		}
	}
}

// sweepWorkDir removes dir if its owner is gone and returns the owner it recorded; it
// returns "" if dir is in use or not ours to remove.
func sweepWorkDir(dir string) (string, error) {
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() {
		return "", nil
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return "", nil
	}
	old := time.Since(info.ModTime()) > abandonedAfter
	f, err := os.Open(filepath.Join(dir, lockFileName))
	if errors.Is(err, fs.ErrNotExist) {
		// Being created, or not a backend's, or a backend's of a version without locks,
		// which may be running: never removed.
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return "", nil // its owner lives
		}
		return "", err
	}
	// The lock is ours until f is closed: no backend can take the directory meanwhile.
	rec, err := io.ReadAll(io.LimitReader(f, 4<<10))
	if err != nil {
		return "", err
	}
	owner := strings.Join(strings.Fields(string(rec)), " ")
	if owner == "" {
		if !old {
			return "", nil // its creator has not locked it yet
		}
		owner = "no owner record"
	}
	return owner, removeWorkDir(dir)
}

// removeWorkDir removes a working directory, its lock file last, so that a failed removal
// leaves a directory the next sweep recognizes.
func removeWorkDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.Name() != lockFileName {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

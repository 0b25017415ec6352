package lsm

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// faultFS is the filesystem Pebble works on: Options.FS, until the backend has a fault
// (faults.go). From then on, Pebble's writes succeed without writing anything.
//
// Why: Pebble stalls a commit while its memtables wait for a flush, and only a flush that
// succeeds ends the stall; it retries a failed flush forever. On a full disk, the task's
// commit may stall before the first failed flush is reported (memtables fill faster than a
// flush fails), and would wait forever, holding the commit pipeline so that not even Close
// could end it. Once the backend has a fault, its database is never read again: every call
// returns the fault, and a snapshot whose asynchronous phase overlaps the fault fails
// (snapshot.go checks the fault after writing). So the files written afterwards need not hold
// anything, and pretending to write them lets the flush "succeed", the stall end, the commit
// return, the backend report the fault and Close close the database.
//
// After a fault, every file Pebble creates costs faultPace first. Pebble retries a failed flush
// at once, with no backoff; when the retry cannot succeed (a MANIFEST write failed, see
// Backend.Stalled), it would spin on a core until the process exits. Paced, it costs next to
// nothing, and a flush that ends a stall (one or a few new files) is delayed by milliseconds.
// The pause happens on Pebble's flush and compaction goroutines, outside the database's locks.
type faultFS struct {
	vfs.FS
	f *faults
}

// faultPace is how long Create and ReuseForWrite wait once the backend has a fault.
const faultPace = 20 * time.Millisecond

func (p faultFS) faulted() bool { return p.f.get() != nil }

// pace waits faultPace if the backend has a fault, and reports whether it has.
func (p faultFS) pace() bool {
	if !p.faulted() {
		return false
	}
	time.Sleep(faultPace)
	return true
}

func (p faultFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		if p.faulted() {
			return &discardFile{}, nil
		}
		return nil, err
	}
	return faultFile{File: file, fs: p}, nil
}

// Create implements vfs.FS.
func (p faultFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if p.pace() {
		return &discardFile{}, nil
	}
	return p.wrap(p.FS.Create(name, category))
}

// OpenReadWrite implements vfs.FS.
func (p faultFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return p.wrap(p.FS.OpenReadWrite(name, category, opts...))
}

// ReuseForWrite implements vfs.FS.
func (p faultFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if p.pace() {
		return &discardFile{}, nil
	}
	return p.wrap(p.FS.ReuseForWrite(oldname, newname, category))
}

// OpenDir implements vfs.FS: a directory's Sync succeeds after a fault.
func (p faultFS) OpenDir(name string) (vfs.File, error) {
	file, err := p.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return faultFile{File: file, fs: p}, nil
}

// Unwrap implements vfs.FS.
func (p faultFS) Unwrap() vfs.FS { return p.FS }

// faultFile is a file of faultFS: its writes and syncs succeed without effect once the
// backend has a fault.
type faultFile struct {
	vfs.File
	fs faultFS
}

func (f faultFile) Write(b []byte) (int, error) {
	if f.fs.faulted() {
		return len(b), nil
	}
	return f.File.Write(b)
}

func (f faultFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fs.faulted() {
		return len(b), nil
	}
	return f.File.WriteAt(b, off)
}

func (f faultFile) Preallocate(off, n int64) error {
	if f.fs.faulted() {
		return nil
	}
	return f.File.Preallocate(off, n)
}

func (f faultFile) Sync() error {
	if f.fs.faulted() {
		return nil
	}
	return f.File.Sync()
}

func (f faultFile) SyncData() error {
	if f.fs.faulted() {
		return nil
	}
	return f.File.SyncData()
}

func (f faultFile) SyncTo(n int64) (bool, error) {
	if f.fs.faulted() {
		return true, nil
	}
	return f.File.SyncTo(n)
}

// errDiscarded is returned by reads of a file created after the backend's fault.
var errDiscarded = errors.New("lsm backend: file created after the backend failed; its contents were not written")

// discardFile is a file created after the backend's fault: writes succeed, reads fail.
type discardFile struct{ size int64 }

func (d *discardFile) Close() error             { return nil }
func (d *discardFile) Read([]byte) (int, error) { return 0, errDiscarded }
func (d *discardFile) ReadAt([]byte, int64) (int, error) {
	return 0, errDiscarded
}
func (d *discardFile) Write(b []byte) (int, error) {
	d.size += int64(len(b))
	return len(b), nil
}
func (d *discardFile) WriteAt(b []byte, off int64) (int, error) {
	d.size = max(d.size, off+int64(len(b)))
	return len(b), nil
}
func (d *discardFile) Preallocate(int64, int64) error { return nil }
func (d *discardFile) Stat() (vfs.FileInfo, error)    { return discardInfo{d.size}, nil }
func (d *discardFile) Sync() error                    { return nil }
func (d *discardFile) SyncTo(int64) (bool, error)     { return true, nil }
func (d *discardFile) SyncData() error                { return nil }
func (d *discardFile) Prefetch(int64, int64) error    { return nil }
func (d *discardFile) Fd() uintptr                    { return vfs.InvalidFd }

type discardInfo struct{ size int64 }

func (i discardInfo) Name() string       { return "discarded" }
func (i discardInfo) Size() int64        { return i.size }
func (i discardInfo) Mode() fs.FileMode  { return 0o644 }
func (i discardInfo) ModTime() time.Time { return time.Time{} }
func (i discardInfo) IsDir() bool        { return false }
func (i discardInfo) Sys() any           { return nil }
func (i discardInfo) DeviceID() vfs.DeviceID {
	return vfs.DeviceID{}
}

var _ os.FileInfo = discardInfo{}

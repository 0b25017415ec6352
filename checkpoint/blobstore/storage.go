package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// URLs
	_ "gocloud.dev/blob/memblob"  // mem:// URLs
	_ "gocloud.dev/blob/s3blob"   // s3:// URLs
	"gocloud.dev/gcerrors"
)

// OpenURL opens URL storage through gocloud.dev/blob: file:///dir, mem://name, s3://bucket?...
// A file:// directory is created if needed, and its commits are durable (see Writer.Commit:
// gocloud's fileblob never fsyncs, OpenURL adds it). s3:// storage retries transient errors with
// backoff (NewRetryingStorage with default RetryOptions); its credentials come from the AWS
// environment and config chain, never from the URL, and are never logged. The query of the
// URL is passed to the driver (for example s3://bucket/prefix?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1).
//
// No error or description it returns holds the URL's user information or the value of a
// query parameter that may be a secret (see RedactURL).
func OpenURL(ctx context.Context, rawURL string) (checkpoint.Storage, error) {
	secrets := urlSecrets(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the whole URL
		}
		return nil, fmt.Errorf("checkpoint storage URL %s: %w", RedactURL(rawURL), scrubError(err, secrets))
	}
	var prefix string
	var dirs *fileDirs
	remote := false
	switch u.Scheme {
	case "file":
		root, err := fileRoot(u.Host, u.Path)
		if err != nil {
			return nil, fmt.Errorf("checkpoint storage URL %s: %w", redact(u), err)
		}
		if dirs, err = openFileDirs(root, nil); err != nil {
			return nil, fmt.Errorf("open checkpoint storage %s: create its directory: %w", redact(u), err)
		}
		q := u.Query()
		if !q.Has("create_dir") {
			q.Set("create_dir", "true")
		}
		if !q.Has("metadata") {
			// No .attrs sidecar files and no MD5 over every byte: blocks carry CRC-32C.
			q.Set("metadata", "skip")
		}
		// Write temporary files next to their final name, always: by default fileblob
		// writes them to os.TempDir and renames them into place, which fails with "invalid
		// cross-device link" whenever the temp dir is another filesystem (a tmpfs /tmp, a
		// volume), and a commit fsyncs the directory the rename changed. List hides these
		// temporary files; Sweep removes those that a killed process left.
		q.Set("no_tmp_dir", "true")
		u.RawQuery = q.Encode()
	case "gs", "azblob":
		return nil, fmt.Errorf("checkpoint storage URL %s: the %s:// driver is not built in; for Google Cloud Storage use its S3-compatible API (s3://bucket/prefix?endpoint=https://storage.googleapis.com&region=auto with HMAC keys as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), for Azure an S3 gateway; see docs/s3.md",
			redact(u), u.Scheme)
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("checkpoint storage URL %s names no bucket; write s3://BUCKET/PREFIX?region=REGION", redact(u))
		}
		// The path after the bucket is a key prefix.
		remote = true
		prefix = strings.Trim(u.Path, "/")
		u.Path = ""
		if q := u.Query(); !q.Has("response_checksum_validation") {
			// The SDK cannot validate the checksum of a multipart-uploaded object's GET and
			// logs a warning on every one; snapshot blocks and metadata carry CRCs of their own.
			q.Set("response_checksum_validation", "when_required")
			u.RawQuery = q.Encode()
		}
	case "mem":
		// A fresh in-memory bucket per OpenURL: keep the Storage to restore from it.
	default:
		return nil, fmt.Errorf("checkpoint storage URL %s: unsupported scheme %q; use file://, mem://, s3:// or jobmanager", RedactURL(rawURL), u.Scheme)
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("open checkpoint storage %s: %w", redact(u), scrubError(err, secrets))
	}
	if prefix != "" {
		b = blob.PrefixedBucket(b, prefix+"/")
	}
	s := &blobStorage{b: b, desc: redact(u), secrets: secrets}
	if dirs != nil {
		// fileblob checks IfNotExist with a stat before its rename, under a lock of its own
		// writer only; serializing conditional commits makes them atomic within this process.
		s.condMu = new(sync.Mutex)
		s.dirs = dirs
	}
	if remote {
		// Object stores fail transiently (throttling, a restarting server, a reset connection).
		return NewRetryingStorage(s, RetryOptions{}), nil
	}
	return s, nil
}

type blobStorage struct {
	b    *blob.Bucket
	desc string
	// secrets are the URL's secrets (urlSecrets), scrubbed from every error: a driver's
	// error may quote the URL it was opened with.
	secrets []string
	// condMu, if set, serializes the commits of create-if-not-exists writers, for drivers
	// whose check and write are not atomic (fileblob).
	condMu *sync.Mutex
	// dirs is set for file:// storage (fileblob), which needs help. Commits are made durable
	// and deletes remove the directories they empty (fileDirs). List would return the
	// temporary files of writes in progress ("<name>.<16 hex digits>.tmp", next to the
	// object with no_tmp_dir), which are hidden, and it fails if a file vanishes while it
	// walks the directory (a commit renaming its temporary file, a Delete), which is retried.
	dirs *fileDirs
}

// createAttempts bounds how often a file:// Create is tried when the directory it just
// created is removed by a concurrent Delete that found it empty, before its file was created.
const createAttempts = 10

func (s *blobStorage) String() string { return s.desc }

func (s *blobStorage) Close() error { return s.b.Close() }

func (s *blobStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	bw := &blobWriter{name: name, desc: s.desc, secrets: s.secrets, dirs: s.dirs}
	opts := &blob.WriterOptions{IfNotExist: ifNotExist, ContentType: "application/octet-stream"}
	if s.dirs != nil {
		// fileblob hands out its temporary file, to be fsynced before Commit renames it.
		opts.BeforeWrite = func(as func(any) bool) error {
			if !as(&bw.f) {
				return fmt.Errorf("create %s in %s: the file driver does not expose its temporary file", name, s.desc)
			}
			return nil
		}
	}
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithCancel(ctx)
		// With a content type, NewWriter creates the driver's writer (and its file) at once.
		w, err := s.b.NewWriter(wctx, name, opts)
		if err == nil {
			bw.w, bw.cancel = w, cancel
			break
		}
		cancel()
		if s.dirs == nil || gcerrors.Code(err) != gcerrors.NotFound || attempt == createAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("create %s in %s: %w", name, s.desc, scrubError(err, s.secrets))
		}
	}
	if ifNotExist {
		bw.condMu = s.condMu
	}
	return bw, nil
}

type blobWriter struct {
	w       *blob.Writer
	cancel  context.CancelFunc
	name    string
	desc    string
	secrets []string
	condMu  *sync.Mutex // see blobStorage.condMu; nil unless needed
	dirs    *fileDirs   // file:// only: see blobStorage.dirs
	f       *os.File    // file:// only: fileblob's temporary file, renamed by Close
	n       int64
	done    bool
}

func (w *blobWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, scrubError(err, w.secrets)
}

func (w *blobWriter) Commit() (int64, error) {
	if w.done {
		return w.n, nil
	}
	w.done = true
	if w.f != nil {
		// The bytes are durable before the rename gives them their name.
		if err := w.dirs.syncFile(w.f); err != nil {
			w.cancel()
			_ = w.w.Close()
			w.dirs.removeEmpty(filepath.Dir(w.f.Name()))
			return 0, fmt.Errorf("write %s in %s: fsync: %w", w.name, w.desc, err)
		}
	}
	if w.condMu != nil {
		w.condMu.Lock()
	}
	err := w.w.Close()
	if w.condMu != nil {
		w.condMu.Unlock()
	}
	w.cancel()
	if err != nil {
		if w.f != nil {
			w.dirs.removeEmpty(filepath.Dir(w.f.Name()))
		}
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			return 0, fmt.Errorf("%w: %s in %s", checkpoint.ErrExists, w.name, w.desc)
		}
		return 0, fmt.Errorf("write %s in %s: %w", w.name, w.desc, scrubError(err, w.secrets))
	}
	if w.f != nil {
		// The temporary file was renamed within its directory: sync the new name and every
		// directory created for it.
		if err := w.dirs.syncDirs(filepath.Dir(w.f.Name())); err != nil {
			return 0, fmt.Errorf("write %s in %s: written, but not made durable: fsync its directories: %w", w.name, w.desc, err)
		}
	}
	return w.n, nil
}

func (w *blobWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.cancel() // a canceled context makes Close discard the object
	_ = w.w.Close()
	if w.f != nil {
		// Leave nothing: not the directories created for the object either.
		w.dirs.removeEmpty(filepath.Dir(w.f.Name()))
	}
}

func (s *blobStorage) ReadRange(ctx context.Context, name string, offset, length int64) ([]byte, error) {
	r, err := s.b.NewRangeReader(ctx, name, offset, length, nil)
	if err != nil {
		if gcerrors.Code(err) != gcerrors.NotFound {
			// S3 rejects a range that starts at or after the end of the object (416), also
			// bytes 0-9 of an empty object; the contract is that a short object returns fewer
			// bytes, here none.
			if a, aerr := s.b.Attributes(ctx, name); aerr == nil && offset >= a.Size {
				return []byte{}, nil
			}
		}
		return nil, s.wrap(name, err)
	}
	defer r.Close()
	var buf []byte
	if length >= 0 {
		// length is the caller's (often from metadata): never allocate more than the object
		// can return; a huge length would otherwise panic in make.
		buf = make([]byte, 0, max(0, min(length, r.Size()-offset)))
	}
	w := bytesWriter{buf}
	if _, err := io.Copy(&w, r); err != nil {
		return nil, s.wrap(name, err)
	}
	return w.b, nil
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func (s *blobStorage) wrap(name string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return &snapshot.FileError{Path: name, Err: snapshot.ErrMissing, Detail: "in " + s.desc}
	}
	return fmt.Errorf("read %s in %s: %w", name, s.desc, scrubError(err, s.secrets))
}

func (s *blobStorage) Size(ctx context.Context, name string) (int64, error) {
	a, err := s.b.Attributes(ctx, name)
	if err != nil {
		return 0, s.wrap(name, err)
	}
	return a.Size, nil
}

func (s *blobStorage) Delete(ctx context.Context, name string) error {
	err := s.b.Delete(ctx, name)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s in %s: %w", name, s.desc, scrubError(err, s.secrets))
	}
	if s.dirs != nil {
		if dir, ok := s.dirs.objectDir(name); ok {
			s.dirs.removeEmpty(dir)
		}
	}
	return nil
}

func (s *blobStorage) Sweep(ctx context.Context, dir string) error {
	if s.dirs == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sweep %s in %s: %w", dir, s.desc, err)
	}
	if _, err := s.dirs.sweep(dir, time.Now()); err != nil {
		return fmt.Errorf("sweep %s in %s: %w", dir, s.desc, err)
	}
	return nil
}

func (s *blobStorage) List(ctx context.Context, prefix string) ([]string, error) {
	for attempt := 1; ; attempt++ {
		names, err := s.list(ctx, prefix)
		if err == nil || s.dirs == nil || gcerrors.Code(err) != gcerrors.NotFound || attempt == 20 || ctx.Err() != nil {
			return names, err
		}
	}
}

func (s *blobStorage) list(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	it := s.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", prefix, s.desc, scrubError(err, s.secrets))
		}
		if !o.IsDir && !(s.dirs != nil && isFileblobTemp(o.Key)) {
			names = append(names, o.Key)
		}
	}
}

package blobstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"gocloud.dev/gcerrors"
)

// RetryOptions configures the retrying layer of NewRetryingStorage. The zero value is valid:
// every field states its default.
type RetryOptions struct {
	// MaxAttempts is how often one operation is tried in all, the first try included.
	// Default: 6. 1 disables retries.
	MaxAttempts int
	// InitialBackoff is the wait before the second try; each further wait doubles, up to
	// MaxBackoff, and is jittered by ±25%. Default: 100ms.
	InitialBackoff time.Duration
	// MaxBackoff caps one wait. Default: 5s.
	MaxBackoff time.Duration
	// SpillThreshold is how many bytes of an object being written are kept in memory so that
	// its upload can be replayed; past it they spill to a temporary file in SpillDir.
	// Default: 8 MiB.
	SpillThreshold int
	// SpillDir is where large objects being written are spooled. Default: os.TempDir().
	SpillDir string
	// Logger receives one line per retried operation (the operation, the object, the attempt
	// and the error; never credentials). Default: discard.
	Logger *slog.Logger
	// Sleep waits for d or until ctx is done (tests replace it). Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *RetryOptions) setDefaults() {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.SpillThreshold <= 0 {
		o.SpillThreshold = 8 << 20
	}
	if o.SpillDir == "" {
		o.SpillDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IsTransient reports whether err may go away if the operation is tried again: a network
// error, a server-side (5xx) or throttling error, an interrupted transfer, or an error of
// unknown kind. These are never transient: nil, ErrMissing, ErrExists, ErrCorrupt,
// ErrStateTooLarge, ErrNoCheckpoint, a canceled or expired context, and the storage's own
// permanent answers (not found, precondition failed, permission denied, invalid argument,
// unimplemented, a 4xx status other than 408 and 429, S3 error codes such as
// InvalidAccessKeyId or NoSuchBucket).
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	for _, perm := range []error{snapshot.ErrMissing, checkpoint.ErrExists, snapshot.ErrCorrupt, checkpoint.ErrStateTooLarge, checkpoint.ErrNoCheckpoint,
		context.Canceled, context.DeadlineExceeded, os.ErrNotExist, os.ErrPermission} {
		if errors.Is(err, perm) {
			return false
		}
	}
	var coded interface{ ErrorCode() string } // S3 (smithy) API errors
	if errors.As(err, &coded) {
		switch coded.ErrorCode() {
		case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
			"NoSuchBucket", "NoSuchKey", "NotFound", "InvalidBucketName", "InvalidArgument",
			"InvalidRequest", "InvalidRange", "PreconditionFailed", "MethodNotAllowed",
			"AuthorizationHeaderMalformed", "AccountProblem", "InvalidObjectState":
			return false
		}
	}
	var status interface{ HTTPStatusCode() int } // HTTP responses of the AWS SDK
	if errors.As(err, &status) {
		if c := status.HTTPStatusCode(); c >= 400 && c < 500 && c != 408 && c != 429 {
			return false
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound, gcerrors.AlreadyExists, gcerrors.FailedPrecondition, gcerrors.InvalidArgument,
		gcerrors.PermissionDenied, gcerrors.Unimplemented, gcerrors.Canceled:
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// Unknown, Internal, Unavailable, ResourceExhausted, DeadlineExceeded of a request (the
	// caller's context is checked by the retry loop), an interrupted body: try again.
	return true
}

// NewRetryingStorage wraps st so that every operation that fails with a transient error
// (IsTransient) is tried again with exponential backoff, up to opts.MaxAttempts tries.
// A permanent error (ErrMissing, ErrExists, ErrCorrupt, ...) is returned at once, and a
// canceled context stops the retries.
//
// A Writer keeps what is written (in memory up to opts.SpillThreshold, then in a temporary
// file) and replays the whole upload on a transient failure of Commit. A create-if-not-exists
// upload whose earlier try failed ambiguously (it may have reached the store) and whose retry
// meets ErrExists compares the stored object with its own bytes: equal means it was this
// upload, which then succeeds.
//
// OpenURL wraps s3:// storage with the default options.
func NewRetryingStorage(st checkpoint.Storage, opts RetryOptions) checkpoint.Storage {
	opts.setDefaults()
	return &retryStorage{inner: st, opts: opts}
}

type retryStorage struct {
	inner checkpoint.Storage
	opts  RetryOptions
}

func (s *retryStorage) String() string { return s.inner.String() }
func (s *retryStorage) Close() error   { return s.inner.Close() }

// do runs fn until it succeeds, fails permanently, the context ends or the attempts run out.
func (s *retryStorage) do(ctx context.Context, op, name string, fn func() error) error {
	backoff := s.opts.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !IsTransient(err) || attempt >= s.opts.MaxAttempts || ctx.Err() != nil {
			if err != nil && attempt > 1 && IsTransient(err) {
				return fmt.Errorf("%s %s: giving up after %d attempts: %w", op, name, attempt, err)
			}
			return err
		}
		wait := backoff + time.Duration((rand.Float64()-0.5)*0.5*float64(backoff))
		s.opts.Logger.Warn("checkpoint storage: retrying after a transient error",
			"op", op, "object", name, "storage", s.inner.String(), "attempt", attempt, "wait", wait, "error", err)
		if serr := s.opts.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s %s: stopped retrying: %w (last error: %v)", op, name, serr, err)
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

func (s *retryStorage) ReadRange(ctx context.Context, name string, offset, length int64) ([]byte, error) {
	var b []byte
	err := s.do(ctx, "read", name, func() (err error) {
		b, err = s.inner.ReadRange(ctx, name, offset, length)
		return err
	})
	return b, err
}

func (s *retryStorage) Size(ctx context.Context, name string) (int64, error) {
	var n int64
	err := s.do(ctx, "size", name, func() (err error) {
		n, err = s.inner.Size(ctx, name)
		return err
	})
	return n, err
}

func (s *retryStorage) Delete(ctx context.Context, name string) error {
	return s.do(ctx, "delete", name, func() error { return s.inner.Delete(ctx, name) })
}

func (s *retryStorage) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := s.do(ctx, "list", prefix, func() (err error) {
		names, err = s.inner.List(ctx, prefix)
		return err
	})
	return names, err
}

func (s *retryStorage) Sweep(ctx context.Context, dir string) error {
	return s.do(ctx, "sweep", dir, func() error { return s.inner.Sweep(ctx, dir) })
}

// Create checks nothing remotely: the upload starts at Commit, so that it can be replayed.
func (s *retryStorage) Create(ctx context.Context, name string, ifNotExist bool) (checkpoint.Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create %s in %s: %w", name, s.inner, err)
	}
	return &retryWriter{s: s, ctx: ctx, name: name, ifNotExist: ifNotExist}, nil
}

// retryWriter buffers an object and uploads it at Commit, retrying transient failures.
type retryWriter struct {
	s          *retryStorage
	ctx        context.Context
	name       string
	ifNotExist bool

	mem   []byte
	spill *os.File
	n     int64
	done  bool
	err   error // a failed spill write: the object cannot be committed
}

func (w *retryWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write %s in %s: writer already committed or aborted", w.name, w.s.inner)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.spill == nil && len(w.mem)+len(p) > w.s.opts.SpillThreshold {
		f, err := os.CreateTemp(w.s.opts.SpillDir, "streamstate-upload-*")
		if err != nil {
			w.err = fmt.Errorf("write %s in %s: spool to a temporary file (set RetryOptions.SpillDir): %w", w.name, w.s.inner, err)
			return 0, w.err
		}
		w.spill = f
		if _, err := f.Write(w.mem); err != nil {
			w.err = fmt.Errorf("write %s in %s: spool: %w", w.name, w.s.inner, err)
			return 0, w.err
		}
		w.mem = nil
	}
	if w.spill != nil {
		n, err := w.spill.Write(p)
		w.n += int64(n)
		if err != nil {
			w.err = fmt.Errorf("write %s in %s: spool: %w", w.name, w.s.inner, err)
			return n, w.err
		}
		return n, nil
	}
	w.mem = append(w.mem, p...)
	w.n += int64(len(p))
	return len(p), nil
}

// body returns a reader of everything written.
func (w *retryWriter) body() (io.Reader, error) {
	if w.spill == nil {
		return bytes.NewReader(w.mem), nil
	}
	if _, err := w.spill.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return w.spill, nil
}

func (w *retryWriter) release() {
	w.mem = nil
	if w.spill != nil {
		name := w.spill.Name()
		_ = w.spill.Close()
		_ = os.Remove(name)
		w.spill = nil
	}
}

func (w *retryWriter) Commit() (int64, error) {
	if w.done {
		if w.err != nil {
			return 0, w.err
		}
		return w.n, nil
	}
	w.done = true
	defer w.release()
	if w.err != nil {
		return 0, w.err
	}
	ambiguous := false // an earlier try may have stored the object
	err := w.s.do(w.ctx, "write", w.name, func() error {
		err := w.upload()
		if errors.Is(err, checkpoint.ErrExists) && w.ifNotExist && ambiguous {
			if same, cerr := w.storedEquals(); cerr != nil {
				return cerr
			} else if same {
				return nil
			}
		}
		if err != nil && IsTransient(err) {
			ambiguous = true
		}
		return err
	})
	if err != nil {
		w.err = err
		return 0, err
	}
	return w.n, nil
}

func (w *retryWriter) upload() error {
	inner, err := w.s.inner.Create(w.ctx, w.name, w.ifNotExist)
	if err != nil {
		return err
	}
	r, err := w.body()
	if err != nil {
		inner.Abort()
		return fmt.Errorf("write %s in %s: read back the spooled upload: %w", w.name, w.s.inner, err)
	}
	if _, err := io.Copy(inner, r); err != nil {
		inner.Abort()
		return err
	}
	_, err = inner.Commit()
	return err
}

// storedEquals reports whether the stored object holds exactly what was written.
func (w *retryWriter) storedEquals() (bool, error) {
	size, err := w.s.inner.Size(w.ctx, w.name)
	if err != nil || size != w.n {
		return false, err
	}
	stored, err := w.s.inner.ReadRange(w.ctx, w.name, 0, -1)
	if err != nil {
		return false, err
	}
	r, err := w.body()
	if err != nil {
		return false, err
	}
	mine, err := io.ReadAll(r)
	if err != nil {
		return false, err
	}
	return bytes.Equal(stored, mine), nil
}

func (w *retryWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.release()
}

var _ checkpoint.Storage = (*retryStorage)(nil)

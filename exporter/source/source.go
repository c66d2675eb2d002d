// Package source finds flow-log objects and opens them: in an S3-compatible
// bucket, or in a local folder.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flowlog/flowlog/internal/objkey"
)

// Object is one version of an object in a source.
type Object struct {
	Bucket   string // its bucket; for a folder, the folder (absolute)
	Key      string // path inside the bucket or folder, with "/"
	ETag     string // changes when the object is rewritten
	Size     int64  // as listed: the bytes Open must deliver
	Modified time.Time
	Info     objkey.Info // what the key says
}

// Time is the object's time: from its key when the layout has one, else its
// modification time.
func (o *Object) Time() time.Time {
	if !o.Info.Time.IsZero() {
		return o.Info.Time
	}
	return o.Modified
}

// Range bounds object times; a zero bound is open.
type Range struct {
	Since, Until time.Time
}

// Contains reports whether t is within the range (both ends included).
func (r Range) Contains(t time.Time) bool {
	return (r.Since.IsZero() || !t.Before(r.Since)) && (r.Until.IsZero() || !t.After(r.Until))
}

// Listing is what a listing found: the objects of the range, and how many
// others it passed over, and why.
type Listing struct {
	Objects    []Object // ordered by key
	OutOfRange int      // flow-log objects whose time is outside the range
	Settling   int      // files changed too recently: they may still be written
	Unknown    int      // names that are not flow-log objects (.log, .log.gz, .json, .json.gz)
}

// Source lists and opens flow-log objects.
type Source interface {
	// Name identifies the source in logs, metrics and the checkpoint:
	// s3://bucket[/prefix], or the absolute folder. Never a secret.
	Name() string
	// List returns the objects whose time can be in r.
	List(ctx context.Context, r Range) (Listing, error)
	// Open returns the object's bytes as stored (gzip or not). A read of
	// them that fails, or ends before Size bytes, fails with a
	// *TransportError: the object is not at fault.
	Open(ctx context.Context, o Object) (io.ReadCloser, error)
}

// TransportError is a failure to get an object's bytes: a cut connection, a
// server that died, a body shorter than announced. The object itself is not
// at fault; it is tried again.
type TransportError struct {
	Object string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("reading %s: %v", e.Object, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// IsTransport reports whether err is, or wraps, a TransportError.
func IsTransport(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}

// ErrShortRead is the cause of a TransportError for a body that ended before
// the object's listed size.
var ErrShortRead = errors.New("the object's bytes ended before its listed size")

// checkedBody delivers exactly size bytes of r, or a *TransportError.
type checkedBody struct {
	r    io.ReadCloser
	name string
	size int64
	n    int64
}

// CheckSize wraps the body of an object so that any read error, and an end
// before size bytes, is a *TransportError, and more than size bytes too
// (the object changed while it was read).
func CheckSize(r io.ReadCloser, name string, size int64) io.ReadCloser {
	return &checkedBody{r: r, name: name, size: size}
}

func (c *checkedBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	switch {
	case c.n > c.size:
		return n, &TransportError{Object: c.name, Err: fmt.Errorf("more than the %d bytes listed: the object changed while it was read", c.size)}
	case err == io.EOF && c.n < c.size:
		return n, &TransportError{Object: c.name, Err: fmt.Errorf("%w: %d of %d bytes", ErrShortRead, c.n, c.size)}
	case err != nil && err != io.EOF:
		return n, &TransportError{Object: c.name, Err: err}
	}
	return n, err
}

func (c *checkedBody) Close() error { return c.r.Close() }

// Remaining reads what is left of a body checked by CheckSize, to tell
// damage in an object's bytes (the rest arrives) from a transfer that broke.
func Remaining(r io.Reader) error {
	if c, ok := r.(*checkedBody); ok {
		_, err := io.Copy(io.Discard, c)
		return err
	}
	return nil
}

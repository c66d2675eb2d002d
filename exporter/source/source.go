// Package source finds flow-log objects and opens them: in an S3-compatible
// bucket, or in a local folder.
package source

import (
	"context"
	"io"
	"time"

	"github.com/flowlog/flowlog/internal/objkey"
)

// Object is one version of an object in a source.
type Object struct {
	Bucket   string // "" for a folder
	Key      string // path inside the bucket or folder, with "/"
	ETag     string // changes when the object is rewritten
	Size     int64
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

// Source lists and opens flow-log objects.
type Source interface {
	// Name identifies the source in logs and in the checkpoint.
	Name() string
	// List returns the objects whose time can be in r, ordered by key.
	List(ctx context.Context, r Range) ([]Object, error)
	// Open returns the object's bytes as stored (gzip or not).
	Open(ctx context.Context, o Object) (io.ReadCloser, error)
}

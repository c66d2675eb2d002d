// Package deadletter keeps what could not be delivered, with the reason:
// one NDJSON file per object, <dir>/<bucket or "local">/<key>.rejected.ndjson,
// written atomically when the object is done, replaced when it is done again.
package deadletter

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/internal/atomicfile"
	"github.com/flowlog/flowlog/internal/jsonenc"
)

// Dir is a dead-letter folder.
type Dir struct {
	dir string
}

// New returns the dead-letter folder dir, creating it if needed.
func New(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dead-letter folder: %w", err)
	}
	return &Dir{dir: dir}, nil
}

// Path returns the dead-letter file of an object.
func (d *Dir) Path(bucket, key string) string {
	return filepath.Join(d.dir, sink.OutputName(bucket, key)+".rejected.ndjson")
}

// Letters collects the rejects of one object. The zero value, and a nil
// *Letters, discard.
type Letters struct {
	d           *Dir
	bucket, key string
	buf         []byte
	n           int
}

// Open starts collecting for one object.
func (d *Dir) Open(bucket, key string) *Letters {
	if d == nil {
		return nil
	}
	return &Letters{d: d, bucket: bucket, key: key}
}

// Add records that line (1-based) of the object was not delivered, and why.
func (l *Letters) Add(line int, reason string) {
	if l == nil {
		return
	}
	l.buf = append(l.buf, `{"object":`...)
	l.buf = jsonenc.Str(l.buf, l.key)
	if l.bucket != "" {
		l.buf = append(l.buf, `,"bucket":`...)
		l.buf = jsonenc.Str(l.buf, l.bucket)
	}
	l.buf = append(l.buf, `,"line":`...)
	l.buf = strconv.AppendInt(l.buf, int64(line), 10)
	l.buf = append(l.buf, `,"reason":`...)
	l.buf = jsonenc.Str(l.buf, reason)
	l.buf = append(l.buf, "}\n"...)
	l.n++
}

// Len returns the number of rejects collected.
func (l *Letters) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// Commit writes the rejects, replacing an earlier file of the object; an
// object without rejects removes it.
func (l *Letters) Commit() error {
	if l == nil {
		return nil
	}
	path := l.d.Path(l.bucket, l.key)
	if l.n == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("dead letters: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	return atomicfile.Write(path, 0o666, func(w io.Writer) error {
		_, err := w.Write(l.buf)
		return err
	})
}

// Package deadletter keeps what could not be delivered, with the reason: one
// NDJSON file per object, <dir>/<object path>.rejected.ndjson (the file
// sink's layout), written while the object is read (so a hostile object
// cannot grow memory), put in place atomically when the object is done, and
// replaced when a new version of it is done.
//
// Each line is {"object":…,"bucket":…,"line":N,"reason":…}, with "sink" and
// "document" (the document as the sink encoded it) for records a sink
// refused for good.
package deadletter

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"

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
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("dead-letter folder: %w", err)
	}
	return &Dir{dir: filepath.Clean(dir)}, nil
}

// Check tells whether the folder can be written.
func (d *Dir) Check() error {
	if err := atomicfile.CheckWritable(filepath.Join(d.dir, "check")); err != nil {
		return fmt.Errorf("dead-letter folder %s: %w", d.dir, err)
	}
	return nil
}

// Path returns the dead-letter file of an object: always inside the folder,
// whatever its key.
func (d *Dir) Path(o *sink.Object) string {
	return filepath.Join(d.dir, o.RelPath(".rejected.ndjson"))
}

// Letters collects the rejects of one object. A nil *Letters discards.
type Letters struct {
	d   *Dir
	o   *sink.Object
	f   *atomicfile.File
	w   *bufio.Writer
	buf []byte
	n   int
	err error
}

// Open starts collecting for one object; nothing is written until the
// first reject.
func (d *Dir) Open(o *sink.Object) *Letters {
	if d == nil {
		return nil
	}
	return &Letters{d: d, o: o}
}

// Add records that line (1-based) of the object was not delivered, and why.
func (l *Letters) Add(line int, reason string) { l.add(line, reason, "", nil) }

// AddRejected records a record a sink refused for good, with the document
// the sink encoded when there is one.
func (l *Letters) AddRejected(r sink.Reject, sinkName string) {
	l.add(r.Line, r.Reason, sinkName, r.Doc)
}

func (l *Letters) add(line int, reason, sinkName string, doc []byte) {
	if l == nil {
		return
	}
	l.n++
	if l.err != nil {
		return
	}
	if l.f == nil {
		path := l.d.Path(l.o)
		if l.err = os.MkdirAll(filepath.Dir(path), 0o777); l.err != nil {
			return
		}
		if l.f, l.err = atomicfile.Create(path, 0o666); l.err != nil {
			return
		}
		l.w = bufio.NewWriterSize(l.f, 64<<10)
	}
	b := append(l.buf[:0], `{"object":`...)
	b = jsonenc.Str(b, l.o.Key)
	b = append(b, `,"bucket":`...)
	b = jsonenc.Str(b, l.o.Bucket)
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, int64(line), 10)
	if sinkName != "" {
		b = append(b, `,"sink":`...)
		b = jsonenc.Str(b, sinkName)
	}
	b = append(b, `,"reason":`...)
	b = jsonenc.Str(b, reason)
	if len(doc) > 0 {
		b = append(b, `,"document":`...)
		if json.Valid(doc) {
			b = append(b, doc...)
		} else {
			b = jsonenc.String(b, doc)
		}
	}
	b = append(b, "}\n"...)
	l.buf = b
	_, l.err = l.w.Write(b)
}

// Len returns the number of rejects recorded.
func (l *Letters) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// Commit puts the rejects in place, replacing the file of an earlier
// version of the object; an object without rejects removes that file.
func (l *Letters) Commit() error {
	if l == nil {
		return nil
	}
	if l.err != nil {
		l.Abort()
		return fmt.Errorf("dead letters of %s: %w", l.o, l.err)
	}
	if l.f == nil {
		err := os.Remove(l.d.Path(l.o))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("dead letters of %s: %w", l.o, err)
		}
		return nil
	}
	err := l.w.Flush()
	if err == nil {
		err = l.f.Commit()
	} else {
		l.f.Abort()
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("dead letters of %s: %w", l.o, err)
	}
	return nil
}

// Abort drops what was recorded.
func (l *Letters) Abort() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Abort()
	l.f = nil
}

// maxMessage bounds the part of a queue message kept.
const maxMessage = 64 << 10

// Message keeps a queue message that can never be delivered, with the
// reason: <dir>/messages/<hash>.json, named by its content (the same
// message dropped twice is one file). A nil Dir keeps nothing.
func (d *Dir) Message(body []byte, reason string) error {
	if d == nil {
		return nil
	}
	sum := sha256.Sum256(body)
	path := filepath.Join(d.dir, "messages", hex.EncodeToString(sum[:8])+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	kept := body[:min(len(body), maxMessage)]
	doc := map[string]any{"reason": reason, "bytes": len(body)}
	if utf8.Valid(kept) {
		doc["message"] = string(kept)
	} else {
		doc["message_base64"] = kept
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, 0o666, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err })
}

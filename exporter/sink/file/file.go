// Package file is the file sink: one NDJSON file of ECS documents per object,
// below a folder, in the shape a Logstash file input or a SIEM forwarder
// picks up.
//
// Exactly once: an object's documents go to a hidden temporary file that is
// synced and renamed into place when the object ends, so a crash never leaves
// half an object, and delivering an object again replaces its file whole:
// each record is held once. Abort removes the temporary file: nothing of an
// aborted object shows.
package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/internal/atomicfile"
)

// Config is the file sink's configuration.
type Config struct {
	Dir string `yaml:"dir"` // absolute folder; outputs go to <dir>/s3/<bucket>/<key>.ndjson or <dir>/folder/<folder>/<key>.ndjson
}

// DefaultConfig has no folder: one must be given.
func DefaultConfig() Config { return Config{} }

// Validate names what is wrong.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("dir: required (an absolute folder)")
	}
	if !filepath.IsAbs(c.Dir) {
		return fmt.Errorf("dir: %q is not an absolute folder", c.Dir)
	}
	return nil
}

// ParseURL reads the shorthand file:///absolute/folder.
func ParseURL(u string) (Config, error) {
	dir, ok := strings.CutPrefix(u, "file://")
	if !ok || !strings.HasPrefix(dir, "/") || strings.ContainsAny(dir, "?#") {
		return Config{}, fmt.Errorf("want file:///absolute/folder")
	}
	return Config{Dir: filepath.Clean(dir)}, nil
}

// Sink writes one file per object.
type Sink struct {
	dir  string
	bufs sync.Pool // *bufio.Writer
}

// New returns the file sink of cfg, creating its folder if needed and
// removing the temporary files of writes a crash interrupted (not those
// another exporter sharing the folder is writing: they are locked).
func New(cfg Config, _ sink.Deps) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir := filepath.Clean(cfg.Dir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && atomicfile.IsTemp(d.Name()) {
			atomicfile.RemoveAbandoned(path)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	s := &Sink{dir: dir}
	s.bufs.New = func() any { return bufio.NewWriterSize(nil, 256<<10) }
	return s, nil
}

// Name is file://<dir>.
func (s *Sink) Name() string { return "file://" + s.dir }

// Path returns the output file of an object: always inside the folder,
// whatever its key.
func (s *Sink) Path(o *sink.Object) string { return filepath.Join(s.dir, o.RelPath(".ndjson")) }

// Check tells whether the folder can be written.
func (s *Sink) Check(context.Context) error {
	if err := atomicfile.CheckWritable(filepath.Join(s.dir, "check")); err != nil {
		return fmt.Errorf("file sink %s: %w", s.dir, err)
	}
	return nil
}

// Open starts a hidden temporary file beside the output file.
func (s *Sink) Open(_ context.Context, o *sink.Object) (sink.Writer, error) {
	path := s.Path(o)
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	f, err := atomicfile.Create(path, 0o666)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	w := s.bufs.Get().(*bufio.Writer)
	w.Reset(f)
	return &writer{s: s, path: path, f: f, w: w}, nil
}

// Close has nothing to deliver: every object is written by End.
func (s *Sink) Close(context.Context) error { return nil }

type writer struct {
	s    *Sink
	path string
	f    *atomicfile.File
	w    *bufio.Writer
}

func (w *writer) Write(ctx context.Context, b *sink.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := w.w.Write(b.ECS()); err != nil {
		return fmt.Errorf("file sink %s: %w", w.path, err)
	}
	return nil
}

// End syncs the file and renames it into place.
func (w *writer) End(ack func(sink.Result)) {
	err := w.w.Flush()
	w.release()
	if err != nil {
		w.f.Abort()
	} else {
		err = w.f.Commit()
	}
	if err != nil {
		err = fmt.Errorf("file sink %s: %w", w.path, err)
	}
	ack(sink.Result{Err: err})
}

func (w *writer) Abort() {
	w.release()
	w.f.Abort()
}

func (w *writer) release() {
	w.w.Reset(nil)
	w.s.bufs.Put(w.w)
}

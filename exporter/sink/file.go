package sink

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowlog/flowlog/internal/atomicfile"
)

// Files writes one NDJSON file per object, <dir>/<bucket or "local">/<key>.ndjson,
// atomically: a crash never leaves half an object, and delivering an object
// again replaces its file, so each record is held exactly once. This is the
// shape a Logstash file input or a SIEM forwarder picks up.
type Files struct {
	dir string
}

// NewFiles returns the file sink of folder dir, creating it if needed, and
// removes the temporary files of writes a crash interrupted.
func NewFiles(dir string) (*Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".ndjson.tmp-") {
			os.Remove(path)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return &Files{dir: dir}, nil
}

// Name is file://<dir>.
func (f *Files) Name() string { return "file://" + f.dir }

// Path returns the output file of an object.
func (f *Files) Path(o Object) string {
	return filepath.Join(f.dir, OutputName(o.Bucket, o.Key)+".ndjson")
}

// OutputName is where the output of an object goes below a folder, without
// extension: <bucket or "local">/<key without .gz, .log, .json>.
func OutputName(bucket, key string) string {
	if bucket == "" {
		bucket = "local"
	}
	for _, ext := range []string{".gz", ".log", ".json"} {
		key = strings.TrimSuffix(key, ext)
	}
	return filepath.Join(bucket, filepath.FromSlash(key))
}

// Open starts a hidden temporary file beside the output file.
func (f *Files) Open(_ context.Context, o Object) (Writer, error) {
	path := f.Path(o)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return &fileWriter{path: path, f: tmp, w: bufio.NewWriterSize(tmp, 256<<10)}, nil
}

type fileWriter struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

func (w *fileWriter) Write(_ context.Context, b *Batch) error {
	if _, err := w.w.Write(b.Docs); err != nil {
		return fmt.Errorf("file sink %s: %w", w.path, err)
	}
	return nil
}

// Commit syncs the file and renames it into place.
func (w *fileWriter) Commit(context.Context) error {
	err := w.w.Flush()
	if err == nil {
		err = w.f.Chmod(0o644)
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.path)
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(w.path))
	}
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("file sink %s: %w", w.path, err)
	}
	return nil
}

func (w *fileWriter) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

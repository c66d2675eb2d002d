package objstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flowlog/flowlog/internal/atomicfile"
)

// Dir stores objects as files in a local folder; a key's "/" makes sub-folders.
type Dir struct {
	root string
}

// NewDir returns a store in folder root, creating it if needed.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o777); err != nil {
		return nil, fmt.Errorf("folder %s: %w", root, err)
	}
	return &Dir{root: root}, nil
}

func (d *Dir) String() string { return d.root }

// Put writes the object to a temporary file beside its final name, syncs it
// and renames it into place, so readers never see half an object.
func (d *Dir) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path := filepath.Join(d.root, filepath.FromSlash(key))
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return atomicfile.Write(path, 0o666, func(w io.Writer) error {
		n, err := io.Copy(w, body)
		if err == nil && n != size {
			err = fmt.Errorf("wrote %d bytes, want %d", n, size)
		}
		return err
	})
}

package objstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Dir stores objects as files in a local folder; a key's "/" makes sub-folders.
type Dir struct {
	root string
}

// NewDir returns a store in folder root, creating it if needed.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return WriteFileAtomic(path, func(w io.Writer) error {
		n, err := io.Copy(w, body)
		if err == nil && n != size {
			err = fmt.Errorf("wrote %d bytes, want %d", n, size)
		}
		return err
	})
}

// WriteFileAtomic writes a file through write into a hidden temporary file in
// the same folder, syncs it, renames it to path and syncs the folder. On any
// error the temporary file is removed and path is untouched. The file is
// readable by everyone (0644).
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	return WriteFileAtomicMode(path, 0o644, write)
}

// WriteFileAtomicMode is WriteFileAtomic with the file mode given.
func WriteFileAtomicMode(path string, mode os.FileMode, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a rename or removal in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

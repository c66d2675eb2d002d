package source

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowlog/flowlog/internal/objkey"
)

// Folder is a local folder of objects, sub-folders included. Files whose
// name starts with "." are ignored (writers put temporary files there), and
// so are files modified less than Settle ago, which may still be written.
type Folder struct {
	root   string
	Settle time.Duration
	now    func() time.Time
}

// NewFolder returns the source of folder root.
func NewFolder(root string) *Folder {
	return &Folder{root: filepath.Clean(root), Settle: 2 * time.Second, now: time.Now}
}

// Name is the folder's path.
func (f *Folder) Name() string { return f.root }

// List walks the folder.
func (f *Folder) List(ctx context.Context, r Range) ([]Object, error) {
	var out []Object
	cutoff := f.now().Add(-f.Settle)
	err := filepath.WalkDir(f.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if path != f.root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(f.root, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		info, ok := objkey.Parse(key)
		if !ok || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while listing
		}
		if fi.ModTime().After(cutoff) {
			return nil
		}
		o := Object{Key: key, Size: fi.Size(), Modified: fi.ModTime().UTC(), Info: info,
			ETag: strconv.FormatInt(fi.Size(), 10) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)}
		if r.Contains(o.Time()) {
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list folder %s: %w", f.root, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Open opens the file.
func (f *Folder) Open(_ context.Context, o Object) (io.ReadCloser, error) {
	return os.Open(filepath.Join(f.root, filepath.FromSlash(o.Key)))
}

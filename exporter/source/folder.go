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
	"syscall"
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

// NewFolder returns the source of folder root. Its name is the folder's
// absolute path with symbolic links resolved, so that one folder named two
// ways is one source.
func NewFolder(root string) (*Folder, error) {
	abs, err := CanonicalFolder(root)
	if err != nil {
		return nil, err
	}
	return &Folder{root: abs, Settle: 2 * time.Second, now: time.Now}, nil
}

// CanonicalFolder returns the absolute path of folder dir, links resolved.
func CanonicalFolder(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("folder %s: %w", dir, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs, nil
}

// Name is the folder's absolute path.
func (f *Folder) Name() string { return f.root }

// List walks the folder.
func (f *Folder) List(ctx context.Context, r Range) (Listing, error) {
	var out Listing
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
		if strings.HasPrefix(d.Name(), ".") || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(f.root, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		info, ok := objkey.Parse(key)
		if !ok {
			out.Unknown++
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while listing
		}
		if fi.ModTime().After(cutoff) {
			out.Settling++
			return nil
		}
		o := Object{Bucket: f.root, Key: key, Size: fi.Size(), Modified: fi.ModTime().UTC(), Info: info, ETag: fileVersion(fi)}
		if !r.Contains(o.Time()) {
			out.OutOfRange++
			return nil
		}
		out.Objects = append(out.Objects, o)
		return nil
	})
	if err != nil {
		return Listing{}, fmt.Errorf("list folder %s: %w", f.root, err)
	}
	sort.Slice(out.Objects, func(i, j int) bool { return out.Objects[i].Key < out.Objects[j].Key })
	return out, nil
}

// fileVersion names one version of a file: size, modification time, change
// time and inode. A rewrite that keeps size and modification time (cp -p,
// touch -r) still changes the change time, and a replacement by rename has
// another inode.
func fileVersion(fi fs.FileInfo) string {
	v := strconv.FormatInt(fi.Size(), 10) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v += "-" + strconv.FormatInt(time.Unix(st.Ctim.Unix()).UnixNano(), 10) + "-" + strconv.FormatUint(st.Ino, 10)
	}
	return v
}

// Open opens the file; its reads are checked against the listed size.
func (f *Folder) Open(_ context.Context, o Object) (io.ReadCloser, error) {
	path := filepath.Join(f.root, filepath.FromSlash(o.Key))
	file, err := os.Open(path)
	if err != nil {
		return nil, &TransportError{Object: path, Err: err}
	}
	return CheckSize(file, path, o.Size), nil
}

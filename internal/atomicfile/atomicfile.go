// Package atomicfile writes files that appear complete or not at all: the
// bytes go to a hidden temporary file beside the final name, which is synced
// and renamed into place, and the folder is synced so the rename survives a
// crash. Files are created with the mode asked for, less the process umask,
// as os.Create does.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// TempMarker is in the name of every temporary file: "."+base+TempMarker+random.
const TempMarker = ".tmp-"

// File is a file being written; Commit puts it in place, Abort removes it.
type File struct {
	path string
	f    *os.File
}

// Create starts writing path. perm is filtered by the umask.
func Create(path string, perm fs.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		var rnd [6]byte
		rand.Read(rnd[:])
		tmp := filepath.Join(dir, "."+base+TempMarker+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// Held until the file is committed or aborted: a process that
		// finds the temporary file unlocked knows its writer is gone.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			os.Remove(tmp)
			return nil, fmt.Errorf("lock %s: %w", tmp, err)
		}
		return &File{path: path, f: f}, nil
	}
	return nil, fmt.Errorf("create a temporary file beside %s: too many name clashes", path)
}

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// Name returns the temporary file's path.
func (f *File) Name() string { return f.f.Name() }

// Commit syncs the file, renames it to its final name and syncs the folder.
// On error the temporary file is removed and the final name is untouched.
// The file is closed (and unlocked) after the rename.
func (f *File) Commit() error {
	err := f.f.Sync()
	if err == nil {
		err = os.Rename(f.f.Name(), f.path)
	}
	if err != nil {
		f.f.Close()
		os.Remove(f.f.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort removes the temporary file; the final name is untouched.
func (f *File) Abort() {
	f.f.Close()
	os.Remove(f.f.Name())
}

// Write writes path through write, atomically. perm is filtered by the umask.
func Write(path string, perm fs.FileMode, write func(io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// CheckWritable tells whether path can be written: it creates the
// temporary file a write would, and removes it.
func CheckWritable(path string) error {
	f, err := Create(path, 0o600)
	if err != nil {
		return err
	}
	f.Abort()
	return nil
}

// RemoveAbandoned removes the temporary file at path if no process is
// writing it (a writer that crashed): it reports whether it did. A
// temporary file being written, by this process or another, is left.
func RemoveAbandoned(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false
	}
	return os.Remove(path) == nil
}

// IsTemp reports whether a file name is a temporary file of this package.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, TempMarker)
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

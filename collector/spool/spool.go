// Package spool keeps finished objects on local disk until their upload has
// succeeded, so that a target that is down, or a restart, loses nothing.
//
// Each queue (one per flow log) is a sub-folder; each object is one file named
// after its key. Files are written with temp file, fsync and rename, so a
// crash leaves either the whole object or nothing.
package spool

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flowlog/flowlog/internal/atomicfile"
)

// ErrFull reports that writing an object would take the spool over its limit.
var ErrFull = errors.New("spool full")

// Entry is one object waiting for upload.
type Entry struct {
	Queue   string
	Key     string
	Path    string
	Size    int64
	Written time.Time
}

// Spool is a folder of objects waiting for upload. It is safe for concurrent use.
type Spool struct {
	dir string
	max int64

	mu      sync.Mutex
	entries map[string]Entry // by path
	bytes   int64
}

// Open opens (creating if needed) the spool folder dir, holding at most
// maxBytes of objects (0: no limit). Objects left by an earlier run are kept
// for upload; unfinished temporary files are removed.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool folder: %w", err)
	}
	s := &Spool{dir: dir, max: maxBytes, entries: make(map[string]Entry)}
	queues, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool folder: %w", err)
	}
	for _, q := range queues {
		if !q.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, q.Name()))
		if err != nil {
			return nil, fmt.Errorf("spool folder: %w", err)
		}
		for _, f := range files {
			path := filepath.Join(dir, q.Name(), f.Name())
			if strings.HasPrefix(f.Name(), ".") {
				os.Remove(path) // a write that a crash interrupted
				continue
			}
			key, err := url.PathUnescape(f.Name())
			info, ierr := f.Info()
			if err != nil || ierr != nil || !info.Mode().IsRegular() {
				continue
			}
			s.add(Entry{Queue: q.Name(), Key: key, Path: path, Size: info.Size(), Written: info.ModTime()})
		}
	}
	return s, nil
}

func (s *Spool) add(e Entry) {
	if old, ok := s.entries[e.Path]; ok {
		s.bytes -= old.Size
	}
	s.entries[e.Path] = e
	s.bytes += e.Size
}

// Dir returns the spool folder.
func (s *Spool) Dir() string { return s.dir }

// Write stores an object durably in queue under key. It returns ErrFull,
// without writing, when the object would take the spool over its limit.
// Writing a key that is already waiting replaces it.
func (s *Spool) Write(queue, key string, data []byte) error {
	path := filepath.Join(s.dir, queue, url.PathEscape(key))
	s.mu.Lock()
	used := s.bytes
	if old, ok := s.entries[path]; ok {
		used -= old.Size
	}
	s.mu.Unlock()
	if s.max > 0 && used+int64(len(data)) > s.max {
		return fmt.Errorf("spool %s holds %d bytes, limit %d; object %s (%d bytes) not written: %w",
			s.dir, used, s.max, key, len(data), ErrFull)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	err := atomicfile.Write(path, 0o666, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("spool object %s: %w", key, err)
	}
	s.mu.Lock()
	s.add(Entry{Queue: queue, Key: key, Path: path, Size: int64(len(data)), Written: time.Now()})
	s.mu.Unlock()
	return nil
}

// Pending returns the objects waiting in queue, oldest key first.
func (s *Spool) Pending(queue string) []Entry {
	s.mu.Lock()
	var out []Entry
	for _, e := range s.entries {
		if e.Queue == queue {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Queues returns the queues that have objects waiting, sorted.
func (s *Spool) Queues() []string {
	s.mu.Lock()
	seen := map[string]bool{}
	for _, e := range s.entries {
		seen[e.Queue] = true
	}
	s.mu.Unlock()
	out := make([]string, 0, len(seen))
	for q := range seen {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

// Remove deletes an uploaded object.
func (s *Spool) Remove(e Entry) error {
	if err := os.Remove(e.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	if old, ok := s.entries[e.Path]; ok {
		s.bytes -= old.Size
		delete(s.entries, e.Path)
	}
	s.mu.Unlock()
	return atomicfile.SyncDir(filepath.Dir(e.Path))
}

// Bytes returns the size of all waiting objects.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Oldest returns when the oldest waiting object was written, or the zero time.
func (s *Spool) Oldest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Time
	for _, e := range s.entries {
		if t.IsZero() || e.Written.Before(t) {
			t = e.Written
		}
	}
	return t
}

// Package checkpoint remembers which object versions the exporter has
// delivered, in a local state file written crash-safely (temporary file,
// fsync, rename; mode 0600).
//
// An object version is marked done only after every sink confirmed every
// record of it. Marks reach the file on Flush; a crash loses at most the
// marks since the last Flush, and those objects are delivered again, which
// the sinks absorb: every record has a deterministic id, and the file sink
// replaces an object's output file whole.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/flowlog/flowlog/internal/atomicfile"
)

const formatVersion = 1

// Entry is one delivered object version.
type Entry struct {
	ETag string `json:"etag"`
	Time int64  `json:"time"` // the object's time (from its key, else its modification), unix seconds
}

type stateFile struct {
	Version int                         `json:"version"`
	Sources map[string]map[string]Entry `json:"sources"` // source → key → entry
}

// Store is the state of one exporter. It is safe for concurrent use.
type Store struct {
	path    string
	flushMu sync.Mutex // one write at a time, so an older state never lands last
	mu      sync.Mutex
	state   stateFile
	dirty   bool
	saved   time.Time // last successful Flush
}

// Open reads the state file at path; a missing file is an empty state.
func Open(path string) (*Store, error) {
	s := &Store{path: path, state: stateFile{Version: formatVersion, Sources: map[string]map[string]Entry{}}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged (%v): move it away to start over, which delivers everything again", path, err)
	}
	if st.Version != formatVersion {
		return nil, fmt.Errorf("checkpoint %s has format %d, this flowlog reads %d", path, st.Version, formatVersion)
	}
	if st.Sources == nil {
		st.Sources = map[string]map[string]Entry{}
	}
	s.state = st
	return s, nil
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Done reports whether this version of the object (key and ETag) was delivered.
func (s *Store) Done(source, key, etag string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.state.Sources[source][key]
	return ok && e.ETag == etag
}

// MarkDone records that every record of the object version was delivered.
func (s *Store) MarkDone(source, key, etag string, objTime time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.state.Sources[source]
	if m == nil {
		m = map[string]Entry{}
		s.state.Sources[source] = m
	}
	m[key] = Entry{ETag: etag, Time: objTime.Unix()}
	s.dirty = true
}

// Count returns the number of delivered objects remembered for source.
func (s *Store) Count(source string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.state.Sources[source])
}

// Forget drops the entries of source older than before: objects that old
// are outside the look-back and will not be listed again.
func (s *Store) Forget(source string, before time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.state.Sources[source] {
		if e.Time < before.Unix() {
			delete(s.state.Sources[source], k)
			s.dirty = true
		}
	}
}

// FlushEvery writes the state file when something changed and the last
// write is at least d ago: a crash then redoes at most d of work.
func (s *Store) FlushEvery(d time.Duration) error {
	s.mu.Lock()
	due := s.dirty && time.Since(s.saved) >= d
	s.mu.Unlock()
	if !due {
		return nil
	}
	return s.Flush()
}

// Flush writes the state file if anything changed since the last Flush.
func (s *Store) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	data, err := json.Marshal(&s.state)
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	err = atomicfile.Write(s.path, 0o600, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.dirty = true
		return fmt.Errorf("checkpoint: %w", err)
	}
	s.saved = time.Now()
	return nil
}

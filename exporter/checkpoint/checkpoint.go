// Package checkpoint remembers which object versions the exporter has
// delivered, in a local state file written crash-safely (temporary file,
// fsync, rename; mode 0600). One file may hold several sources; each keeps
// its own entries. The file is locked while in use (an flock on a ".lock"
// file beside it, which names the holder): two exporters on one checkpoint
// would both deliver everything.
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
	"strings"
	"sync"
	"syscall"
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
	lock    *os.File
	flushMu sync.Mutex // one write at a time, so an older state never lands last
	mu      sync.Mutex
	state   stateFile
	dirty   bool
	saved   time.Time // last successful Flush
}

// ErrLocked is the cause of Open's error when another process holds the
// checkpoint.
var ErrLocked = errors.New("checkpoint in use")

// Open locks and reads the state file at path; a missing file is an empty
// state. It fails at once, before any work, when the file cannot be written
// later or another process holds it (the error names that process).
func Open(path string) (*Store, error) {
	s := &Store{path: path, state: stateFile{Version: formatVersion, Sources: map[string]map[string]Entry{}}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	// The state is written by replacing the file: creating a file beside
	// it is what every save needs.
	if err := atomicfile.CheckWritable(path); err != nil {
		s.Close()
		return nil, fmt.Errorf("checkpoint %s cannot be written: %w", path, err)
	}
	if err := s.read(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// acquire takes the lock file and writes the holder into it.
func (s *Store) acquire() error {
	lockPath := s.path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint %s cannot be written: %w", s.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 512))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s is held by %s; run one exporter per checkpoint (stop that one, or give this one its own --checkpoint)",
				ErrLocked, s.path, describeHolder(holder))
		}
		return fmt.Errorf("checkpoint %s: lock: %w", s.path, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d: %s\n", os.Getpid(), strings.Join(os.Args, " "))
	s.lock = f
	return nil
}

func describeHolder(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if line == "" {
		return "another process"
	}
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	return strings.ToValidUTF8(line, "?")
}

// Close writes what changed and releases the lock.
func (s *Store) Close() error {
	var err error
	if s.lock != nil {
		err = s.Flush()
		s.lock.Close()
		s.lock = nil
	}
	return err
}

func (s *Store) read() error {
	path := s.path
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("checkpoint %s is damaged (%v): move it away to start over, which delivers everything again", path, err)
	}
	if st.Version != formatVersion {
		return fmt.Errorf("checkpoint %s has format %d, this flowlog reads %d", path, st.Version, formatVersion)
	}
	if st.Sources == nil {
		st.Sources = map[string]map[string]Entry{}
	}
	s.state = st
	return nil
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

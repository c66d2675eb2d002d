package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "export.json")
	s := open(t, path)
	old := time.Unix(1000, 0)
	s.MarkDone("s3://flows/logs", "a-1.log.gz", `"e1"`, old)
	s.MarkDone("s3://flows/logs", "a-2.log.gz", `"e2"`, time.Unix(5000, 0))
	if !s.Done("s3://flows/logs", "a-1.log.gz", `"e1"`) || s.Done("s3://flows/logs", "a-1.log.gz", `"e9"`) || s.Done("other", "a-1.log.gz", `"e1"`) {
		t.Error("Done: want the same key and ETag of the same source only")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("state written before Flush")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v, want 0600", err, fi.Mode())
	}
	s2 := open(t, path)
	if !s2.Done("s3://flows/logs", "a-2.log.gz", `"e2"`) || !s2.Done("s3://flows/logs", "a-1.log.gz", `"e1"`) {
		t.Error("reopened state lost entries")
	}
	s2.Forget("s3://flows/logs", time.Unix(2000, 0))
	if s2.Done("s3://flows/logs", "a-1.log.gz", `"e1"`) || !s2.Done("s3://flows/logs", "a-2.log.gz", `"e2"`) {
		t.Error("Forget kept an old entry or dropped a new one")
	}
	s2.Close()
	os.WriteFile(path, []byte(`{"version":1,"sources":{`), 0o600)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("damaged file: %v", err)
	}
	os.WriteFile(path, []byte(`{"version":7}`), 0o600)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "format 7") {
		t.Errorf("future format: %v", err)
	}
}

// TestLocked: a second holder is refused with the first one's PID, and gets
// the checkpoint once the first is closed.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.json")
	s := open(t, path)
	_, err := Open(path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second Open: %v", err)
	}
	s.Close()
	open(t, path).Close()
}

// TestSourcesKeepTheirEntries: sources sharing a file keep each other's
// entries across runs.
func TestSourcesKeepTheirEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.json")
	s := open(t, path)
	s.MarkDone("s3://a/web", "k1", "e", time.Now())
	s.Close()
	s = open(t, path)
	s.MarkDone("s3://a/old", "k2", "e", time.Now())
	s.Forget("s3://a/old", time.Now().Add(-time.Hour))
	s.Close()
	s = open(t, path)
	defer s.Close()
	if !s.Done("s3://a/web", "k1", "e") || !s.Done("s3://a/old", "k2", "e") {
		t.Error("one source's entries erased the other's")
	}
}

// TestUnwritable: a checkpoint that could not be saved is refused at Open,
// before any work.
func TestUnwritable(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes read-only folders")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(dir, 0o500)
	if _, err := Open(filepath.Join(dir, "cp.json")); err == nil || !strings.Contains(err.Error(), "cannot be written") {
		t.Errorf("read-only folder: %v", err)
	}
}

// TestUnwritableAsRoot: a checkpoint whose path passes through a file.
func TestUnwritablePath(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := Open(filepath.Join(f, "cp.json")); err == nil {
		t.Error("a checkpoint below a file was accepted")
	}
}

// TestConcurrentFlush: the last write holds every mark made before it.
func TestConcurrentFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.json")
	s := open(t, path)
	done := make(chan struct{})
	for w := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 100 {
				s.MarkDone("src", fmt.Sprintf("k-%d-%d", w, i), "e", time.Unix(1, 0))
				if err := s.Flush(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	s.Close()
	s2 := open(t, path)
	defer s2.Close()
	for w := range 8 {
		for i := range 100 {
			if !s2.Done("src", fmt.Sprintf("k-%d-%d", w, i), "e") {
				t.Fatalf("mark k-%d-%d lost", w, i)
			}
		}
	}
}

package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "export.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1000, 0)
	s.MarkDone("s3://flows/logs", "a-1.log.gz", `"e1"`, old)
	s.MarkDone("s3://flows/logs", "a-2.log.gz", `"e2"`, time.Unix(5000, 0))
	if !s.Done("s3://flows/logs", "a-1.log.gz", `"e1"`) || s.Done("s3://flows/logs", "a-1.log.gz", `"e9"`) || s.Done("other", "a-1.log.gz", `"e1"`) {
		t.Error("Done: want the same key and ETag of the same source only")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("state written before Flush")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v, want 0600", err, fi.Mode())
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Done("s3://flows/logs", "a-2.log.gz", `"e2"`) || s2.Count("s3://flows/logs") != 2 {
		t.Error("reopened state lost entries")
	}
	s2.Forget("s3://flows/logs", time.Unix(2000, 0))
	if s2.Done("s3://flows/logs", "a-1.log.gz", `"e1"`) || s2.Count("s3://flows/logs") != 1 {
		t.Error("Forget kept an old entry or dropped a new one")
	}
	os.WriteFile(path, []byte(`{"version":1,"sources":{`), 0o600)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("damaged file: %v", err)
	}
	os.WriteFile(path, []byte(`{"version":7}`), 0o600)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "format 7") {
		t.Errorf("future format: %v", err)
	}
}

// TestConcurrentFlush: the last write holds every mark made before it.
func TestConcurrentFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.json")
	s, _ := Open(path)
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
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := s2.Count("src"); n != 800 {
		t.Errorf("state file holds %d marks, want 800", n)
	}
}

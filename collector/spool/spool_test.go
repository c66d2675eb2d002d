package spool

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write("web-1", "logs/web-1-100.log.gz", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := s.Write("web-1", "logs/web-1-200.log.gz", make([]byte, 80)); err != nil {
		t.Fatal(err)
	}
	if err := s.Write("web-1", "logs/web-1-300.log.gz", make([]byte, 11)); !errors.Is(err, ErrFull) {
		t.Errorf("write over the limit: err = %v, want ErrFull", err)
	}
	// A write a crash interrupted leaves a hidden temporary file.
	if err := os.WriteFile(filepath.Join(dir, "web-1", ".logs%2Fweb-1-300.log.gz.tmp-1"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	p := s2.Pending("web-1")
	if len(p) != 2 || p[0].Key != "logs/web-1-100.log.gz" || p[1].Key != "logs/web-1-200.log.gz" || s2.Bytes() != 90 {
		t.Fatalf("after reopen: %+v, %d bytes", p, s2.Bytes())
	}
	if _, err := os.Stat(filepath.Join(dir, "web-1", ".logs%2Fweb-1-300.log.gz.tmp-1")); !errors.Is(err, os.ErrNotExist) {
		t.Error("temporary file of an interrupted write was kept")
	}
	if q := s2.Queues(); len(q) != 1 || q[0] != "web-1" {
		t.Errorf("queues = %v, want [web-1]", q)
	}
	if s2.Oldest().IsZero() {
		t.Error("Oldest is zero with objects waiting")
	}
	if err := s2.Remove(p[0]); err != nil {
		t.Fatal(err)
	}
	if s2.Bytes() != 80 || len(s2.Pending("web-1")) != 1 {
		t.Errorf("after Remove: %d bytes, %d pending", s2.Bytes(), len(s2.Pending("web-1")))
	}
}

// flakyStore fails its first n puts.
type flakyStore struct {
	mu    sync.Mutex
	fails int
	puts  map[string]int
	data  map[string]string
}

func (f *flakyStore) Put(_ context.Context, key string, body io.ReadSeeker, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("service unavailable")
	}
	b, _ := io.ReadAll(body)
	f.puts[key]++
	f.data[key] = string(b)
	return nil
}

func (f *flakyStore) String() string { return "flaky" }

func TestUploaderRetriesInOrder(t *testing.T) {
	s, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a-2", "a-1", "a-3"} {
		if err := s.Write("a", k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	st := &flakyStore{fails: 3, puts: map[string]int{}, data: map[string]string{}}
	u := NewUploader(s, "a", st, Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond}, UploaderDeps{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if left, _ := u.Drain(ctx); left != 0 {
		t.Fatalf("%d objects left", left)
	}
	for _, k := range []string{"a-1", "a-2", "a-3"} {
		if st.puts[k] != 1 || st.data[k] != k {
			t.Errorf("%s: uploaded %d times with %q", k, st.puts[k], st.data[k])
		}
	}
	if len(s.Pending("a")) != 0 || s.Bytes() != 0 {
		t.Error("spool not empty after upload")
	}
}

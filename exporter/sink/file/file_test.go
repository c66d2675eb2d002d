package file

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/atomicfile"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) sink.Sink {
			s, err := New(Config{Dir: dir}, sink.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Read: func(t *testing.T) map[string]int {
			ids := map[string]int{}
			filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || atomicfile.IsTemp(d.Name()) {
					return err
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				sinktest.ReadNDJSON(t, data, ids)
				return nil
			})
			return ids
		},
		AbortLeavesNothing: true,
	})
}

// TestHostileKeys: no key makes the sink write outside its folder, and keys
// that differ only by an extension keep their own files.
func TestHostileKeys(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "out")
	s, err := New(Config{Dir: dir}, sink.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"logs/../../../../x/pwned-1714521600.log.gz", "/etc/passwd", "..", "a/./../b", "k.log", "k.log.gz", "x.json", "x.json.gz", "\x00", strings.Repeat("é", 300)}
	seen := map[string]bool{}
	for _, k := range keys {
		o := &sink.Object{Source: "s3://b", Bucket: "b", Key: k}
		p := s.Path(o)
		if rel, err := filepath.Rel(dir, p); err != nil || !filepath.IsLocal(rel) {
			t.Errorf("key %q: path %s is outside %s", k, p, dir)
		}
		if seen[p] {
			t.Errorf("key %q shares %s", k, p)
		}
		seen[p] = true
		w, err := s.Open(t.Context(), o)
		if err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
		done := make(chan sink.Result, 1)
		w.End(func(r sink.Result) { done <- r })
		if r := <-done; r.Err != nil {
			t.Fatalf("key %q: %v", k, r.Err)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("the sink wrote beside its folder: %v", entries)
	}
}

func TestUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	s, _ := New(Config{Dir: dir}, sink.Deps{})
	o := &sink.Object{Source: "s3://b", Bucket: "b", Key: "a.log.gz"}
	w, _ := s.Open(t.Context(), o)
	w.End(func(sink.Result) {})
	fi, err := os.Stat(s.Path(o))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v (%v) under umask 077, want 0600", fi.Mode().Perm(), err)
	}
}

func TestConfig(t *testing.T) {
	if _, err := ParseURL("file://relative"); err == nil {
		t.Error("relative folder accepted")
	}
	if c, err := ParseURL("file:///srv/out/"); err != nil || c.Dir != "/srv/out" {
		t.Errorf("%+v, %v", c, err)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("empty dir accepted")
	}
}

// TestAbandonedTemps: opening the sink removes the temporary files a
// crash left, not one being written (here by this process, as by another
// exporter sharing the folder: it is locked).
func TestAbandonedTemps(t *testing.T) {
	dir := t.TempDir()
	abandoned := filepath.Join(dir, "s3", ".a.log.gz.ndjson"+atomicfile.TempMarker+"0001")
	os.MkdirAll(filepath.Dir(abandoned), 0o777)
	os.WriteFile(abandoned, []byte("x"), 0o666)
	live, err := atomicfile.Create(filepath.Join(dir, "s3", "b.log.gz.ndjson"), 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	if _, err := New(Config{Dir: dir}, sink.Deps{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abandoned); !os.IsNotExist(err) {
		t.Errorf("a crash's temporary file is left: %v", err)
	}
	if _, err := os.Stat(live.Name()); err != nil {
		t.Errorf("a temporary file being written was removed: %v", err)
	}
	if _, err := live.Write([]byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if err := live.Commit(); err != nil {
		t.Errorf("the write in progress did not complete: %v", err)
	}
}

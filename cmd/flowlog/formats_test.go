package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// TestZstdObjects: zstd-compressed text objects are parsed and exported
// like their gzip twins.
func TestZstdObjects(t *testing.T) {
	dir := t.TempDir()
	bucket := genSettled(t, dir, 1, 300)
	objs, _ := filepath.Glob(filepath.Join(bucket, "*.log.gz"))
	if len(objs) != 1 {
		t.Fatalf("objects: %v", objs)
	}
	gzData, _ := os.ReadFile(objs[0])
	zr, err := gzip.NewReader(bytes.NewReader(gzData))
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	text.ReadFrom(zr)
	var z bytes.Buffer
	zw, _ := zstd.NewWriter(&z)
	zw.Write(text.Bytes())
	zw.Close()
	// Another flow log name, the same window end: its key's time is in range.
	zstdPath := filepath.Join(bucket, "z"+strings.TrimSuffix(filepath.Base(objs[0]), ".log.gz")+".log.zst")
	zstdKey := filepath.Base(zstdPath)
	if err := os.WriteFile(zstdPath, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	os.Chtimes(zstdPath, old, old)

	fromGzip, _, code1 := flowlog(t, "", "parse", objs[0])
	fromZstd, stderr, code2 := flowlog(t, "", "parse", zstdPath)
	if code1 != 0 || code2 != 0 || fromGzip != fromZstd || strings.Count(fromZstd, "\n") < 300 {
		t.Fatalf("parse: exit %d/%d, outputs equal %v\n%s", code1, code2, fromGzip == fromZstd, stderr)
	}
	out := filepath.Join(dir, "out")
	_, stderr, code := flowlog(t, "", "backfill", "--source", bucket, "--since", "2026-01-01", "--until", "2026-01-02",
		"--sink", "file://"+out, "--checkpoint", filepath.Join(dir, "cp.json"))
	files := outputFiles(t, out, true)
	if code != 0 || len(files) != 2 {
		t.Fatalf("backfill: exit %d, files %v\n%s", code, files, stderr)
	}
	var sizes []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sizes = append(sizes, bytes.Count(b, []byte("\n")))
		if strings.Contains(f, zstdKey) && !bytes.Contains(b, []byte(`"flowlog.flows"`)) {
			t.Errorf("%s: not ECS documents", f)
		}
	}
	if sizes[0] != sizes[1] {
		t.Errorf("documents per object %v, want the twins equal", sizes)
	}
}

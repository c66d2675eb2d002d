package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBackfill(t *testing.T) {
	dir := t.TempDir()
	bucket := filepath.Join(dir, "bucket")
	if _, stderr, code := flowlog(t, "", "gen", "--out", bucket, "--objects", "6", "--records", "100"); code != 0 {
		t.Fatal(stderr)
	}
	old := time.Now().Add(-time.Minute)
	paths, _ := filepath.Glob(filepath.Join(bucket, "*.log.gz"))
	for _, p := range paths {
		os.Chtimes(p, old, old)
	}
	cp := filepath.Join(dir, "cp.json")
	out := filepath.Join(dir, "out")
	args := []string{"backfill", "--source", bucket, "--since", "2026-01-01T00:20:00Z", "--until", "2026-01-01T00:40:00Z", "--checkpoint", cp}

	stdout, stderr, code := flowlog(t, "", append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(stdout, "3 objects,") || !strings.Contains(stdout, "flowlog-1767228000.log.gz") || strings.Contains(stdout, "flowlog-1767228600") {
		t.Errorf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(cp); !os.IsNotExist(err) {
		t.Error("dry run wrote a checkpoint")
	}
	_, stderr, code = flowlog(t, "", append(args, "--sink", "file://"+out)...)
	if code != 0 || !strings.Contains(stderr, "backfill: 3 objects delivered, 0 failed, 0 already done; 300 records") {
		t.Errorf("backfill: exit %d\n%s", code, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(out, "local", "*.ndjson"))
	if len(files) != 3 {
		t.Errorf("output files: %v", files)
	}
	_, stderr, code = flowlog(t, "", append(args, "--sink", "file://"+out)...)
	if code != 0 || !strings.Contains(stderr, "0 objects delivered, 0 failed, 3 already done") {
		t.Errorf("second backfill: exit %d\n%s", code, stderr)
	}
}

func TestExportUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--sink", "stdout"}, "--source is required"},
		{[]string{"export", "--source", dir}, "--sink is required"},
		{[]string{"export", "--source", dir, "--sink", "kafka://x"}, "want stdout, blackhole or file:///folder"},
		{[]string{"export", "--source", filepath.Join(dir, "none"), "--sink", "stdout"}, "not a folder"},
		{[]string{"export", "--source", "s3://b?colour=red", "--sink", "stdout"}, `unknown option "colour"`},
		{[]string{"backfill", "--source", dir, "--sink", "stdout", "--since", "yesterday", "--until", "2026-01-01"}, `--since "yesterday"`},
		{[]string{"backfill", "--source", dir, "--sink", "stdout", "--since", "2026-01-02", "--until", "2026-01-01"}, "is before --since"},
		{[]string{"backfill", "--source", dir, "--sink", "stdout", "--since", "2026-01-02"}, `--until ""`},
	} {
		stdout, stderr, code := flowlog(t, "", c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d\n%s%s\nwant exit 2 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
}

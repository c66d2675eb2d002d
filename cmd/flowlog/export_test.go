package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// genSettled writes objects with flowlog gen into dir/bucket and dates
// them a minute back, so that folder sources take them as complete.
func genSettled(t *testing.T, dir string, objects, records int) string {
	t.Helper()
	bucket := filepath.Join(dir, "bucket")
	if _, stderr, code := flowlog(t, "", "gen", "--out", bucket, "--objects", strconv.Itoa(objects), "--records", strconv.Itoa(records)); code != 0 {
		t.Fatal(stderr)
	}
	old := time.Now().Add(-time.Minute)
	paths, _ := filepath.Glob(filepath.Join(bucket, "*.log.gz"))
	for _, p := range paths {
		os.Chtimes(p, old, old)
	}
	return bucket
}

func TestBackfill(t *testing.T) {
	dir := t.TempDir()
	bucket := genSettled(t, dir, 6, 100)
	cp := filepath.Join(dir, "cp.json")
	out := filepath.Join(dir, "out")
	args := []string{"backfill", "--source", bucket, "--since", "2026-01-01T00:20:00Z", "--until", "2026-01-01T00:40:00Z", "--checkpoint", cp}

	stdout, stderr, code := flowlog(t, "", append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(stdout, "3 objects, ") || !strings.Contains(stdout, "flowlog-1767228000.log.gz") || strings.Contains(stdout, "flowlog-1767228600") {
		t.Errorf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(cp); !os.IsNotExist(err) {
		t.Error("dry run wrote a checkpoint")
	}
	_, stderr, code = flowlog(t, "", append(args, "--sink", "file://"+out)...)
	if code != 0 || !strings.Contains(stderr, "backfill "+bucket+": 3 objects delivered, 0 failed, 0 already done; 300 records") {
		t.Errorf("backfill: exit %d\n%s", code, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(out, "folder", bucket, "*.log.gz.ndjson"))
	if len(files) != 3 {
		t.Errorf("output files: %v", outputFiles(t, out, true))
	}
	_, stderr, code = flowlog(t, "", append(args, "--sink", "file://"+out)...)
	if code != 0 || !strings.Contains(stderr, ": 0 objects delivered, 0 failed, 3 already done") {
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
		{[]string{"export", "--source", dir, "--sink", "kafka://x"}, "sink kafka: unknown; want file:///absolute/folder, stdout, clickhouse://[user@]host[:port][/database], loki+http://host:3100[/prefix], es+https://host:9200, logstash://host:5044, blackhole"},
		{[]string{"export", "--source", dir, "--sink", "file://relative"}, "sink file…: want file:///absolute/folder"},
		{[]string{"export", "--source", filepath.Join(dir, "none"), "--sink", "stdout"}, "not a folder"},
		{[]string{"export", "--source", "s3://b?colour=red", "--sink", "stdout"}, `unknown option "colour"`},
		{[]string{"export", "--source", "s3://b", "--sink", "stdout", "--queue", "kafka://x"}, "--queue: want sqs://"},
		{[]string{"export", "--source", dir, "--sink", "stdout", "--queue", "nats://127.0.0.1:1?stream=S"}, "queue: bucket notifications need exactly one s3:// source"},
		{[]string{"export", "--source", "s3://b", "--sink", "stdout", "--queue", "nats://127.0.0.1:1"}, "queue.stream: the JetStream stream"},
		{[]string{"export", "--source", "s3://b", "--sink", "stdout", "--reconcile", "10m"}, "--reconcile needs a queue"},
		{[]string{"export", "--source", "s3://b", "--sink", "stdout", "--queue", "sqs://sqs.eu-west-1.amazonaws.com/1/q", "--reconcile", "1s"}, "queue.reconcile: 1s: want at least 10s"},
		{[]string{"export", "--source", "s3://b", "--sink", "stdout", "--queue", "sqs://sqs.eu-west-1.amazonaws.com/1/q", "--reconcile", "1h", "--lookback", "5m"}, "reconcile_after: 10m0s is longer than lookback"},
		{[]string{"backfill", "--source", dir, "--sink", "stdout", "--since", "yesterday", "--until", "2026-01-01"}, `--since "yesterday"`},
		{[]string{"backfill", "--source", dir, "--sink", "stdout", "--since", "2026-01-02", "--until", "2026-01-01"}, "is before --since"},
		{[]string{"backfill", "--source", dir, "--sink", "stdout", "--since", "2026-01-02"}, "--since and --until are required"},
		{[]string{"backfill", "--source", dir, "--sink", "stdout", "--since", "-3x", "--until", "now"}, `--since "-3x": want RFC 3339`},
	} {
		stdout, stderr, code := flowlog(t, "", c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d\n%s%s\nwant exit 2 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
}

func TestExportConfigCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "e.yaml")
	os.WriteFile(cfg, []byte("source: {url: "+dir+"}\nsinks: [stdout]\n"), 0o600)
	if stdout, stderr, code := flowlog(t, "", "export", "-c", cfg, "--check"); code != 0 || !strings.Contains(stdout, "configuration OK: "+dir+" → stdout") {
		t.Errorf("check: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := flowlog(t, "", "export", "-c", cfg, "--source", dir); code != 2 || !strings.Contains(stderr, "--source and -c do not go together") {
		t.Errorf("-c with --source: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := flowlog(t, "", "export", "-c", cfg, "--queue", "nats://x?stream=S"); code != 2 || !strings.Contains(stderr, "--queue and -c do not go together") {
		t.Errorf("-c with --queue: exit %d\n%s", code, stderr)
	}
	os.WriteFile(cfg, []byte("source: {url: "+dir+"}\nsinks: [stdout]\nworkers: 0\n"), 0o600)
	if _, stderr, code := flowlog(t, "", "export", "-c", cfg, "--check"); code != 2 || !strings.Contains(stderr, "workers: 0 must be 1 to 256") {
		t.Errorf("bad config: exit %d\n%s", code, stderr)
	}
}

// TestExportServes runs export until it has delivered a folder, checking
// /readyz and /metrics on the way.
func TestExportServes(t *testing.T) {
	dir := t.TempDir()
	bucket, out := genSettled(t, dir, 2, 100), filepath.Join(dir, "out")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"export", "--source", bucket, "--sink", "file://" + out, "--listen", addr,
			"--checkpoint", filepath.Join(dir, "cp.json"), "--lookback", "87600h"}, strings.NewReader(""), io.Discard, &stderr)
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, metrics := get("/metrics")
		if strings.Contains(metrics, `flowlog_exporter_objects_done_total{source="`+bucket+`"} 2`) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("objects not delivered in 10 s:\n%s\n%s", metrics, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d\n%s", code, stderr.String())
	}
	if files := outputFiles(t, out, true); len(files) != 2 {
		t.Errorf("output files %v", files)
	}
}

func TestBackfillSeveralSources(t *testing.T) {
	a, b := genSettled(t, t.TempDir(), 2, 50), genSettled(t, t.TempDir(), 3, 50)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "e.yaml")
	os.WriteFile(cfg, []byte("sources:\n  - {url: "+a+"}\n  - {url: "+b+"}\nsinks: [blackhole]\ncheckpoint: "+filepath.Join(dir, "cp.json")+"\n"), 0o600)
	_, stderr, code := flowlog(t, "", "backfill", "-c", cfg, "--since", "2026-01-01", "--until", "2026-01-02")
	if code != 0 || !strings.Contains(stderr, "backfill "+a+": 2 objects delivered") || !strings.Contains(stderr, "backfill "+b+": 3 objects delivered") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

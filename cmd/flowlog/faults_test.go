package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecretsNeverPrinted: a secret on the command line or in a wrong field
// of a configuration never reaches the output.
func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"
	dir := t.TempDir()
	t.Setenv("FLOWLOG_TEST_SECRET", secret)
	cfg := filepath.Join(dir, "e.yaml")
	for name, args := range map[string][]string{
		"query":        {"export", "--source", "s3://flows/logs?secret_access_key=" + secret, "--sink", "stdout", "--check"},
		"query name":   {"export", "--source", "s3://flows/logs?" + secret + "=1", "--sink", "stdout"},
		"userinfo":     {"export", "--source", "s3://AKIA:" + secret + "@flows/logs", "--sink", "stdout"},
		"dry run":      {"backfill", "--source", "s3://flows/logs?secret_access_key=" + secret, "--since", "-1h", "--until", "now", "--dry-run"},
		"sink":         {"export", "--source", dir, "--sink", "es+https://elastic:" + secret + "@127.0.0.1:1", "--check"},
		"yaml int":     {"export", "-c", cfg, "--check"},
		"yaml type":    {"export", "-c", cfg + "2", "--check"},
		"yaml region":  {"export", "-c", cfg + "3", "--check"},
		"endpoint":     {"export", "-c", cfg + "4", "--check"},
		"endpoint log": {"export", "-c", cfg + "4", "--poll", "1s"},
	} {
		os.WriteFile(cfg+"4", []byte("source: {url: 's3://flows', endpoint: 'http://${FLOWLOG_TEST_SECRET}.invalid:1', region: eu-1, access_key_id: a, secret_access_key: b, timeout: 1s}\nsinks: [stdout]\nlisten: ''\npoll: 1s\n"), 0o600)
		os.WriteFile(cfg, []byte("source: {url: "+dir+"}\nsinks: [stdout]\nworkers: ${FLOWLOG_TEST_SECRET}\n"), 0o600)
		os.WriteFile(cfg+"2", []byte("source: {url: "+dir+"}\nsinks: [stdout]\nenrich: {services: ${FLOWLOG_TEST_SECRET}}\n"), 0o600)
		os.WriteFile(cfg+"3", []byte("source: {url: 's3://flows', secret_access_key: x, access_key_id: ${FLOWLOG_TEST_SECRET}, endpoint: 'http://127.0.0.1:1', timeout: 1s}\nsinks: [stdout]\n"), 0o600)
		if name == "endpoint log" {
			// export keeps running: its log of the failing listing is checked.
			args = []string{"export", "-c", cfg + "4"}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			var out, errOut bytes.Buffer
			run(ctx, args, strings.NewReader(""), &out, &errOut)
			cancel()
			if !strings.Contains(errOut.String(), "listing failed") || strings.Contains(out.String()+errOut.String(), secret) {
				t.Errorf("%s: %s", name, errOut.String())
			}
			continue
		}
		stdout, stderr, code := flowlog(t, "", args...)
		if code == 0 && name != "yaml region" {
			t.Errorf("%s: exit 0", name)
		}
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("%s: the secret is printed:\n%s%s", name, stdout, stderr)
		}
	}
}

// TestCheckFailsWhereStartWould: --check opens and reaches what a start
// does, and fails on the same things.
func TestCheckFailsWhereStartWould(t *testing.T) {
	dir := t.TempDir()
	bucket := genSettled(t, dir, 1, 10)
	cp := filepath.Join(dir, "cp.json")
	base := []string{"export", "--source", bucket, "--sink", "blackhole", "--checkpoint", cp, "--check"}
	if stdout, stderr, code := flowlog(t, "", base...); code != 0 || !strings.Contains(stdout, "configuration OK") {
		t.Fatalf("good: exit %d\n%s%s", code, stdout, stderr)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"GeoIP file":        {append(base, "--geoip-city", filepath.Join(dir, "none.mmdb")), "geoip.city"},
		"checkpoint folder": {append(base[:len(base)-3:len(base)-3], "--checkpoint", filepath.Join(file, "cp.json"), "--check"), "checkpoint"},
		"dead letters":      {append(base, "--dead-letter", filepath.Join(file, "dl")), "dead-letter"},
		"sink folder":       {[]string{"export", "--source", bucket, "--sink", "file://" + filepath.Join(file, "out"), "--checkpoint", cp, "--check"}, "file sink"},
		"bucket":            {[]string{"export", "--source", "s3://flows/logs?endpoint=http://127.0.0.1:1&path_style=true&region=us-east-1", "--sink", "blackhole", "--checkpoint", cp, "--check"}, "s3://flows/logs"},
	} {
		if name == "bucket" {
			t.Setenv("AWS_ACCESS_KEY_ID", "x")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
		}
		stdout, stderr, code := flowlog(t, "", c.args...)
		if code != exitFailure || !strings.Contains(stderr, c.want) || strings.Contains(stdout, "configuration OK") {
			t.Errorf("%s: exit %d\n%s%s\nwant exit 2 and %q", name, code, stdout, stderr, c.want)
		}
		if strings.Contains(stderr, "Run 'flowlog --help'") {
			t.Errorf("%s: a failure at start is not a usage error: %s", name, stderr)
		}
	}
	// A checkpoint in use by another exporter.
	child := child(t, "export", "--source", bucket, "--sink", "blackhole", "--checkpoint", cp, "--listen", "", "--poll", "1s")
	defer func() { child.Process.Kill(); child.Wait() }()
	holder := fmt.Sprintf("pid %d:", child.Process.Pid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, _ := os.ReadFile(cp + ".lock"); strings.HasPrefix(string(b), holder) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter did not take the checkpoint")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, stderr, code := flowlog(t, "", base...); code != exitFailure || !strings.Contains(stderr, "is held by "+holder) {
		t.Errorf("locked checkpoint: exit %d\n%s", code, stderr)
	}
}

// TestExitStatus: the summary and the exit status tell delivered, damaged,
// rejected and failed apart.
func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	bucket := genSettled(t, dir, 2, 100)
	run := func(extra ...string) (string, int) {
		args := append([]string{"backfill", "--source", bucket, "--since", "2026-01-01", "--until", "2026-01-02", "--sink", "blackhole",
			"--checkpoint", filepath.Join(t.TempDir(), "cp.json")}, extra...)
		_, stderr, code := flowlog(t, "", args...)
		return stderr, code
	}
	if stderr, code := run(); code != exitOK || !strings.Contains(stderr, "2 objects delivered, 0 failed") {
		t.Errorf("clean: exit %d\n%s", code, stderr)
	}
	paths, _ := filepath.Glob(filepath.Join(bucket, "*.log.gz"))
	data, _ := os.ReadFile(paths[0])
	os.WriteFile(paths[0], data[:len(data)/2], 0o644)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(paths[0], old, old)
	if stderr, code := run(); code != exitRejected || !strings.Contains(stderr, "2 objects delivered (1 damaged: the records before the damage)") {
		t.Errorf("damaged: exit %d\n%s", code, stderr)
	}
	os.WriteFile(paths[0], []byte("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1767225600 1767225601 ACCEPT OK\nbad line\n"), 0o644)
	os.Chtimes(paths[0], old, old)
	if stderr, code := run(); code != exitRejected || !strings.Contains(stderr, "1 line rejected") {
		t.Errorf("rejected line: exit %d\n%s", code, stderr)
	}
	os.Chmod(paths[0], 0)
	if os.Getuid() != 0 {
		if stderr, code := run(); code != exitFailure || !strings.Contains(stderr, "1 object not delivered") {
			t.Errorf("unreadable: exit %d\n%s", code, stderr)
		}
	}
}

// TestJSONLogs: with --log-format json, the summary is a log record too.
func TestJSONLogs(t *testing.T) {
	dir := t.TempDir()
	bucket := genSettled(t, dir, 2, 100)
	_, stderr, code := flowlog(t, "", "backfill", "--source", bucket, "--since", "2026-01-01", "--until", "2026-01-02", "--sink", "blackhole",
		"--checkpoint", filepath.Join(dir, "cp.json"), "--log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var finished map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["msg"] == "backfill finished" {
			finished = rec
		}
	}
	if finished == nil || finished["objects_delivered"] != 2.0 || finished["records"] != 200.0 {
		t.Errorf("summary record: %v", finished)
	}
}

// TestParseOfABinary: a file that is not a flow log prints no records.
func TestParseOfABinary(t *testing.T) {
	stdout, stderr, code := flowlog(t, "", "parse", os.Args[0])
	if stdout != "" || code != exitRejected || !strings.Contains(stderr, "no line parsed as a flow record") {
		t.Errorf("exit %d, %d bytes out\n%.500s", code, len(stdout), stderr)
	}
}

// TestParseMatchesExporter: parse --output ecs with --bucket and --etag
// prints the documents the exporter ships for the same object.
func TestParseMatchesExporter(t *testing.T) {
	dir := t.TempDir()
	bucket := genSettled(t, dir, 1, 50)
	out := filepath.Join(dir, "out")
	if _, stderr, code := flowlog(t, "", "backfill", "--source", bucket, "--since", "2026-01-01", "--until", "2026-01-02", "--sink", "file://"+out,
		"--checkpoint", filepath.Join(dir, "cp.json")); code != 0 {
		t.Fatal(stderr)
	}
	files := outputFiles(t, out, true)
	if len(files) != 1 {
		t.Fatalf("outputs %v", files)
	}
	shipped, _ := os.ReadFile(files[0])
	var state struct {
		Sources map[string]map[string]struct{ ETag string }
	}
	data, _ := os.ReadFile(filepath.Join(dir, "cp.json"))
	json.Unmarshal(data, &state)
	var key, etag string
	for k, e := range state.Sources[bucket] {
		key, etag = k, e.ETag
	}
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(bucket)
	printed, stderr, code := flowlog(t, "", "parse", "--output", "ecs", "--bucket", bucket, "--etag", etag, key)
	if code != 0 || printed != string(shipped) {
		t.Errorf("exit %d %s\nparse:\n%.400s\nexporter:\n%.400s", code, stderr, printed, shipped)
	}
}

// TestTwoFolderSourcesSameKey: two folders holding the same key keep their
// own outputs.
func TestTwoFolderSourcesSameKey(t *testing.T) {
	a, b := genSettled(t, t.TempDir(), 2, 50), genSettled(t, t.TempDir(), 2, 50)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := filepath.Join(dir, "e.yaml")
	os.WriteFile(cfg, []byte("sources:\n  - {url: "+a+"}\n  - {url: "+b+"}\nsinks: ['file://"+out+"']\ncheckpoint: "+filepath.Join(dir, "cp.json")+"\n"), 0o600)
	if _, stderr, code := flowlog(t, "", "backfill", "-c", cfg, "--since", "2026-01-01", "--until", "2026-01-02"); code != 0 {
		t.Fatal(stderr)
	}
	if files := outputFiles(t, out, true); len(files) != 4 {
		t.Errorf("%d output files, want 4: %v", len(files), files)
	}
	if ids := outputIDs(t, out); len(ids) != 200 {
		t.Errorf("%d distinct records, want 200", len(ids))
	}
}

// TestSIGTERMIsPrompt: export stops within 2 s of SIGTERM in the middle of a
// big object, writes its checkpoint, and leaves nothing half done.
func TestSIGTERMIsPrompt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	dir := t.TempDir()
	bucket := filepath.Join(dir, "bucket")
	const records = 300_000
	if _, stderr, code := flowlog(t, "", "gen", "--out", bucket, "--objects", "1", "--records", "300000"); code != 0 {
		t.Fatal(stderr)
	}
	// Three objects of the same content under other keys.
	paths, _ := filepath.Glob(filepath.Join(bucket, "*.log.gz"))
	data, _ := os.ReadFile(paths[0])
	for _, name := range []string{"b-1767226800.log.gz", "c-1767227400.log.gz"} {
		os.WriteFile(filepath.Join(bucket, name), data, 0o644)
	}
	old := time.Now().Add(-time.Minute)
	paths, _ = filepath.Glob(filepath.Join(bucket, "*.log.gz"))
	for _, p := range paths {
		os.Chtimes(p, old, old)
	}
	out, cp := filepath.Join(dir, "out"), filepath.Join(dir, "cp.json")
	cmd := child(t, "export", "--source", bucket, "--sink", "file://"+out, "--checkpoint", cp, "--lookback", "87600h", "--listen", "", "--workers", "1")
	deadline := time.Now().Add(60 * time.Second)
	for len(outputFiles(t, out, false)) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Now into the second object.
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	took := time.Since(start)
	if err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if took > 2*time.Second {
		t.Errorf("stopping took %s, want under 2 s", took)
	}
	// Every object whose output is in place is marked done; none is half there.
	state, err := os.ReadFile(cp)
	files := outputFiles(t, out, true) // fails on temporary files left
	if len(files) == 0 || len(files) == 3 {
		t.Logf("%d objects delivered before SIGTERM: the test did not stop export mid-object", len(files))
	}
	for _, f := range files {
		key := strings.TrimSuffix(filepath.Base(f), ".ndjson")
		if err != nil || !bytes.Contains(state, []byte(`"`+key+`"`)) {
			t.Errorf("%s delivered but not in the checkpoint (%v): %.300s", key, err, state)
		}
	}
	if ids := outputIDs(t, out); len(ids) != records*len(files) {
		t.Errorf("%d records visible in %d files: a partial object", len(ids), len(files))
	}
}

// TestParseIBM: parse tells IBM JSON from v2 text by content, as export does.
func TestParseIBM(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "exporter", "ibm", "testdata", "vnic.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flows.log") // a v2 name on an IBM object
	os.WriteFile(path, data, 0o644)
	stdout, stderr, code := flowlog(t, "", "parse", "-o", "v2", path)
	if code != exitRejected || strings.Count(stdout, "\n") != 5 || !strings.Contains(stderr, "flows.log:7: field target_ip: missing") ||
		!strings.Contains(stderr, "5 records printed, 1 line rejected") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

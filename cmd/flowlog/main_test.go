package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// flowlog runs one command line in-process.
func flowlog(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestParseJSON(t *testing.T) {
	out, errOut, code := flowlog(t, "", "parse", "testdata/aws-noheader.log")
	if code != exitRejected {
		t.Errorf("exit %d, want %d", code, exitRejected)
	}
	golden(t, "aws-noheader.json.golden", out)
	wantErr := `testdata/aws-noheader.log:3: field srcaddr: not an IPv4 or IPv6 address: "300.1.1.1"
testdata/aws-noheader.log:5: field dstport: value out of range 0-65535: "70000"
flowlog parse: 4 records printed, 2 lines rejected
`
	if errOut != wantErr {
		t.Errorf("stderr\n%s\nwant\n%s", errOut, wantErr)
	}
}

func TestParseECS(t *testing.T) {
	out, errOut, code := flowlog(t, "", "parse", "--output", "ecs", "testdata/aws-header.log.gz")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	docs := lines(out)
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4", len(docs))
	}
	ids := map[string]bool{}
	for i, d := range docs {
		var doc struct {
			Event struct {
				ID     string `json:"id"`
				Action string `json:"action"`
			} `json:"event"`
			Network struct {
				Type        string `json:"type"`
				CommunityID string `json:"community_id"`
			} `json:"network"`
			Flowlog map[string]any `json:"flowlog"`
		}
		if err := json.Unmarshal([]byte(d), &doc); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if doc.Event.ID == "" || ids[doc.Event.ID] {
			t.Errorf("document %d: event.id %q missing or repeated", i, doc.Event.ID)
		}
		ids[doc.Event.ID] = true
		if doc.Flowlog["vpc_id"] != "vpc-0a1b2c3d" {
			t.Errorf("document %d: flowlog.vpc_id = %v", i, doc.Flowlog["vpc_id"])
		}
		if i != 2 && doc.Network.CommunityID == "" {
			t.Errorf("document %d: no community id", i)
		}
	}
	if !strings.Contains(docs[1], `"type":"ipv6"`) || !strings.Contains(docs[3], `"action":"reject"`) {
		t.Errorf("ipv6 or reject not mapped:\n%s\n%s", docs[1], docs[3])
	}
	// The same input gives the same ids: a re-run duplicates nothing.
	again, _, _ := flowlog(t, "", "parse", "--output", "ecs", "testdata/aws-header.log.gz")
	if again != out {
		t.Error("a second run gave different documents")
	}
}

func TestParseV2RoundTrip(t *testing.T) {
	v2, _, code := flowlog(t, "", "parse", "--output", "v2", "--header", "testdata/aws-noheader.log")
	if code != exitRejected || !strings.HasPrefix(v2, "version account-id interface-id") {
		t.Fatalf("exit %d, output %q", code, v2)
	}
	if got := len(lines(v2)); got != 5 {
		t.Errorf("%d lines, want header and 4 records", got)
	}
	first, _, _ := flowlog(t, "", "parse", "testdata/aws-noheader.log")
	second, errOut, code := flowlog(t, v2, "parse", "-")
	if code != exitOK || errOut != "" || second != first {
		t.Errorf("v2 output read back: exit %d, stderr %q\n%s\nwant\n%s", code, errOut, second, first)
	}
}

func TestParseStrict(t *testing.T) {
	out, errOut, code := flowlog(t, "", "parse", "--strict", "testdata/aws-noheader.log", "testdata/aws-header.log.gz")
	if code != exitRejected {
		t.Errorf("exit %d, want %d", code, exitRejected)
	}
	if n := len(lines(out)); n != 2 {
		t.Errorf("%d records printed, want the 2 before the first bad line", n)
	}
	if !strings.HasPrefix(errOut, "testdata/aws-noheader.log:3: ") || strings.Contains(errOut, ":5:") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestParseTruncated(t *testing.T) {
	// Many records, so the cut falls well inside the stream.
	genOut, _, _ := flowlog(t, "", "gen", "--out", t.TempDir(), "--objects", "1", "--records", "5000")
	data, err := os.ReadFile(strings.TrimSpace(genOut))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.log.gz")
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := flowlog(t, "", "parse", path, "testdata/aws-header.log.gz")
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	n := len(lines(out))
	if n < 100 || n >= 5000+4 {
		t.Errorf("%d records printed", n)
	}
	// The error names the file and the last good line; the next file is read.
	want := path + ": after line "
	if !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "object is truncated") {
		t.Errorf("stderr %q, want %q...", errOut, want)
	}
	if !strings.Contains(out, "vpc-0a1b2c3d") {
		t.Error("the file after the truncated one was not read")
	}
}

func TestParseNotAFlowLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "noise.log")
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "line %d of something else\n", i)
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
	out, errOut, code := flowlog(t, "", "parse", path)
	if code != exitRejected || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	got := lines(errOut)
	if len(got) != 20+3 {
		t.Fatalf("%d stderr lines, want 20 errors and 3 summary lines:\n%s", len(got), errOut)
	}
	for _, want := range []string{
		path + ": 80 more rejected lines not shown (--max-errors 0 shows all)",
		path + ": no line parsed as a flow record: is this a flow log?",
		"flowlog parse: 0 records printed, 100 lines rejected",
	} {
		if !strings.Contains(errOut, want+"\n") {
			t.Errorf("stderr lacks %q", want)
		}
	}
	_, errOut, _ = flowlog(t, "", "parse", "--max-errors", "0", path)
	if n := len(lines(errOut)); n != 100+2 {
		t.Errorf("--max-errors 0: %d stderr lines, want 102", n)
	}
	_, errOut, code = flowlog(t, "", "parse", t.TempDir())
	if code != exitFailure || !strings.Contains(errOut, "is a directory; name the objects in it") {
		t.Errorf("directory: exit %d, %q", code, errOut)
	}
}

func TestParseErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no files":        {"parse"},
		"bad output":      {"parse", "--output", "xml", "x"},
		"unknown flag":    {"parse", "--bogus", "x"},
		"header w/ json":  {"parse", "--header", "testdata/aws-noheader.log"},
		"missing file":    {"parse", "testdata/no-such-file"},
		"huge line cap":   {"parse", "--max-line-bytes", "1099511627776", "x"},
		"zero size cap":   {"parse", "--max-bytes", "0", "x"},
		"negative errors": {"parse", "--max-errors", "-1", "x"},
		"no command":      {"bogus"},
	} {
		_, errOut, code := flowlog(t, "", args...)
		if code != exitFailure || errOut == "" {
			t.Errorf("%s: exit %d, stderr %q", name, code, errOut)
		}
	}
	_, errOut, _ := flowlog(t, "", "parse", "testdata/no-such-file")
	if errOut != "testdata/no-such-file: no such file or directory\n" {
		t.Errorf("missing file message %q", errOut)
	}
}

func TestGenAndParse(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := flowlog(t, "", "gen", "--out", dir, "--objects", "3", "--records", "200", "--name", "web01", "--seed", "7", "--start", "1629810000")
	if code != exitOK {
		t.Fatalf("gen: exit %d, %s", code, errOut)
	}
	paths := lines(out)
	want := []string{"web01-1629810600.log.gz", "web01-1629811200.log.gz", "web01-1629811800.log.gz"}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("object %d is %s, want %s", i, p, want[i])
		}
	}
	records, errOut, code := flowlog(t, "", append([]string{"parse"}, paths...)...)
	if code != exitOK || errOut != "" || len(lines(records)) != 600 {
		t.Errorf("parse of generated objects: exit %d, %d records, stderr %q", code, len(lines(records)), errOut)
	}
	for name, args := range map[string][]string{
		"no out":       {"gen"},
		"zero records": {"gen", "--out", dir, "--records", "0"},
		"slash name":   {"gen", "--out", dir, "--name", "a/b"},
	} {
		if _, errOut, code := flowlog(t, "", args...); code != exitFailure || errOut == "" {
			t.Errorf("%s: exit %d, stderr %q", name, code, errOut)
		}
	}
}

func TestCompletionAndVersion(t *testing.T) {
	out, _, code := flowlog(t, "", "completion", "bash")
	if code != exitOK || !strings.Contains(out, "flowlog") {
		t.Errorf("completion: exit %d", code)
	}
	out, _, code = flowlog(t, "", "--version")
	if code != exitOK || !strings.Contains(out, "flowlog version ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	out, _, code = flowlog(t, "", "version")
	if code != exitOK || !strings.Contains(out, "go      "+runtime.Version()) {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// TestVersionStamped builds flowlog as make build does and checks that the
// version given at build time is the one it prints.
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "flowlog")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "flowlog v9.8.7-test\n") {
		t.Errorf("stamped binary says %q, %v", out, err)
	}
}

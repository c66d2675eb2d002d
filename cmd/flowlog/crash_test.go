package main

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowlog/flowlog/internal/atomicfile"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

// TestMain lets a test run this binary as flowlog itself, in a child
// process that can be killed: FLOWLOG_MAIN_ARGS holds the arguments, one a line.
func TestMain(m *testing.M) {
	if args := os.Getenv("FLOWLOG_MAIN_ARGS"); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	// Default checkpoints go to a folder of the tests', never the user's.
	state, err := os.MkdirTemp("", "flowlog-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}

// child starts flowlog with args in a separate process.
func child(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLOWLOG_MAIN_ARGS="+strings.Join(args, "\n"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// outputFiles returns the finished NDJSON files under dir; it fails the test
// on a temporary file left behind when strict.
func outputFiles(t *testing.T, dir string, strict bool) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if atomicfile.IsTemp(d.Name()) {
			if strict {
				t.Errorf("temporary file left: %s", path)
			}
			return nil
		}
		if strings.HasSuffix(path, ".ndjson") {
			files = append(files, path)
		}
		return nil
	})
	return files
}

// outputIDs counts each event.id in the finished NDJSON files under dir.
func outputIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, p := range outputFiles(t, dir, true) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			i := strings.Index(line, `"id":"`)
			if i < 0 {
				t.Fatalf("%s: document without event.id: %.80s", p, line)
			}
			ids[line[i+6:i+6+22]]++
		}
		f.Close()
	}
	return ids
}

// TestBackfillKilledIntegration kills backfill with SIGKILL at random moments
// and starts it again until it finishes: every record arrives exactly once.
func TestBackfillKilledIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	dir := t.TempDir()
	bucket, out, cp := genSettled(t, dir, 60, 5000), filepath.Join(dir, "out"), filepath.Join(dir, "cp.json")
	args := []string{"backfill", "--source", bucket, "--since", "2026-01-01", "--until", "2026-01-02",
		"--sink", "file://" + out, "--checkpoint", cp, "--workers", "2"}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	// Up to 8 kills, then one run to the end.
	for attempt := 0; ; attempt++ {
		cmd := child(t, args...)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		kill := time.After(time.Duration(40+r.IntN(400)) * time.Millisecond)
		if attempt == 8 {
			kill = nil
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("backfill failed on its own: %v", err)
			}
		case <-kill:
			cmd.Process.Kill()
			<-done
			kills++
			continue
		}
		break
	}
	t.Logf("finished after %d kills", kills)
	if kills == 0 {
		t.Log("the first run finished before any kill; the test checked only a clean run")
	}
	ids := outputIDs(t, out)
	if len(ids) != 60*5000 {
		t.Errorf("%d distinct records delivered, want %d", len(ids), 60*5000)
	}
	for id, n := range ids {
		if n != 1 {
			t.Fatalf("record %s delivered %d times", id, n)
		}
	}
}

// TestExportKilledS3Integration kills export, reading from a real MinIO
// server, with SIGKILL at random moments, then lets it catch up: every
// record arrives exactly once.
func TestExportKilledS3Integration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO and kills child processes")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	cfg := gen.DefaultConfig()
	cfg.Name, cfg.Objects, cfg.Records = "web-1", 30, 5000
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Objects {
		m.Put("flows", "logs/"+g.Key(i), g.Object(i))
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	args := []string{"export", "--source", "s3://flows/logs?endpoint=" + m.Endpoint() + "&path_style=true&region=us-east-1",
		"--sink", "file://" + out, "--checkpoint", filepath.Join(dir, "cp.json"), "--poll", "1s", "--lookback", "87600h", "--listen", ""}
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	want := cfg.Objects * cfg.Records
	for attempt := 0; attempt < 6; attempt++ {
		cmd := child(t, args...)
		time.Sleep(time.Duration(300+r.IntN(1500)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}
	cmd := child(t, args...)
	deadline := time.Now().Add(60 * time.Second)
	for countLines(t, out) < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("export after SIGTERM: %v", err)
	}
	ids := outputIDs(t, out)
	if len(ids) != want {
		t.Errorf("%d distinct records delivered, want %d", len(ids), want)
	}
	for id, n := range ids {
		if n != 1 {
			t.Fatalf("record %s delivered %d times", id, n)
		}
	}
}

// countLines counts the lines of the finished NDJSON files under dir.
func countLines(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, p := range outputFiles(t, dir, false) {
		b, err := os.ReadFile(p)
		if err == nil {
			n += bytes.Count(b, []byte("\n"))
		}
	}
	return n
}

// killWhileWorking runs flowlog with args again and again (at most 20
// times) and kills each run with SIGKILL at a random moment up to maxDelay
// after progress() first grows, until kills runs were killed while
// progress was short of want. A run that fails on its own fails the test;
// one that finishes ends the loop. It returns the kills that fell while
// working.
func killWhileWorking(t *testing.T, args []string, progress func() int, want, kills int, maxDelay time.Duration) int {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	n := 0
	for attempt := 0; attempt < 20 && n < kills; attempt++ {
		before := progress()
		if before >= want {
			break
		}
		cmd := child(t, args...)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.Now().Add(60 * time.Second)
	wait:
		for progress() == before && time.Now().Before(deadline) {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s failed on its own: %v", args[0], err)
				}
				break wait
			case <-time.After(10 * time.Millisecond):
			}
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s failed on its own: %v", args[0], err)
			}
			return n
		case <-time.After(time.Duration(r.Int64N(int64(maxDelay) + 1))):
			cmd.Process.Kill()
			<-done
		}
		if after := progress(); after > before && after < want {
			n++
		}
	}
	return n
}

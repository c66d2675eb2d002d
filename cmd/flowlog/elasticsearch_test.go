package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowlog/flowlog/internal/testserver"
)

// TestExportKilledElasticsearchIntegration kills export into Elasticsearch
// (the strict stand-in) with SIGKILL while it sends, then lets it catch
// up: every record is held once under its event.id, the documents sent
// again after each kill are answered 409 and counted as duplicates (no
// object fails, nothing goes to the dead letters).
func TestExportKilledElasticsearchIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	es := testserver.StartElasticsearch(t, testserver.ESOptions{})
	const ds = "logs-flowlog.flows-default"
	held := func() int { return len(es.Docs(ds)) }
	dir := t.TempDir()
	bucket := genSettled(t, dir, 30, 4000)
	const want = 30 * 4000
	args := []string{"export", "--source", bucket, "--sink", "es+http://" + strings.TrimPrefix(es.URL(), "http://"),
		"--checkpoint", filepath.Join(dir, "cp.json"), "--dead-letter", filepath.Join(dir, "dead"),
		"--poll", "1s", "--lookback", "87600h", "--listen", ""}
	kills := killWhileWorking(t, args, held, want, 6, 300*time.Millisecond)
	if kills < 4 {
		t.Errorf("only %d kills fell while sending", kills)
	}
	cmd := child(t, args...)
	deadline := time.Now().Add(120 * time.Second)
	for held() < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // let the acknowledgements reach the checkpoint
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("export after SIGTERM: %v", err)
	}
	st := es.Stats()
	t.Logf("%d kills; %d documents held; items answered %v in %d bulk requests", kills, held(), st.Items, st.BulkRequests)
	if held() != want {
		t.Fatalf("%d documents, want %d", held(), want)
	}
	if st.Items[409] == 0 {
		t.Error("no document was sent twice: the kills fell outside the sending")
	}
	for code, n := range st.Items {
		if code != 201 && code != 409 {
			t.Errorf("%d items answered %d", n, code)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "dead", "*")); len(m) > 0 {
		t.Errorf("dead letters: %v", m)
	}
	// A last run finds everything delivered: nothing is sent.
	before := es.Stats().BulkRequests
	_, stderr, code := flowlog(t, "", "backfill", "--source", bucket, "--sink", "es+http://"+strings.TrimPrefix(es.URL(), "http://"),
		"--checkpoint", filepath.Join(dir, "cp.json"), "--since", "2025-12-31T00:00:00Z", "--until", "2026-01-02T00:00:00Z")
	if after := es.Stats().BulkRequests; after != before || code != 0 {
		t.Errorf("a backfill after catching up: exit %d, %d bulk requests: %s", code, after-before, stderr)
	}
}

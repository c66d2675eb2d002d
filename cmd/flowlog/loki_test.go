package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowlog/flowlog/internal/testserver"
)

// TestExportKilledLokiIntegration kills export into VictoriaLogs' Loki API
// with SIGKILL at random moments, then lets it catch up: every record is
// there, and every repeat is the identical entry (which Loki drops).
func TestExportKilledLokiIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	vl := testserver.StartVictoriaLogs(t)
	dir := t.TempDir()
	bucket := genSettled(t, dir, 100, 4000)
	args := []string{"export", "--source", bucket, "--sink", "loki+" + vl.URL() + "/insert", "--checkpoint", filepath.Join(dir, "cp.json"),
		"--poll", "1s", "--lookback", "87600h", "--listen", ""}
	const want = 100 * 4000
	distinct := func() int {
		rows := vl.Query("* | stats count_uniq(event_id) as n")
		if len(rows) == 0 {
			return 0
		}
		n, _ := strconv.Atoi(rows[0]["n"])
		return n
	}
	// Each run is killed at a random moment soon after its first entries
	// land, so the kills fall while it pushes.
	kills := killWhileWorking(t, args, distinct, want, 6, 150*time.Millisecond)
	if kills < 6 {
		t.Errorf("only %d kills fell while entries were being pushed", kills)
	}
	cmd := child(t, args...)
	deadline := time.Now().Add(90 * time.Second)
	for distinct() < want && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("export after SIGTERM: %v", err)
	}
	// VictoriaLogs keeps repeats: each record must be there, and all of
	// its copies one and the same entry (stream, time, line), which Loki
	// keeps once. Counted by the server: the entries are many.
	stats := vl.Query("* | stats count() as entries, count_uniq(event_id) as ids, count_uniq(event_id, _stream, _time, _msg) as forms")
	if len(stats) != 1 {
		t.Fatalf("stats: %v", stats)
	}
	t.Logf("%d kills; %s entries of %s records", kills, stats[0]["entries"], stats[0]["ids"])
	if stats[0]["ids"] != strconv.Itoa(want) || stats[0]["forms"] != stats[0]["ids"] {
		t.Errorf("%s distinct records in %s distinct entries; want %d and as many", stats[0]["ids"], stats[0]["forms"], want)
	}
}

// TestBackfillWarnsOldEntries: a backfill into a Loki that refuses entries
// older than a week says so before the work.
func TestBackfillWarnsOldEntries(t *testing.T) {
	loki := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/config" {
			fmt.Fprint(w, "limits_config:\n  reject_old_samples: true\n  reject_old_samples_max_age: 168h\n")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer loki.Close()
	dir := t.TempDir()
	bucket := genSettled(t, dir, 2, 10)
	_, stderr, code := flowlog(t, "", "backfill", "--source", bucket, "--since", "2026-01-01", "--until", "2026-01-02",
		"--sink", "loki+"+loki.URL, "--checkpoint", filepath.Join(dir, "cp.json"))
	if code != 0 || !strings.Contains(stderr, "refuses entries older than it accepts") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

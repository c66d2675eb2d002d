package main

import (
	"fmt"
	"math/rand/v2"
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
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	kills := 0
	// Each run is killed at a random moment soon after its first entries
	// land, so the kills fall while it pushes.
	for attempt := 0; attempt < 20 && kills < 6; attempt++ {
		before := distinct()
		if before >= want {
			break
		}
		cmd := child(t, args...)
		deadline := time.Now().Add(30 * time.Second)
		for distinct() == before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(r.IntN(150)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if n := distinct(); n > before && n < want {
			kills++
		}
	}
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
	entries := vl.Query("*")
	byID := map[string]string{}
	repeats := 0
	for _, e := range entries {
		k := e["_stream"] + "\x00" + e["_time"] + "\x00" + e["_msg"]
		if prev, ok := byID[e["event_id"]]; ok {
			repeats++
			if prev != k {
				t.Fatalf("event_id %s delivered as two different entries:\n%q\n%q", e["event_id"], prev, k)
			}
		}
		byID[e["event_id"]] = k
	}
	t.Logf("%d kills; %d entries, %d of them exact repeats (Loki drops those)", kills, len(entries), repeats)
	if len(byID) != want {
		t.Errorf("%d distinct records, want %d", len(byID), want)
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

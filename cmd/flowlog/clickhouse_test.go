package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
	"github.com/flowlog/flowlog/parser"
)

// chFixture is a folder of generated objects from the last hours (a
// retention would drop older rows at once), an exporter configuration that
// writes them into a database of the test ClickHouse server, and what the
// records add up to.
type chFixture struct {
	ch                 *testserver.ClickHouse
	dir, bucket, extra string
	db, config         string
	since, until       string
	records            int
	size               int64 // of the objects, compressed
	bytes, packets     uint64
	conn               driver.Conn
}

func newCHFixture(t testing.TB, objects, records int, extra string) *chFixture {
	t.Helper()
	ch := testserver.StartClickHouse(t)
	dir := t.TempDir()
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = objects, records
	gc.Start = time.Now().Add(-time.Duration(objects+6) * gc.Interval).Truncate(gc.Interval)
	bucket := filepath.Join(dir, "bucket")
	paths, err := gen.WriteDir(bucket, gc)
	if err != nil {
		t.Fatal(err)
	}
	f := &chFixture{ch: ch, dir: dir, bucket: bucket, extra: extra, records: objects * records,
		since: gc.Start.Format(time.RFC3339), until: gc.Start.Add(time.Duration(objects+1) * gc.Interval).Format(time.RFC3339)}
	old := time.Now().Add(-time.Minute)
	for _, p := range paths {
		os.Chtimes(p, old, old)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f.size += int64(len(data))
		r := parser.NewReader(bytes.NewReader(data), p, parser.Options{})
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			f.bytes += rec.Bytes
			f.packets += rec.Packets
		}
	}
	f.useDatabase(t, fmt.Sprintf("flows_%d", time.Now().UnixNano()%1e9))
	t.Setenv("FLOWLOG_TEST_CH_PASSWORD", ch.Password)
	f.conn, err = clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr()}, Protocol: clickhouse.HTTP,
		Auth: clickhouse.Auth{Username: ch.User, Password: ch.Password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.conn.Close() })
	return f
}

// useDatabase writes the exporter configuration for database db, with a
// checkpoint of its own.
func (f *chFixture) useDatabase(t testing.TB, db string) {
	t.Helper()
	f.db = db
	f.config = filepath.Join(f.dir, db+".yaml")
	cfg := fmt.Sprintf(`listen: ""
checkpoint: %s
workers: 2
source:
  url: %s
sinks:
  - type: clickhouse
    protocol: http
    compression: gzip
    addresses: [%s]
    user: %s
    password: ${FLOWLOG_TEST_CH_PASSWORD}
    database: %s
    timeout: 30s
%s`, filepath.Join(f.dir, db+".checkpoint.json"), f.bucket, f.ch.Addr(), f.ch.User, db, f.extra)
	if err := os.WriteFile(f.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *chFixture) backfill() []string {
	return []string{"backfill", "-c", f.config, "--since", f.since, "--until", f.until}
}

// rows returns count() and uniqExact(event_id) of flows, 0 before it exists.
func (f *chFixture) rows(t *testing.T) (n, distinct uint64) {
	t.Helper()
	err := f.conn.QueryRow(context.Background(), "SELECT count(), uniqExact(event_id) FROM "+f.db+".flows").Scan(&n, &distinct)
	if err != nil && !strings.Contains(err.Error(), "UNKNOWN") && !strings.Contains(err.Error(), "does not exist") {
		t.Fatal(err)
	}
	return n, distinct
}

// verify checks every record is in flows once and the rollups add up to
// the records' totals.
func (f *chFixture) verify(t *testing.T) {
	t.Helper()
	n, distinct := f.rows(t)
	if int(n) != f.records || int(distinct) != f.records {
		t.Errorf("flows: count() %d, uniqExact(event_id) %d; want %d each", n, distinct, f.records)
	}
	for _, table := range []string{"flows_1m", "flows_1h"} {
		var flows, byts, packets uint64
		if err := f.conn.QueryRow(context.Background(), "SELECT sum(flows), sum(bytes), sum(packets) FROM "+f.db+"."+table).Scan(&flows, &byts, &packets); err != nil {
			t.Fatal(err)
		}
		if int(flows) != f.records || byts != f.bytes || packets != f.packets {
			t.Errorf("%s: %d flows, %d bytes, %d packets; want %d, %d, %d", table, flows, byts, packets, f.records, f.bytes, f.packets)
		}
	}
}

// TestBackfillKilledClickHouseIntegration kills a backfill into ClickHouse
// with SIGKILL at random moments, at least ten times while it inserts, then
// lets it finish: every record is in flows once, and counted once in the
// rollups.
func TestBackfillKilledClickHouseIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	f := newCHFixture(t, 100, 4000, "    batch_rows: 10000\n    flush_interval: 100ms\n")
	// Each run is killed at a random moment soon after its first insert
	// lands, so every kill falls while rows are being inserted (however
	// slow the start, under -race say).
	inserted := func() int { n, _ := f.rows(t); return int(n) }
	kills := killWhileWorking(t, f.backfill(), inserted, f.records, 10, 300*time.Millisecond)
	if kills < 10 {
		t.Errorf("only %d kills fell while rows were being inserted", kills)
	}
	cmd := child(t, f.backfill()...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("last backfill: %v", err)
	}
	t.Logf("%d kills while inserting", kills)
	f.verify(t)
}

// TestClickHouseRestartIntegration stops the server while a backfill
// inserts and starts it again a few seconds later: the sink retries, the
// backfill finishes, nothing is lost or doubled.
func TestClickHouseRestartIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts the server")
	}
	f := newCHFixture(t, 80, 4000, "    batch_rows: 20000\n    flush_interval: 100ms\n    retry_for: 2m\n")
	cmd := child(t, f.backfill()...)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	n, _ := f.rows(t)
	for ; n == 0 && time.Now().Before(deadline); n, _ = f.rows(t) {
		time.Sleep(20 * time.Millisecond)
	}
	if n == 0 || int(n) >= f.records {
		t.Fatalf("%d of %d rows inserted when the server was to stop: not midway", n, f.records)
	}
	f.ch.Stop() // returns once the process is gone
	time.Sleep(3 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("backfill ended while the server was down: %v", err)
	default:
	}
	f.ch.Start()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("backfill after the server came back: %v", err)
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("backfill did not finish in 2 minutes after the server came back")
	}
	f.verify(t)
}

// TestExportClickHouseDownIntegration starts export while the server is
// down: it keeps running and says so (/readyz, the up metric, the log),
// and delivers everything once the server is back. Then a wrong password
// is a clear error in --check.
func TestExportClickHouseDownIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts the server")
	}
	f := newCHFixture(t, 4, 500, "    flush_interval: 100ms\n    retry_for: 1s\n")
	port := testserver.FreePort(t)
	data, _ := os.ReadFile(f.config)
	conf := strings.Replace(string(data), `listen: ""`, fmt.Sprintf("listen: 127.0.0.1:%d\npoll: 1s\nlookback: 87600h", port), 1)
	if err := os.WriteFile(f.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	f.ch.Stop()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLOWLOG_MAIN_ARGS="+strings.Join([]string{"export", "-c", f.config}, "\n"))
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	get := func(path string) (int, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	code, body := get("/readyz")
	for ; !(code == http.StatusServiceUnavailable && strings.Contains(body, "sink clickhouse")) && time.Now().Before(deadline); code, body = get("/readyz") {
		time.Sleep(100 * time.Millisecond)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "sink clickhouse") {
		t.Fatalf("/readyz with the server down: %d %s", code, body)
	}
	if _, m := get("/metrics"); !strings.Contains(m, "flowlog_clickhouse_up{") || !regexp.MustCompile(`flowlog_clickhouse_up\{[^}]*\} 0`).MatchString(m) {
		t.Errorf("metrics with the server down lack flowlog_clickhouse_up 0")
	}
	// The sink is down from the start; wait for an insert to fail too
	// before the server comes back (under load the first one can be late).
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), "insert failed") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	f.ch.Start()
	deadline = time.Now().Add(90 * time.Second)
	for n, _ := f.rows(t); int(n) < f.records && time.Now().Before(deadline); n, _ = f.rows(t) {
		time.Sleep(200 * time.Millisecond)
	}
	deadline = time.Now().Add(10 * time.Second)
	for code, body = get("/readyz"); code != http.StatusOK && time.Now().Before(deadline); code, body = get("/readyz") {
		time.Sleep(100 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Errorf("/readyz after the server came back: %d %s", code, body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("export after SIGTERM: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	if !strings.Contains(log, "insert failed") || strings.Contains(log, f.ch.Password) {
		t.Errorf("log: want the failed inserts said, never the password:\n%s", log)
	}
	f.verify(t)

	// A wrong password: --check says so in words.
	t.Setenv("FLOWLOG_TEST_CH_PASSWORD", "wrong")
	_, errOut, code := flowlog(t, "", "export", "-c", f.config, "--check")
	if code == 0 || !strings.Contains(errOut, "authentication failed") || strings.Contains(errOut, "wrong") {
		t.Errorf("--check with a wrong password: exit %d\n%s", code, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClickHouseRefusedSchemaIntegration: a schema the exporter will not
// migrate stops backfill and export at start, naming table and column.
func TestClickHouseRefusedSchemaIntegration(t *testing.T) {
	f := newCHFixture(t, 2, 100, "")
	if _, stderr, code := flowlog(t, "", f.backfill()...); code != 0 {
		t.Fatalf("first backfill: exit %d\n%s", code, stderr)
	}
	if err := f.conn.Exec(context.Background(), "ALTER TABLE "+f.db+".flows MODIFY COLUMN dst_port String"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{f.backfill(), {"export", "-c", f.config}} {
		_, stderr, code := flowlog(t, "", args...)
		if code != 2 || !strings.Contains(stderr, "table "+f.db+".flows column dst_port is String") {
			t.Errorf("%s with a column of another type: exit %d\n%s", args[0], code, stderr)
		}
	}
}

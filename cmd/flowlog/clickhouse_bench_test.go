package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

// BenchmarkBackfillClickHouse is the whole path into ClickHouse: a folder
// of 1 M generated records (100 objects), parsed, enriched (Community ID,
// services, address classes), gathered into inserts of 100,000 rows and
// inserted over HTTP with gzip into the real engine behind the test server,
// which also feeds both rollups. Each round writes a new database.
func BenchmarkBackfillClickHouse(b *testing.B) {
	ch := testserver.StartClickHouse(b)
	dir := b.TempDir()
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 100, 10000
	gc.Start = time.Now().Add(-time.Duration(gc.Objects+6) * gc.Interval).Truncate(gc.Interval)
	bucket := filepath.Join(dir, "bucket")
	paths, err := gen.WriteDir(bucket, gc)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	old := time.Now().Add(-time.Minute)
	for _, p := range paths {
		os.Chtimes(p, old, old)
		if fi, err := os.Stat(p); err == nil {
			size += fi.Size()
		}
	}
	b.Setenv("FLOWLOG_TEST_CH_PASSWORD", ch.Password)
	since, until := gc.Start.Format(time.RFC3339), gc.Start.Add(time.Duration(gc.Objects+1)*gc.Interval).Format(time.RFC3339)
	b.SetBytes(size)
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		config := filepath.Join(dir, fmt.Sprintf("exporter-%d.yaml", round))
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
    database: bench%d_%d
`, filepath.Join(dir, fmt.Sprintf("cp-%d.json", round)), bucket, ch.Addr(), ch.User, time.Now().Unix(), round)
		if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if code := run(context.Background(), []string{"backfill", "-c", config, "--since", since, "--until", until, "--log-level", "warn"},
			nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("backfill: exit %d", code)
		}
	}
	b.ReportMetric(float64(gc.Objects*gc.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

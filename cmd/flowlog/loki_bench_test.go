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

// BenchmarkBackfillLoki is the whole path into a Loki push API: a folder of
// 1 M generated records (100 objects), parsed, enriched, made into entries
// and pushed (protobuf, snappy, 1 MiB requests, 4 in flight) to
// VictoriaLogs on the same machine. Each round starts from a new
// checkpoint.
func BenchmarkBackfillLoki(b *testing.B) {
	vl := testserver.StartVictoriaLogs(b)
	dir := b.TempDir()
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 100, 10000
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
	b.SetBytes(size)
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		round++
		code := run(context.Background(), []string{"backfill", "--source", bucket, "--since", "2026-01-01", "--until", "2026-01-02",
			"--sink", "loki+" + vl.URL() + "/insert", "--checkpoint", filepath.Join(dir, fmt.Sprintf("cp-%d.json", round)), "--log-level", "warn"},
			nil, io.Discard, io.Discard)
		if code != 0 {
			b.Fatalf("backfill: exit %d", code)
		}
	}
	b.ReportMetric(float64(gc.Objects*gc.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

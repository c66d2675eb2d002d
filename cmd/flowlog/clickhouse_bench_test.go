package main

import (
	"context"
	"fmt"
	"io"
	"testing"
)

// BenchmarkBackfillClickHouse is the whole path into ClickHouse: a folder
// of 1 M generated records (100 objects), parsed, enriched (Community ID,
// services, address classes), gathered into inserts of 50,000 rows and
// inserted over HTTP with gzip into the real engine behind the test server,
// which also feeds both rollups. Each round writes a new database.
func BenchmarkBackfillClickHouse(b *testing.B) {
	f := newCHFixture(b, 100, 10000, "")
	b.SetBytes(f.size)
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		f.useDatabase(b, fmt.Sprintf("%s_%d", f.db, round))
		b.StartTimer()
		if code := run(context.Background(), append(f.backfill(), "--log-level", "warn"), nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("backfill: exit %d", code)
		}
	}
	b.ReportMetric(float64(f.records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

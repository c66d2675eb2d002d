package parser_test

import (
	"bytes"
	"testing"

	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/parser"
)

// BenchmarkReadObject measures gunzip + parse of one generated object of
// 10,000 records, reusing the reader as the exporter does. SetBytes is the
// decompressed size, so MB/s compares with zcat.
func BenchmarkReadObject(b *testing.B) {
	cfg := gen.DefaultConfig()
	cfg.Records = 10_000
	g, err := gen.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	obj, key := g.Object(0), g.Key(0)
	src := bytes.NewReader(obj)
	r := parser.NewReader(src, key, parser.Options{})
	var records, plain int64
	for {
		if _, err := r.Next(); err != nil {
			break
		}
		records++
	}
	plain = r.DecompressedBytes()
	if records != int64(cfg.Records) {
		b.Fatalf("read %d records, want %d", records, cfg.Records)
	}
	b.SetBytes(plain)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		src.Reset(obj)
		r.Reset(src, key)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*records), "ns/record")
}

package elasticsearch

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"

	kgzip "github.com/klauspost/compress/gzip"

	"testing"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
)

// BenchmarkBulkBody builds bulk request bodies (create action and ECS
// document per record, every enrichment on) from batches of 1000 records:
// the sink's work per document before compression.
func BenchmarkBulkBody(b *testing.B) {
	e := sinktest.FullEnrichment(b)
	objs := sinktest.Objects(b, e, smallGen(1, 10000), 1000)
	enc, err := ecs.New(ecs.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	batches := objs[0].Batches
	var body []byte
	var items []item
	p := &part{}
	b.ReportAllocs()
	b.ResetTimer()
	docs, size := 0, 0
	for i := 0; i < b.N; i++ {
		bt := batches[i%len(batches)]
		body, items = appendBatch(body[:0], items[:0], enc, bt, p)
		docs += bt.Len()
		size += len(body)
	}
	b.ReportMetric(float64(docs)/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(docs), "ns/doc")
	b.SetBytes(int64(size / max(b.N, 1)))
}

// BenchmarkCompress compresses a 5 MiB bulk body as requests go.
func BenchmarkCompress(b *testing.B) {
	e := sinktest.FullEnrichment(b)
	objs := sinktest.Objects(b, e, smallGen(1, 5000), 1000)
	enc, _ := ecs.New(ecs.DefaultConfig())
	var body []byte
	for _, bt := range objs[0].Batches {
		body, _ = appendBatch(body, nil, enc, bt, &part{})
	}
	for _, level := range []int{1, 3} {
		b.Run(fmt.Sprintf("std-%d", level), func(b *testing.B) {
			var out bytes.Buffer
			zw, _ := stdgzip.NewWriterLevel(&out, level)
			b.SetBytes(int64(len(body)))
			for i := 0; i < b.N; i++ {
				out.Reset()
				zw.Reset(&out)
				zw.Write(body)
				zw.Close()
			}
			b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "docs/s")
			b.ReportMetric(float64(len(body))/float64(out.Len()), "ratio")
		})
		b.Run(fmt.Sprintf("klauspost-%d", level), func(b *testing.B) {
			var out bytes.Buffer
			zw, _ := kgzip.NewWriterLevel(&out, level)
			b.SetBytes(int64(len(body)))
			for i := 0; i < b.N; i++ {
				out.Reset()
				zw.Reset(&out)
				zw.Write(body)
				zw.Close()
			}
			b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "docs/s")
			b.ReportMetric(float64(len(body))/float64(out.Len()), "ratio")
		})
	}
}

package clickhouse

import (
	"context"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	chcolumn "github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
)

// benchBatches is 20,000 generated records, every enrichment on, in the
// pipeline's batches of 1000.
func benchBatches(b *testing.B) ([]*sink.Batch, *sink.Object, int64) {
	e := sinktest.FullEnrichment(b)
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 1, 20000
	o := sinktest.Objects(b, e, gc, 1000)[0]
	var size int64
	for _, bt := range o.Batches {
		size += int64(bt.Bytes())
	}
	return o.Batches, o.Obj, size
}

// benchWriter returns a writer of the sink with every enrichment on, and
// the batches of one object of 20,000 records.
func benchWriter(b *testing.B) (*writer, []*sink.Batch, *sink.Object, int64) {
	batches, obj, size := benchBatches(b)
	e := sinktest.FullEnrichment(b)
	s, err := New(DefaultConfig(), sink.Deps{Enrich: &e})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	return s.newWriter(obj), batches, obj, size
}

// BenchmarkAppend fills the sink's column buffers of one object from its
// batches: the work on the exporter's hot path (the insert itself runs
// apart, in the sink's flusher). Target: 2 M records/s on one core, no
// allocation per record.
func BenchmarkAppend(b *testing.B) {
	w, batches, obj, size := benchWriter(b)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		w.reset(obj)
		for _, bt := range batches {
			w.add(bt)
		}
	}
	b.ReportMetric(float64(w.rows)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEncode is what the flusher does with those buffers before the
// bytes leave: hand each column to clickhouse-go and encode the Native block
// (no server; the send itself is measured end to end in cmd/flowlog).
func BenchmarkEncode(b *testing.B) {
	w, batches, _, size := benchWriter(b)
	for _, bt := range batches {
		w.add(bt)
	}
	var buf chproto.Buffer
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		block := &proto.Block{ServerContext: &chcolumn.ServerContext{Timezone: time.UTC}}
		for i, t := range w.s.types {
			if !w.bufs[i].used() {
				continue // left out of inserts, as the sink does
			}
			if err := block.AddColumn(t.Name, chcolumn.Type(t.Type)); err != nil {
				b.Fatal(err)
			}
			if err := w.bufs[i].appendTo(batchColumn{block.Columns[len(block.Columns)-1]}, nil); err != nil {
				b.Fatal(err)
			}
		}
		buf.Reset()
		if err := block.Encode(&buf, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.rows)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// batchColumn is clickhouse-go's column as a batch hands it out.
type batchColumn struct{ c chcolumn.Interface }

func (c batchColumn) Append(v any) error    { _, err := c.c.Append(v); return err }
func (c batchColumn) AppendRow(v any) error { return c.c.AppendRow(v) }

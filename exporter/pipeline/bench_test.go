package pipeline

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/source"
)

// BenchmarkPipeline measures the exporter without a server: 6 generated
// objects of 20,000 records in a folder, delivered as ECS NDJSON (with
// event.id and Community ID) to a writer that discards, by 2 workers.
func BenchmarkPipeline(b *testing.B) {
	in := b.TempDir()
	paths := genObjects(b, in, 6, 20000)
	var stored int64
	for _, p := range paths {
		if fi, err := statSize(p); err == nil {
			stored += fi
		}
	}
	const records = 6 * 20000
	b.SetBytes(stored)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		p := newPipeline(b, in, []sink.Sink{sink.NewStdout(io.Discard)}, filepath.Join(b.TempDir(), "state.json"))
		p.cfg.Workers = 2
		b.StartTimer()
		st, err := p.Backfill(context.Background(), source.Range{}, nil)
		if err != nil || st.Records != records {
			b.Fatalf("%+v, %v", st, err)
		}
	}
	b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
}

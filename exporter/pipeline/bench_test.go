package pipeline

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowlog/flowlog/exporter/checkpoint"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/source"
)

// outDir is a folder in memory (/dev/shm) when the machine has one, so the
// benchmark measures the exporter rather than the disk.
func outDir(b *testing.B) string {
	if dir, err := os.MkdirTemp("/dev/shm", "flowlog-bench-"); err == nil {
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// BenchmarkPipeline measures the exporter without a server: 6 generated
// objects of 20,000 records in a folder, read, enriched (Community ID,
// services, address classes), encoded as ECS NDJSON once per batch and
// delivered by 2 workers: "file" to the file sink, into a folder on tmpfs
// when there is one (the kernel's copy into the page cache included);
// "stdout" to the stdout sink writing to a discarding writer (the exporter
// alone, as the benchmark measured before sinks encoded their own records).
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
	for _, c := range []struct {
		name string
		sink func(b *testing.B) sink.Sink
	}{
		{"file", func(b *testing.B) sink.Sink { return fileSink(b, outDir(b)) }},
		{"stdout", func(*testing.B) sink.Sink { return stdoutSink(io.Discard) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(stored)
			b.ReportAllocs()
			s := c.sink(b)
			for b.Loop() {
				b.StopTimer()
				cp, err := checkpoint.Open(filepath.Join(b.TempDir(), "state.json"))
				if err != nil {
					b.Fatal(err)
				}
				p := newPipeline(b, in, []sink.Sink{s}, cp)
				p.cfg.Workers = 2
				todo, _, err := p.Plan(context.Background(), source.Range{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				st, err := p.Deliver(context.Background(), todo, 0, nil)
				if err != nil || st.Records != records {
					b.Fatalf("%+v, %v", st, err)
				}
				b.StopTimer()
				cp.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func statSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

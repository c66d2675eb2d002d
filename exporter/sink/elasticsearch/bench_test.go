package elasticsearch

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
)

// BenchmarkBulkBody builds bulk request bodies (create action and ECS
// document per record, every enrichment on) from batches of 1000 records:
// the sink's work per document before compression. "encode" encodes each
// document as it goes (target elastic-aws, and what the batch's one
// encoding costs); "shared" copies the batch's documents, already encoded
// for every JSON sink (target flowlog, after the first sink asked).
func BenchmarkBulkBody(b *testing.B) {
	e := sinktest.FullEnrichment(b)
	objs := sinktest.Objects(b, e, smallGen(1, 10000), 1000)
	enc, err := ecs.New(ecs.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	batches := objs[0].Batches
	for name, enc := range map[string]*ecs.Encoder{"encode": enc, "shared": nil} {
		b.Run(name, func(b *testing.B) {
			var body []byte
			var items []item
			p := &part{}
			b.ReportAllocs()
			docs, size := 0, 0
			for i := 0; b.Loop(); i++ {
				bt := batches[i%len(batches)]
				body, items = appendBatch(body[:0], items[:0], enc, bt, p)
				docs += bt.Len()
				size += len(body)
			}
			b.ReportMetric(float64(docs)/b.Elapsed().Seconds(), "docs/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(docs), "ns/doc")
			b.SetBytes(int64(size / max(b.N, 1)))
		})
	}
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
	writers := map[string]func(io.Writer, int) (io.WriteCloser, func(io.Writer)){
		"std": func(w io.Writer, level int) (io.WriteCloser, func(io.Writer)) {
			zw, _ := stdgzip.NewWriterLevel(w, level)
			return zw, zw.Reset
		},
		"klauspost": func(w io.Writer, level int) (io.WriteCloser, func(io.Writer)) {
			zw, _ := kgzip.NewWriterLevel(w, level)
			return zw, zw.Reset
		},
	}
	for name, newWriter := range writers {
		for _, level := range []int{1, 3} {
			b.Run(fmt.Sprintf("%s-%d", name, level), func(b *testing.B) {
				var out bytes.Buffer
				zw, reset := newWriter(&out, level)
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					out.Reset()
					reset(&out)
					zw.Write(body)
					zw.Close()
				}
				b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "docs/s")
				b.ReportMetric(float64(len(body))/float64(out.Len()), "ratio")
			})
		}
	}
}

// BenchmarkSink delivers 40,000 records (every enrichment on) through the
// whole sink (bulk bodies, gzip, HTTP, the answers read item by item, the
// objects acknowledged) to a server on the same machine that inflates each
// request and answers 201 for every document without storing anything:
// the exporter's side of the Elasticsearch sink.
func BenchmarkSink(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		if r.URL.Path == "/" || !strings.HasSuffix(r.URL.Path, "/_bulk") {
			w.WriteHeader(404)
			w.Write([]byte(`{"error":{"type":"resource_not_found_exception","reason":"none"},"status":404}`))
			return
		}
		zr, err := kgzip.NewReader(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		lines := 0
		buf := make([]byte, 64<<10)
		for {
			n, err := zr.Read(buf)
			lines += bytes.Count(buf[:n], []byte{'\n'})
			if err != nil {
				break
			}
		}
		var out bytes.Buffer
		out.WriteString(`{"errors":false,"items":[`)
		for i := 0; i < lines/2; i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(`{"create":{"status":201}}`)
		}
		out.WriteString("]}")
		w.Write(out.Bytes())
	}))
	defer srv.Close()
	e := sinktest.FullEnrichment(b)
	objs := sinktest.Objects(b, e, smallGen(4, 10000), 1000)
	cfg := DefaultConfig()
	cfg.URLs, cfg.Setup = []string{srv.URL}, false
	s, err := New(cfg, sink.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range sinktest.DeliverAll(b, s, objs, time.Minute) {
			if r.Status() != sink.Delivered {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportMetric(float64(40000*b.N)/b.Elapsed().Seconds(), "docs/s")
}

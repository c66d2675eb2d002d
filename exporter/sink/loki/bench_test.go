package loki

import (
	"testing"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
)

// BenchmarkBuild turns 20,000 records (Community ID, services, address
// classes, direction) into push requests: stream lookup, logfmt line,
// structured metadata, sorting, protobuf, snappy. Target: 1 M records/s on
// one core, no allocation per record.
func BenchmarkBuild(b *testing.B) {
	e := enrich.DefaultConfig()
	e.LocalNetworks = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 1, 20000
	o := sinktest.Objects(b, e, gc, 1000)[0]
	var size int64
	for _, bt := range o.Batches {
		size += int64(bt.Bytes())
	}
	cfg := DefaultConfig()
	cfg.URL = "http://127.0.0.1:1"
	s := newSink(b, cfg)
	b.Cleanup(func() { s.Close(b.Context()) })
	w := s.newWriter(o.Obj)
	bl := new(builder)
	var refs []ref
	var sent, raw int
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		w.entries, w.meta, w.text = w.entries[:0], w.meta[:0], w.text[:0]
		for _, bt := range o.Batches {
			for i := range bt.Records {
				w.appendEntry(&bt.Records[i])
			}
		}
		refs = refs[:0]
		for i := range w.entries {
			refs = append(refs, refOf(w, i))
		}
		sortRefs(refs)
		// Requests of batch_bytes, as send cuts them.
		for rest := refs; len(rest) > 0; {
			n, sz := 0, 0
			for n < len(rest) && (n == 0 || sz < int(cfg.BatchBytes)) {
				e := rest[n].e()
				sz += int(e.l1-e.l0) + 64*int(e.m1-e.m0)
				n++
			}
			body, err := bl.build(rest[:n])
			if err != nil {
				b.Fatal(err)
			}
			sent += len(body)
			raw += len(bl.raw)
			rest = rest[n:]
		}
	}
	b.ReportMetric(float64(len(refs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(sent)/float64(b.N)/float64(len(refs)), "B/record-sent")
	b.ReportMetric(float64(raw)/float64(b.N)/float64(len(refs)), "B/record-raw")
}

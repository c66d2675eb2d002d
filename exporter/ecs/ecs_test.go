package ecs

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/recordid"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/parser"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func encoder(t testing.TB) *Encoder {
	t.Helper()
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// filler enriches as the exporter does by default.
func filler(t testing.TB) *enrich.Filler {
	t.Helper()
	en, err := enrich.New(enrich.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return en.NewFiller()
}

// docs encodes every record of a testdata object, with event ids as the
// exporter derives them.
func docs(t testing.TB, path string) [][]byte {
	t.Helper()
	return docsOf(t, path, DefaultConfig())
}

func docsOf(t testing.TB, path string, cfg Config) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ids := recordid.ForObject("testdata", filepath.Base(path), "etag")
	fill := filler(t)
	r := parser.NewReader(f, path, parser.Options{})
	var out [][]byte
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var v enrich.Values
		fill.Fill(&v, rec)
		out = append(out, e.AppendECS(nil, rec, ids.Append(nil, r.Line()), &v))
	}
}

// TestElasticAgreement compares our documents with the ones Elastic's AWS
// VPC flow log integration produces for the same records (its pipeline test
// expectations), field by field where both carry the field. Elastic writes
// @timestamp with milliseconds; the instants must be equal.
func TestElasticAgreement(t *testing.T) {
	type elastic map[string]any // flattened Elastic fields we share
	want := []elastic{
		{"@timestamp": "2016-10-31T11:37:00.000Z", "event.start": "2016-10-31T11:35:08.000Z", "event.end": "2016-10-31T11:37:00.000Z",
			"source.ip": "2001:db8:1234:a100:8d6e:3477:df66:f105", "source.address": "2001:db8:1234:a100:8d6e:3477:df66:f105", "source.port": 34892.0, "source.bytes": 8855.0, "source.packets": 54.0,
			"destination.ip": "2001:db8:1234:a102:3304:8879:34cf:4071", "destination.address": "2001:db8:1234:a102:3304:8879:34cf:4071", "destination.port": 22.0,
			"network.community_id": "1:hXZclvxUJScaVf0xMIJR6yW6tBQ=", "network.type": "ipv6", "network.bytes": 8855.0, "network.iana_number": "6", "network.packets": 54.0,
			"cloud.account.id": "123456789010", "related.ip": []any{"2001:db8:1234:a100:8d6e:3477:df66:f105", "2001:db8:1234:a102:3304:8879:34cf:4071"}, "event.kind": "event"},
		{"@timestamp": "2015-05-10T18:02:14.000Z", "event.start": "2015-05-10T18:01:16.000Z", "event.end": "2015-05-10T18:02:14.000Z", "cloud.account.id": "123456789010", "event.kind": "event"},
		{"@timestamp": "2015-05-10T18:02:14.000Z", "event.start": "2015-05-10T18:01:16.000Z", "event.end": "2015-05-10T18:02:14.000Z", "cloud.account.id": "123456789010", "event.kind": "event"},
		{"@timestamp": "2014-12-14T04:07:50.000Z", "source.ip": "78.24.182.42", "source.port": 20641.0, "source.bytes": 4249.0, "source.packets": 20.0, "destination.ip": "158.109.0.1", "destination.port": 22.0,
			"network.community_id": "1:Ln/vlDqu658GHymxjnRAaUF8KS4=", "network.type": "ipv4", "network.iana_number": "6", "related.ip": []any{"78.24.182.42", "158.109.0.1"}},
		{"@timestamp": "2014-12-14T04:07:50.000Z", "source.port": 49761.0, "destination.port": 3389.0, "network.community_id": "1:E3lDDGXG7D8azpdrN7WMLPJe30w="},
		{"@timestamp": "2015-05-29T16:32:22.000Z", "event.start": "2015-05-29T16:30:27.000Z", "source.ip": "203.0.113.12", "source.port": 0.0, "destination.port": 0.0,
			"network.community_id": "1:H//CCQJhRqDUJ9c23S0VrQ+drxU=", "network.iana_number": "1", "network.bytes": 336.0, "network.packets": 4.0},
		{"@timestamp": "2015-05-29T16:32:22.000Z", "event.start": "2015-05-29T16:31:34.000Z", "source.ip": "172.31.16.139",
			"network.community_id": "1:cfQqw/Kh6+4yqhEKgkCw/m3WoJM=", "related.ip": []any{"172.31.16.139", "203.0.113.12"}},
	}
	got := docs(t, "testdata/aws-default.log")
	if len(got) != len(want) {
		t.Fatalf("%d documents, want %d", len(got), len(want))
	}
	for i, w := range want {
		flat := flatten(t, got[i])
		for k, v := range w {
			g, ok := flat[k]
			if s, isStr := v.(string); isStr && strings.HasSuffix(s, "Z") && strings.Contains(s, "T") {
				wt, _ := time.Parse(time.RFC3339, s)
				gs, _ := g.(string)
				gt, err := time.Parse(time.RFC3339, gs)
				if err != nil || !gt.Equal(wt) {
					t.Errorf("doc %d: %s = %v, want %v", i, k, g, v)
				}
				continue
			}
			if !ok || !cmp.Equal(g, v) {
				t.Errorf("doc %d: %s = %v, want %v", i, k, g, v)
			}
		}
	}
	// NODATA and SKIPDATA records carry no flow: Elastic writes neither
	// source, destination nor network for them, and neither do we.
	for _, i := range []int{1, 2} {
		for k := range flatten(t, got[i]) {
			if strings.HasPrefix(k, "source.") || strings.HasPrefix(k, "destination.") || strings.HasPrefix(k, "network.") || strings.HasPrefix(k, "related.") {
				t.Errorf("doc %d (no data) has %s", i, k)
			}
		}
	}
}

func flatten(t testing.TB, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", doc, err)
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if o, ok := v.(map[string]any); ok {
			for k, c := range o {
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, c)
			}
			return
		}
		out[prefix] = v
	}
	walk("", m)
	return out
}

func TestMapping(t *testing.T) {
	got := docs(t, "testdata/custom.log")
	first := flatten(t, got[0])
	for k, v := range map[string]any{
		"cloud.instance.id":      "i-0123456789abcdef0",
		"cloud.region":           "eu-central-1",
		"network.direction":      "egress",
		"network.transport":      "tcp",
		"flowlog.tcp_flags":      19.0,
		"flowlog.traffic_path":   8.0,
		"flowlog.flow_direction": "egress",
		"flowlog.my_tag":         "blue",
		"flowlog.version":        5.0,
		"flowlog.interface_id":   "eni-1111aaaa2222bbbb3",
		"flowlog.log_status":     "OK",
		"event.type":             []any{"connection", "allowed"},
		"event.outcome":          "success",
		"event.category":         []any{"network"},
		"event.dataset":          "flowlog.flows",
		"ecs.version":            "8.17.0",
	} {
		if !cmp.Equal(first[k], v) {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	second := flatten(t, got[1])
	if ips := second["related.ip"].([]any); len(ips) != 1 {
		t.Errorf("related.ip repeats an address: %v", ips)
	}
	for _, k := range []string{"cloud.instance.id", "cloud.region", "flowlog.my_tag", "flowlog.tcp_flags"} {
		if _, ok := second[k]; ok {
			t.Errorf("%s present for a '-' value", k)
		}
	}
	// Mixed families: no Community ID, and still valid JSON.
	if _, ok := flatten(t, got[2])["network.community_id"]; ok {
		t.Error("community id for mixed address families")
	}
}

// TestGolden pins whole documents; run with -update after a deliberate change.
func TestGolden(t *testing.T) {
	for _, in := range []string{"testdata/aws-default.log", "testdata/custom.log"} {
		var b bytes.Buffer
		for _, d := range docs(t, in) {
			b.Write(d)
			b.WriteByte('\n')
		}
		golden := strings.TrimSuffix(in, ".log") + ".ndjson.golden"
		if *update {
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs:\n--- got\n%s--- want\n%s", golden, b.Bytes(), want)
		}
	}
}

// TestGenerated encodes a generated object: every document is valid JSON and
// carries the record's values.
func TestGenerated(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Records = 3000
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := encoder(t)
	fill := filler(t)
	var v enrich.Values
	r := parser.NewReader(bytes.NewReader(g.Object(0)), g.Key(0), parser.Options{})
	var n int
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fill.Fill(&v, rec)
		f := flatten(t, e.AppendECS(nil, rec, nil, &v))
		if rec.Has(parser.FieldBytes) && f["network.bytes"] != float64(rec.Bytes) {
			t.Fatalf("network.bytes %v, record %d", f["network.bytes"], rec.Bytes)
		}
		if rec.Has(parser.FieldSrcAddr) && f["network.community_id"] == nil {
			t.Fatalf("no community id for %s", parser.AppendRecord(nil, rec))
		}
		n++
	}
	if n != cfg.Records {
		t.Fatalf("%d documents, want %d", n, cfg.Records)
	}
}

func TestAllocs(t *testing.T) {
	var rec parser.Record
	line := []byte("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK")
	if err := parser.ParseLine(&rec, line); err != nil {
		t.Fatal(err)
	}
	e := encoder(t)
	id := []byte("ej_Kmu2tRH6gOYkWSZnlDw")
	var v enrich.Values
	filler(t).Fill(&v, &rec)
	buf := make([]byte, 0, 2048)
	if n := testing.AllocsPerRun(100, func() { buf = e.AppendECS(buf[:0], &rec, id, &v) }); n != 0 {
		t.Errorf("%v allocations per document", n)
	}
}

func BenchmarkAppendECS(b *testing.B) {
	var rec parser.Record
	line := []byte("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK")
	if err := parser.ParseLine(&rec, line); err != nil {
		b.Fatal(err)
	}
	e := encoder(b)
	ids := recordid.ForObject("flows", "flowlogs/web-1629810635.log.gz", "etag")
	id := ids.Append(nil, 1)
	var v enrich.Values
	filler(b).Fill(&v, &rec)
	buf := e.AppendECS(nil, &rec, id, &v)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendECS(buf[:0], &rec, id, &v)
	}
}

// FuzzAppendECS: whatever layout and values the parser accepts, the document
// is valid JSON.
func FuzzAppendECS(f *testing.F) {
	f.Add("", "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 80 6 10 840 1600000000 1600000060 ACCEPT OK")
	f.Add("", "2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA")
	f.Add("srcaddr dstaddr", "1.1.1.1 ::1")
	f.Add("my-field instance-id region flow-direction tcp-flags", "x\"y i-1 eu - -1")
	f.Add("log-status", "OK")
	e, err := New(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	fill := filler(f)
	f.Fuzz(func(t *testing.T, header, line string) {
		r := parser.NewReader(strings.NewReader(header+"\n"+line+"\n"), "fuzz", parser.Options{MaxLineBytes: 1024})
		for range 3 {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var le *parser.LineError
			if errors.As(err, &le) {
				continue
			}
			var oe *parser.ObjectError
			if errors.As(err, &oe) {
				return // input that starts like gzip, say: the object ends
			}
			if err != nil {
				t.Fatal(err)
			}
			var v enrich.Values
			fill.Fill(&v, rec)
			doc := e.AppendECS(nil, rec, []byte("id\"\x00"), &v)
			if !json.Valid(doc) {
				t.Fatalf("invalid JSON for header %q line %q:\n%s", header, line, doc)
			}
		}
	})
}

func TestEnrichmentMembers(t *testing.T) {
	e := encoder(t)
	for _, line := range []string{
		"2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
		"2 123456789010 eni-1 - - - - - - - 1418530010 1418530070 - NODATA",
	} {
		var rec parser.Record
		if err := parser.ParseLine(&rec, []byte(line)); err != nil {
			t.Fatal(err)
		}
		v := &enrich.Values{
			Src:       &enrich.Geo{CountryISOCode: "DE", HasLocation: true, Lat: 50.1, Lon: 8.6},
			Dst:       &enrich.Geo{ASNumber: 64500, ASOrganization: `Example "AS"`},
			Direction: "inbound", Service: "ssh", SrcClass: "private",
			Interface: &enrich.Interface{VM: "web-1", Name: "eth0", Tags: []string{"a", "b"}},
		}
		doc := e.AppendECS(nil, &rec, nil, v)
		flat := flatten(t, doc)
		want := map[string]any{"host.name": "web-1", "labels.interface_name": "eth0", "flowlog.source_class": "private"}
		if rec.Has(parser.FieldSrcAddr) {
			want["source.geo.country_iso_code"] = "DE"
			want["source.geo.location.lat"] = 50.1
			want["destination.as.number"] = 64500.0
			want["destination.as.organization.name"] = `Example "AS"`
			want["network.direction"] = "inbound"
			want["network.protocol"] = "ssh"
			want["source.port"] = 20641.0
		} else if _, ok := flat["source.geo.country_iso_code"]; ok {
			t.Errorf("NODATA document got a source object: %s", doc)
		}
		for k, v := range want {
			if flat[k] != v {
				t.Errorf("%s: %s = %v, want %v\n%s", line, k, flat[k], v, doc)
			}
		}
	}
}

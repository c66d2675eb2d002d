package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// cluster is where a test writes: the stand-in, or the real cluster of
// FLOWLOG_TEST_ES_URL (with FLOWLOG_TEST_ES_API_KEY, or _USERNAME and
// _PASSWORD, and _CA_FINGERPRINT or _CA_FILE), in a namespace of its own.
type cluster struct {
	cfg  Config
	es   *testserver.Elasticsearch // nil on a real cluster
	real bool
}

var nsSeq atomic.Int64

func newCluster(t *testing.T) *cluster {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Namespace = fmt.Sprintf("t%d_%d", time.Now().UnixNano()%1_000_000_000, nsSeq.Add(1))
	cfg.Flush = 100 * time.Millisecond
	cfg.RetryFor = 10 * time.Second
	if u := os.Getenv("FLOWLOG_TEST_ES_URL"); u != "" {
		cfg.URLs = []string{u}
		cfg.APIKey = config.Secret(os.Getenv("FLOWLOG_TEST_ES_API_KEY"))
		cfg.Username, cfg.Password = os.Getenv("FLOWLOG_TEST_ES_USERNAME"), config.Secret(os.Getenv("FLOWLOG_TEST_ES_PASSWORD"))
		cfg.TLS.CAFingerprint, cfg.TLS.CAFile = os.Getenv("FLOWLOG_TEST_ES_CA_FINGERPRINT"), os.Getenv("FLOWLOG_TEST_ES_CA_FILE")
		return &cluster{cfg: cfg, real: true}
	}
	es := testserver.StartElasticsearch(t, testserver.ESOptions{})
	cfg.URLs = []string{es.URL()}
	return &cluster{cfg: cfg, es: es}
}

func newSink(t testing.TB, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, sink.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ids returns how many times the data stream holds each _id, through
// the search API (the same on the stand-in and a real cluster).
func (c *cluster) ids(t *testing.T) map[string]int {
	t.Helper()
	s := newSink(t, c.cfg)
	defer s.Close(context.Background())
	ctx := context.Background()
	ds := c.cfg.DataStream()
	if code, _, err := s.call(ctx, "POST", "/"+ds+"/_refresh", nil); err != nil || (code != 200 && code != 404) {
		t.Fatalf("refresh: %d %v", code, err)
	}
	got := map[string]int{}
	after := ""
	for page := 0; ; page++ {
		q := `{"size":5000,"_source":false,"sort":[{"event.id":"asc"}]`
		if page > 0 {
			q += `,"search_after":["` + after + `"]`
		}
		code, data, err := s.call(ctx, "POST", "/"+ds+"/_search", []byte(q+"}"))
		if err != nil {
			t.Fatal(err)
		}
		if code == 404 {
			return got
		}
		var ans struct {
			Hits struct {
				Hits []struct {
					ID string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if code != 200 || json.Unmarshal(data, &ans) != nil {
			t.Fatalf("search: %d %s", code, data)
		}
		if len(ans.Hits.Hits) == 0 {
			return got
		}
		for _, h := range ans.Hits.Hits {
			got[h.ID]++
		}
		after = ans.Hits.Hits[len(ans.Hits.Hits)-1].ID // _id is event.id
	}
}

func TestConformanceIntegration(t *testing.T) {
	c := newCluster(t)
	sinktest.Run(t, sinktest.Harness{
		New:    func(t *testing.T) sink.Sink { return newSink(t, c.cfg) },
		Read:   func(t *testing.T) map[string]int { return c.ids(t) },
		Poison: func(r *sink.Record) { r.Bytes = math.MaxUint64 }, // over a long: Elasticsearch refuses it
	})
}

// TestDocumentsIntegration delivers generated objects with every
// enrichment on and reads back every document: each _id once, holding the
// record's ECS document; the data stream made from flowlog's template;
// nothing mapped dynamically; request bodies compressed.
func TestDocumentsIntegration(t *testing.T) {
	c := newCluster(t)
	e := sinktest.FullEnrichment(t)
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 4, 2500
	objs := sinktest.Objects(t, e, gc, 1000)
	cfg := c.cfg
	cfg.FlushBytes = 1 << 20 // several requests, objects shared between them
	s := newSink(t, cfg)
	if err := s.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, r := range sinktest.DeliverAll(t, s, objs, time.Minute) {
		if r.Status() != sink.Delivered || r.Duplicates != 0 {
			t.Fatalf("object %d: %v (%v), %d duplicates", i, r.Status(), r.Err, r.Duplicates)
		}
	}
	s.Close(context.Background())
	want := map[string]bool{}
	for _, o := range objs {
		for _, id := range o.IDs {
			want[id] = true
		}
	}
	got := c.ids(t)
	if len(got) != len(want) {
		t.Fatalf("%d documents, want %d", len(got), len(want))
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Fatalf("_id %s held %d times (expected: %v)", id, n, want[id])
		}
	}
	if c.es == nil {
		return
	}
	docs := c.es.Docs(cfg.DataStream())
	for _, o := range objs {
		for _, b := range o.Batches {
			for i := range b.Records {
				if got := docs[string(b.Records[i].ID[:])]; !bytes.Equal(got, b.Doc(i)) {
					t.Fatalf("document %s:\n got %s\nwant %s", b.Records[i].ID, got, b.Doc(i))
				}
			}
		}
	}
	if !c.es.DataStream(cfg.DataStream()) {
		t.Error("no data stream was made")
	}
	if d := c.es.DynamicFields(); len(d) > 0 {
		t.Errorf("fields mapped dynamically: %v", d)
	}
	if st := c.es.Stats(); st.Gzip != st.BulkRequests || st.BulkRequests < 4 {
		t.Errorf("%d bulk requests, %d gzip", st.BulkRequests, st.Gzip)
	}
}

// TestMappingCoversEveryField encodes generated objects (every enrichment
// on) and the test objects of every layout flowlog reads, and checks that
// every field of every document has a mapping in the template, of a type
// that takes its value.
func TestMappingCoversEveryField(t *testing.T) {
	e := sinktest.FullEnrichment(t)
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 2, 3000
	var docs [][]byte
	for _, o := range sinktest.Objects(t, e, gc, 1000) {
		for _, b := range o.Batches {
			for i := range b.Records {
				docs = append(docs, b.Doc(i))
			}
		}
	}
	docs = append(docs, layoutDocs(t, e)...)
	types := map[string]string{}
	for _, f := range Fields() {
		types[f.Name] = f.Type
	}
	seen := map[string]bool{}
	for _, d := range docs {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		walkLeaves("", m, func(path string, v any) {
			seen[path] = true
			typ, ok := types[path]
			if path == "flowlog.my_tag" {
				return // a custom column flowlog does not know: kept in _source, unmapped (dynamic: false)
			}
			if !ok {
				t.Errorf("%s: no mapping (in %s)", path, d)
				return
			}
			if !takes(typ, v) {
				t.Errorf("%s: type %s does not take %v", path, typ, v)
			}
		})
	}
	for _, must := range []string{"source.geo.location", "source.as.number", "network.community_id", "related.ip", "flowlog.pkt_srcaddr", "flowlog.tcp_flags", "flowlog.ecs_task_id"} {
		if !seen[must] {
			t.Errorf("no document had %s: the test covers less than it should", must)
		}
	}
}

// walkLeaves calls fn with every leaf's dotted path; geo points and
// arrays of scalars are leaves.
func walkLeaves(prefix string, v any, fn func(string, any)) {
	switch x := v.(type) {
	case map[string]any:
		if _, lat := x["lat"]; lat && strings.HasSuffix(prefix, ".location") {
			fn(prefix, x)
			return
		}
		for k, c := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walkLeaves(p, c, fn)
		}
	case []any:
		for _, c := range x {
			fn(prefix, c)
		}
	default:
		fn(prefix, x)
	}
}

// takes says whether a field of type typ takes v, as Elasticsearch's field
// types do (a number for long, a parseable address for ip, …).
func takes(typ string, v any) bool {
	if v == nil {
		return true
	}
	switch typ {
	case "keyword", "constant_keyword":
		_, s := v.(string)
		_, n := v.(json.Number)
		return s || n
	case "long":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "ip":
		s, ok := v.(string)
		return ok && strings.ContainsAny(s, ".:")
	case "date":
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	case "geo_point":
		m, ok := v.(map[string]any)
		return ok && m["lat"] != nil && m["lon"] != nil
	}
	return false
}

// TestRequestShape sends one small object and looks at the bulk request
// as it goes: create actions with _id only, one document per line, the
// last line ended, gzip.
func TestRequestShape(t *testing.T) {
	var body []byte
	var header http.Header
	var query string
	es := testserver.StartElasticsearch(t, testserver.ESOptions{})
	srv := httpRecorder(t, es.Handler(), func(r *http.Request, b []byte) {
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			body, header, query = b, r.Header.Clone(), r.URL.RawQuery
		}
	})
	cfg := DefaultConfig()
	cfg.URLs = []string{srv}
	cfg.Flush = 50 * time.Millisecond
	s := newSink(t, cfg)
	objs := sinktest.Objects(t, sinktest.FullEnrichment(t), smallGen(1, 3), 10)
	if r := sinktest.DeliverAll(t, s, objs, 10*time.Second)[0]; r.Status() != sink.Delivered {
		t.Fatal(r.Err)
	}
	s.Close(context.Background())
	if header.Get("Content-Encoding") != "gzip" || !strings.Contains(header.Get("Content-Type"), "json") {
		t.Errorf("headers: %v", header)
	}
	if !strings.Contains(query, "filter_path=") {
		t.Errorf("query %q: no filter_path", query)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != 6 || !strings.HasSuffix(string(body), "\n") {
		t.Fatalf("body of %d lines:\n%s", len(lines), body)
	}
	for i := 0; i < len(lines); i += 2 {
		rec := &objs[0].Batches[0].Records[i/2]
		if want := `{"create":{"_id":"` + string(rec.ID[:]) + `"}}`; lines[i] != want {
			t.Errorf("action %q, want %q", lines[i], want)
		}
		if lines[i+1] != string(objs[0].Batches[0].Doc(i/2)) {
			t.Errorf("document %q", lines[i+1])
		}
	}
}

func smallGen(objects, records int) gen.Config {
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = objects, records
	return gc
}

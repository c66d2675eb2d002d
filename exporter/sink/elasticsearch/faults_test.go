package elasticsearch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/testserver"
)

func standIn(t *testing.T, opts testserver.ESOptions) (*testserver.Elasticsearch, Config) {
	t.Helper()
	es := testserver.StartElasticsearch(t, opts)
	cfg := DefaultConfig()
	cfg.URLs = []string{es.URL()}
	cfg.Flush = 50 * time.Millisecond
	cfg.RetryFor = 20 * time.Second
	return es, cfg
}

func objects(t *testing.T, n, records int) []*sinktest.Object {
	return sinktest.Objects(t, enrich.DefaultConfig(), smallGen(n, records), 500)
}

// TestItemRetries: items answered 429 and 503 the first times are sent
// again until created; items answered 400 are rejected with the reason;
// on a second delivery every item is a 409, counted as a duplicate.
func TestItemRetries(t *testing.T) {
	es, cfg := standIn(t, testserver.ESOptions{})
	var mu sync.Mutex
	tries := map[string]int{}
	es.ItemFault = func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		tries[id]++
		switch {
		case id[0] == 'A': // refused for good
			return 400
		case id[1] < 'M' && tries[id] <= 2:
			return 429
		case id[1] >= 'M' && id[1] < 'a' && tries[id] == 1:
			return 503
		}
		return 0
	}
	objs := objects(t, 3, 2000)
	s := newSink(t, cfg)
	rejected := 0
	for i, r := range sinktest.DeliverAll(t, s, objs, time.Minute) {
		if r.Err != nil {
			t.Fatalf("object %d: %v", i, r.Err)
		}
		for _, rj := range r.Rejects {
			if !strings.Contains(rj.Reason, "document_parsing_exception") || rj.Line == 0 || len(rj.Doc) == 0 {
				t.Errorf("reject %+v", rj)
			}
		}
		rejected += len(r.Rejects)
	}
	want := 0
	for _, o := range objs {
		for _, id := range o.IDs {
			if id[0] != 'A' {
				want++
			}
		}
	}
	if got := len(es.Docs(cfg.DataStream())); got != want || rejected != 6000-want {
		t.Fatalf("%d documents (want %d), %d rejected", got, want, rejected)
	}
	if st := es.Stats(); st.Items[429] == 0 || st.Items[503] == 0 {
		t.Fatalf("no fault was injected: %v", st.Items)
	}
	// Again: everything is there already.
	es.ItemFault = nil
	dups := 0
	for _, r := range sinktest.DeliverAll(t, s, objs, time.Minute) {
		if r.Err != nil || len(r.Rejects) != 0 {
			t.Fatalf("%v, %d rejects", r.Err, len(r.Rejects))
		}
		dups += r.Duplicates
	}
	s.Close(context.Background())
	if dups != want {
		t.Fatalf("%d duplicates, want %d", dups, want)
	}
}

// TestStorm: a storm of whole-request 429s and item 429s, with objects
// pushed faster than they go: every document arrives once, and what the
// sink holds stays bounded (writers wait).
func TestStorm(t *testing.T) {
	es, cfg := standIn(t, testserver.ESOptions{})
	cfg.FlushBytes = 256 << 10
	cfg.RetryFor = time.Minute
	// The storm: half of the first 40 bulk requests answered 429 whole,
	// and a third of the items of the first 40 that get through.
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	requests, stormy := 0, 40
	es.RequestFault = func() int {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if requests <= stormy && rng.IntN(2) == 0 {
			return 429
		}
		return 0
	}
	es.ItemFault = func(string) int {
		mu.Lock()
		defer mu.Unlock()
		if requests <= stormy && rng.IntN(3) == 0 {
			return 429
		}
		return 0
	}
	objs := objects(t, 20, 2000)
	s := newSink(t, cfg)
	var peak uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
		}
	}()
	for i, r := range sinktest.DeliverAll(t, s, objs, 2*time.Minute) {
		if r.Status() != sink.Delivered {
			t.Fatalf("object %d: %v", i, r.Err)
		}
	}
	close(done)
	s.Close(context.Background())
	mu.Lock()
	peakHeap := peak
	mu.Unlock()
	if got := len(es.Docs(cfg.DataStream())); got != 40000 {
		t.Fatalf("%d documents, want 40000", got)
	}
	st := es.Stats()
	t.Logf("bulk requests %d, items %v, peak heap in use %d MiB", st.BulkRequests, st.Items, peakHeap>>20)
	if st.Items[429] == 0 {
		t.Fatal("no storm")
	}
	// The test objects themselves take about 60 MiB; the sink adds a few
	// requests of 256 KiB.
	if peakHeap > 400<<20 {
		t.Fatalf("peak heap %d MiB", peakHeap>>20)
	}
}

// TestDownThenUp: Elasticsearch down when objects come; they wait and go
// once it is back. Down past retry_for: the objects fail (to be delivered
// again), never marked delivered.
func TestDownThenUp(t *testing.T) {
	es, cfg := standIn(t, testserver.ESOptions{})
	es.Stop()
	s := newSink(t, cfg)
	go func() { time.Sleep(2 * time.Second); es.Start() }()
	objs := objects(t, 2, 1000)
	for _, r := range sinktest.DeliverAll(t, s, objs, time.Minute) {
		if r.Status() != sink.Delivered {
			t.Fatal(r.Err)
		}
	}
	if s.Ready() != nil {
		t.Fatalf("not ready after delivering: %v", s.Ready())
	}
	s.Close(context.Background())

	es.Stop()
	cfg.RetryFor = time.Second
	s = newSink(t, cfg)
	defer s.Close(context.Background())
	r := sinktest.DeliverAll(t, s, objects(t, 1, 10), time.Minute)[0]
	if r.Status() != sink.Failed || s.Ready() == nil {
		t.Fatalf("down: %v, ready %v", r.Status(), s.Ready())
	}
	t.Logf("down: %v", r.Err)
}

// TestHostileAnswers: answers that are not Elasticsearch's bulk answer
// (too few items, not JSON, a proxy's page) never mark an object
// delivered.
func TestHostileAnswers(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"too few items": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.Write([]byte(`{"errors":false,"items":[{"create":{"status":201}}]}`))
		},
		"not JSON": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.Write([]byte(`<html>hello</html>`))
		},
		"proxy 502": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			w.Write([]byte(`<html>Bad Gateway</html>`))
		},
		"not Elasticsearch": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"errors":false,"items":[]}`))
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			cfg := DefaultConfig()
			cfg.URLs, cfg.RetryFor, cfg.Setup = []string{srv.URL}, 500*time.Millisecond, false
			s := newSink(t, cfg)
			defer s.Close(context.Background())
			r := sinktest.DeliverAll(t, s, objects(t, 1, 5), 30*time.Second)[0]
			if r.Status() != sink.Failed {
				t.Fatalf("%v", r.Status())
			}
			t.Logf("%v", r.Err)
		})
	}
}

// TestAuthentication: basic, API key and bearer token reach a secured
// stand-in; wrong credentials fail at once, in words, without the secret.
func TestAuthentication(t *testing.T) {
	writer := testserver.ESUser{Name: "flowlog", Cluster: []string{"monitor", "manage_index_templates", "manage_ilm"},
		Indices: map[string][]string{"logs-flowlog.flows-*": {"create_doc", "auto_configure"}}}
	es, base := standIn(t, testserver.ESOptions{
		Users: map[string]testserver.ESUser{"flowlog:s3cret-pw": writer}, APIKeys: map[string]testserver.ESUser{"a2V5aWQ6a2V5": writer},
		Tokens: map[string]testserver.ESUser{"tok-123": writer}})
	for name, set := range map[string]func(*Config){
		"basic":   func(c *Config) { c.Username, c.Password = "flowlog", "s3cret-pw" },
		"api key": func(c *Config) { c.APIKey = "a2V5aWQ6a2V5" },
		"bearer":  func(c *Config) { c.BearerToken = "tok-123" },
	} {
		cfg := base
		cfg.Namespace = strings.ReplaceAll(name, " ", "_")
		set(&cfg)
		s := newSink(t, cfg)
		if err := s.Check(context.Background()); err != nil {
			t.Fatalf("%s: check: %v", name, err)
		}
		if err := s.Prepare(context.Background()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := sinktest.DeliverAll(t, s, objects(t, 1, 20), 30*time.Second)[0]; r.Status() != sink.Delivered {
			t.Fatalf("%s: %v", name, r.Err)
		}
		s.Close(context.Background())
		if n := len(es.Docs(cfg.DataStream())); n != 20 {
			t.Fatalf("%s: %d documents", name, n)
		}
	}
	cfg := base
	cfg.Username, cfg.Password = "flowlog", "wrong-pw"
	s := newSink(t, cfg)
	defer s.Close(context.Background())
	err := s.Prepare(context.Background())
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("wrong password: %v", err)
	}
	start := time.Now()
	cfg.Setup = false
	s2 := newSink(t, cfg)
	defer s2.Close(context.Background())
	if r := sinktest.DeliverAll(t, s2, objects(t, 1, 5), 30*time.Second)[0]; r.Status() != sink.Failed || time.Since(start) > 5*time.Second {
		t.Fatalf("wrong password: %v after %s", r.Status(), time.Since(start))
	}
}

// TestCheckPrivileges: --check names each privilege the user lacks.
func TestCheckPrivileges(t *testing.T) {
	weak := testserver.ESUser{Name: "reader", Cluster: []string{"monitor"},
		Indices: map[string][]string{"logs-flowlog.flows-*": {"create_doc"}}}
	_, cfg := standIn(t, testserver.ESOptions{APIKeys: map[string]testserver.ESUser{"k": weak}})
	cfg.APIKey = "k"
	s := newSink(t, cfg)
	defer s.Close(context.Background())
	err := s.Check(context.Background())
	for _, want := range []string{"manage_index_templates", "manage_ilm", "auto_configure on logs-flowlog.flows-default", `"reader"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("check: %v, want it to name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "create_doc") {
		t.Fatalf("check names a privilege the user has: %v", err)
	}
	// Elasticsearch 7: refused, by version.
	_, old := standIn(t, testserver.ESOptions{Version: "7.17.18"})
	s7 := newSink(t, old)
	defer s7.Close(context.Background())
	if err := s7.Check(context.Background()); err == nil || !strings.Contains(err.Error(), `"7.17.18": flowlog needs Elasticsearch 8.0 or newer`) {
		t.Fatalf("version 7: %v", err)
	}
	// Security off: nothing to check, and no failure.
	_, open := standIn(t, testserver.ESOptions{})
	s2 := newSink(t, open)
	defer s2.Close(context.Background())
	if err := s2.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestFingerprint: a server whose certificate no root signs is reached
// with its CA's SHA-256 fingerprint, and refused with another.
func TestFingerprint(t *testing.T) {
	es := testserver.StartElasticsearch(t, testserver.ESOptions{})
	srv := httptest.NewUnstartedServer(es.Handler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the test
	srv.StartTLS()
	defer srv.Close()
	sum := sha256.Sum256(srv.Certificate().Raw)
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL}
	cfg.RetryFor = 0
	check := func(fp string) error {
		c := cfg
		c.TLS.CAFingerprint = fp
		s := newSink(t, c)
		defer s.Close(context.Background())
		return s.Check(context.Background())
	}
	if err := check(""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("no fingerprint: %v", err)
	}
	hexed := strings.ToUpper(hex.EncodeToString(sum[:]))
	var colons []string
	for i := 0; i < len(hexed); i += 2 {
		colons = append(colons, hexed[i:i+2])
	}
	if err := check(strings.Join(colons, ":")); err != nil {
		t.Fatalf("right fingerprint: %v", err)
	}
	other := sha256.Sum256([]byte("another CA"))
	if err := check(hex.EncodeToString(other[:])); err == nil {
		t.Fatal("wrong fingerprint accepted")
	}
}

// TestSetup: a fresh cluster gets the four resources; again, nothing; an
// older version is upgraded; a change of retention updates the policy;
// the user's @custom is never touched; a template flowlog did not make is
// refused.
func TestSetup(t *testing.T) {
	es, cfg := standIn(t, testserver.ESOptions{})
	s := newSink(t, cfg)
	defer s.Close(context.Background())
	ctx := context.Background()
	steps, err := s.Migrate(ctx)
	if err != nil || len(steps) != 4 {
		t.Fatalf("%d steps, %v", len(steps), err)
	}
	if steps, err = s.Migrate(ctx); err != nil || len(steps) != 0 {
		t.Fatalf("again: %v, %v", steps, err)
	}
	tpl := es.Template(indexTemplate)
	if tpl["priority"].(float64) <= 200 || tpl["data_stream"] == nil {
		t.Fatalf("template %v", tpl)
	}
	// The user's @custom, and an older @package.
	es.PutComponent(customTemplate, map[string]any{"template": map[string]any{"settings": map[string]any{"number_of_replicas": 2}}})
	old := es.Component(packageTemplate)
	old["_meta"].(map[string]any)["version"] = 0.0
	es.PutComponent(packageTemplate, old)
	steps, err = s.Migrate(ctx)
	if err != nil || len(steps) != 1 || !strings.Contains(steps[0].Why, "upgrade the component template "+packageTemplate+" from version 0") {
		t.Fatalf("upgrade: %v, %v", steps, err)
	}
	if c := es.Component(customTemplate); c["template"].(map[string]any)["settings"] == nil {
		t.Fatal("@custom was changed")
	}
	// A newer flowlog's template: left as it is.
	newer := es.Component(packageTemplate)
	newer["_meta"].(map[string]any)["version"] = 99.0
	newer["_meta"].(map[string]any)["hash"] = "other"
	es.PutComponent(packageTemplate, newer)
	if steps, err = s.Migrate(ctx); err != nil || len(steps) != 0 {
		t.Fatalf("newer version: %v, %v", steps, err)
	}
	// Retention.
	c2 := cfg
	c2.RetentionDays = 30
	s2 := newSink(t, c2)
	defer s2.Close(ctx)
	if steps, err = s2.Migrate(ctx); err != nil || len(steps) != 1 || !strings.Contains(steps[0].Why, "ILM policy") {
		t.Fatalf("retention: %v, %v", steps, err)
	}
	// Not ours.
	es2, cfg3 := standIn(t, testserver.ESOptions{})
	es2.PutComponent(packageTemplate, map[string]any{"template": map[string]any{}})
	s3 := newSink(t, cfg3)
	defer s3.Close(ctx)
	if err := s3.Prepare(ctx); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("foreign template: %v", err)
	}
}

// TestElasticAWS: target elastic-aws writes into logs-aws.vpcflow-<ns>
// with the integration's pipeline skipped, and refuses to start when the
// integration is not installed.
func TestElasticAWS(t *testing.T) {
	es, cfg := standIn(t, testserver.ESOptions{})
	cfg.Target = TargetElasticAWS
	s := newSink(t, cfg)
	defer s.Close(context.Background())
	if err := s.Prepare(context.Background()); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "AWS integration") {
		t.Fatalf("no integration: %v", err)
	}
	// What the integration installs, in short.
	var body []byte
	srv := httpRecorder(t, es.Handler(), func(r *http.Request, b []byte) {
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			body = append([]byte(r.URL.RawQuery+"\n"), b...)
		}
	})
	es.PutComponent("logs-aws.vpcflow@package", map[string]any{"template": map[string]any{}})
	putTemplate(t, srv, "logs-aws.vpcflow", `{"index_patterns":["logs-aws.vpcflow-*"],"data_stream":{},"priority":200,"composed_of":["logs-aws.vpcflow@package"]}`)
	cfg.URLs = []string{srv}
	s2 := newSink(t, cfg)
	defer s2.Close(context.Background())
	if err := s2.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := sinktest.DeliverAll(t, s2, objects(t, 1, 10), 30*time.Second)[0]; r.Status() != sink.Delivered {
		t.Fatal(r.Err)
	}
	docs := es.Docs("logs-aws.vpcflow-default")
	if len(docs) != 10 || !es.DataStream("logs-aws.vpcflow-default") {
		t.Fatalf("%d documents", len(docs))
	}
	for _, d := range docs {
		if !strings.Contains(string(d), `"aws":{"vpcflow":{`) || !strings.Contains(string(d), `"dataset":"aws.vpcflow"`) {
			t.Fatalf("document %s", d)
		}
	}
	if !strings.Contains(string(body), "pipeline=_none") {
		t.Fatalf("request %.200s", body)
	}
}

func putTemplate(t *testing.T, base, name, body string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", base+"/_index_template/"+name, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("put template: %v %v", res, err)
	}
	res.Body.Close()
}

// TestLargeObjectLateFailure: an object spread over many requests (the
// sink's request memory reused from one to the next) whose last documents
// are never taken must fail, not be acknowledged with its first ones.
func TestLargeObjectLateFailure(t *testing.T) {
	es, cfg := standIn(t, testserver.ESOptions{})
	cfg.FlushBytes, cfg.Requests, cfg.RetryFor = 4<<10, 1, 500*time.Millisecond
	objs := sinktest.Objects(t, enrich.DefaultConfig(), smallGen(1, 400), 10)
	o := objs[0]
	last := refuseBatch(es, o.Batches[len(o.Batches)-1])
	s := newSink(t, cfg)
	defer s.Close(context.Background())
	r := sinktest.DeliverAll(t, s, objs, 30*time.Second)[0]
	if r.Status() != sink.Failed {
		t.Fatalf("an object whose last %d documents were refused: %v (%d of 400 documents held)", len(last), r.Status(), len(es.Docs(cfg.DataStream())))
	}
	if st := es.Stats(); st.BulkRequests < 10 {
		t.Fatalf("only %d requests: the object did not spread", st.BulkRequests)
	}
}

// TestSlowObjectLateFailure: an object whose batches come slowly, each
// sent on its own in a request that reuses the last one's memory, fails
// when its last batch is never taken.
func TestSlowObjectLateFailure(t *testing.T) {
	es, cfg := standIn(t, testserver.ESOptions{})
	cfg.Requests, cfg.RetryFor = 1, 500*time.Millisecond
	o := sinktest.Objects(t, enrich.DefaultConfig(), smallGen(1, 30), 10)[0]
	refuseBatch(es, o.Batches[2])
	s := newSink(t, cfg)
	defer s.Close(context.Background())
	ctx := context.Background()
	w, err := s.Open(ctx, o.Obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range o.Batches {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(600 * time.Millisecond) // sent alone (idle flush), acknowledged, its request freed
	}
	acked := make(chan sink.Result, 1)
	w.End(func(r sink.Result) { acked <- r })
	select {
	case r := <-acked:
		if r.Status() != sink.Failed {
			t.Fatalf("an object whose last batch was refused: %v", r.Status())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no acknowledgement")
	}
}

// refuseBatch makes the stand-in answer 503 for every document of b, for
// ever, and returns their ids.
func refuseBatch(es *testserver.Elasticsearch, b *sink.Batch) map[string]bool {
	ids := map[string]bool{}
	for i := range b.Records {
		ids[string(b.Records[i].ID[:])] = true
	}
	es.ItemFault = func(id string) int {
		if ids[id] {
			return 503
		}
		return 0
	}
	return ids
}

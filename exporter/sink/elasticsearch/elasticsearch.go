// Package elasticsearch is the Elasticsearch sink: ECS documents written
// with bulk create requests into a data stream (logs-flowlog.flows-<ns>,
// or Elastic's logs-aws.vpcflow-<ns> with target elastic-aws), whose index
// template, component templates and ILM policy it installs.
//
// Exactly once: every document's _id is its record's event.id, the same on
// every delivery, and it is written with create, so Elasticsearch refuses a
// second copy with 409 version_conflict_engine_exception; the sink counts
// those as delivered (duplicates skipped). An object is acknowledged only
// when every one of its documents was answered 201 or 409 item by item, or
// refused for good (400: a mapping conflict, a document too large) with
// Elasticsearch's reason into the dead letters. Items answered 429 or 5xx,
// and whole requests refused, are retried with jittered backoff for
// retry_for; then the object fails and is delivered again later.
package elasticsearch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/sink"
)

// Sink writes documents to Elasticsearch.
type Sink struct {
	cfg    Config
	client *es.Client
	enc    *ecs.Encoder // target elastic-aws only: the flowlog target takes the batch's shared documents
	ds     string
	name   string
	log    *slog.Logger
	m      metrics
	health *sink.Health

	mu       sync.Mutex
	cur      *request   // the request being filled
	curStart time.Time  // when its first document came
	lastAdd  time.Time  // when its last document came
	full     []*request // requests waiting for a sender
	room     chan struct{}
	work     chan struct{}
	free     []*request
	gen      uint64 // requests made so far
	closing  bool

	setupMu sync.Mutex
	setUp   bool

	ctx     context.Context
	cancel  context.CancelFunc
	senders sync.WaitGroup
	done    chan struct{}
}

// New returns the sink of cfg. It reaches Elasticsearch when it first
// sends (Prepare and Check reach it at once).
func New(cfg Config, deps sink.Deps) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	var enc *ecs.Encoder
	if cfg.Target == TargetElasticAWS {
		if enc, err = ecs.New(ecs.ElasticAWSConfig()); err != nil {
			return nil, err
		}
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{cfg: cfg, client: client, enc: enc, ds: cfg.DataStream(),
		room: make(chan struct{}), work: make(chan struct{}, 1), done: make(chan struct{})}
	s.name = "elasticsearch " + s.ds
	s.log = log.With("component", "sink", "sink", s.name)
	s.m = newMetrics(deps.Registerer, s.name)
	s.health = sink.NewHealth(s.m.up)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range cfg.Requests {
		s.senders.Add(1)
		go s.sender()
	}
	go s.flusher()
	return s, nil
}

// newClient returns go-elasticsearch's client for cfg: its own retries
// cover a node that cannot be reached (the next node is tried) and answers
// 429, 502, 503 and 504 a few times; the sink retries beyond that. The
// sink compresses bulk bodies itself (klauspost's gzip, twice as fast as
// the standard library's the client would use).
func newClient(cfg Config) (*es.Client, error) {
	t, err := cfg.TLS.build()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = t
	tr.MaxIdleConnsPerHost = cfg.Requests + 2
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = cfg.Timeout
	c := es.Config{
		Addresses: cfg.URLs, CloudID: cfg.CloudID,
		Username: cfg.Username, Password: string(cfg.Password),
		APIKey: string(cfg.APIKey), ServiceToken: string(cfg.BearerToken),
		Transport:     tr,
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    max(2, len(cfg.URLs)),
		RetryBackoff: func(attempt int) time.Duration {
			d := 100 * time.Millisecond << min(attempt, 5)
			return d/2 + rand.N(d/2)
		},
	}
	client, err := es.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return client, nil
}

// Name says where documents go, never a secret.
func (s *Sink) Name() string { return s.name }

// Open starts an object.
func (s *Sink) Open(context.Context, *sink.Object) (sink.Writer, error) {
	return &handle{s: s, obj: sink.NewParts()}, nil
}

// handle is what the exporter writes one object to. Its documents join
// the request being filled, with those of other objects; an object spread
// over several requests is acknowledged when all of them settled.
type handle struct {
	s    *Sink
	obj  *sink.Parts
	gen  uint64 // the generation of the last request this object joined (requests' memory is reused)
	part *part
}

// Write appends the batch's documents to the request being filled. While
// requests' worth of documents wait for a sender, it waits too: the sink's
// memory follows flush_bytes and requests, not how fast objects are read.
func (h *handle) Write(ctx context.Context, b *sink.Batch) error {
	s := h.s
	if err := s.waitRoom(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		s.cur = s.newRequest()
		s.curStart = time.Now()
	}
	r := s.cur
	if h.part == nil || h.gen != r.gen {
		h.obj.Add()
		h.gen, h.part = r.gen, &part{obj: h.obj}
		r.parts = append(r.parts, h.part)
	}
	r.body, r.items = appendBatch(r.body, r.items, s.enc, b, h.part)
	s.lastAdd = time.Now()
	if len(r.body) >= s.cfg.FlushBytes {
		s.queueLocked()
	}
	return nil
}

// appendBatch appends the create action and ECS document of every record
// of b to body, and their items. With enc nil the documents are the
// batch's own (encoded once for every JSON sink); else enc encodes them
// (target elastic-aws).
func appendBatch(body []byte, items []item, enc *ecs.Encoder, b *sink.Batch, p *part) ([]byte, []item) {
	for i := range b.Records {
		rec := &b.Records[i]
		start := len(body)
		body = appendCreate(body, rec.ID[:])
		doc := len(body)
		if enc != nil {
			body = enc.AppendECS(body, &rec.Record, rec.ID[:], &rec.Enrich)
		} else {
			body = append(body, b.Doc(i)...)
		}
		body = append(body, '\n')
		items = append(items, item{part: p, line: rec.Line, start: start, end: len(body), doc: doc})
	}
	return body, items
}

// End settles the object's own share: it is acknowledged once every
// request it joined settled.
func (h *handle) End(ack func(sink.Result)) {
	h.obj.End(ack)
	h.obj.Settle(sink.Result{})
}

// Abort: documents already queued are still sent (a redelivery finds them
// there as duplicates); no acknowledgement follows.
func (h *handle) Abort() { h.obj.Abort() }

func (s *Sink) newRequest() *request {
	s.gen++
	if n := len(s.free); n > 0 {
		r := s.free[n-1]
		s.free = s.free[:n-1]
		r.gen = s.gen
		return r
	}
	// Sized once for a full request (and the batch that fills it): a
	// request's memory is reused, never grown by doubling.
	return &request{body: make([]byte, 0, s.cfg.FlushBytes+s.cfg.FlushBytes/4), gen: s.gen}
}

// queueLocked hands the request being filled to the senders.
func (s *Sink) queueLocked() {
	if s.cur == nil {
		return
	}
	s.full = append(s.full, s.cur)
	s.cur = nil
	s.m.pendingBytes.Set(float64(s.pendingLocked()))
	select {
	case s.work <- struct{}{}:
	default:
	}
}

func (s *Sink) pendingLocked() int {
	n := 0
	for _, r := range s.full {
		n += len(r.body)
	}
	return n
}

// waitRoom waits while as many full requests wait as there are senders.
func (s *Sink) waitRoom(ctx context.Context) error {
	for {
		s.mu.Lock()
		if len(s.full) < s.cfg.Requests || s.closing {
			s.mu.Unlock()
			return nil
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// idle is how long a request waits for more documents once none come.
const idle = 200 * time.Millisecond

// flusher sends the request being filled when it is flush_interval old or
// no document came for a moment.
func (s *Sink) flusher() {
	tick := time.NewTicker(min(s.cfg.Flush, idle) / 2)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.done:
			return
		}
		s.mu.Lock()
		if s.cur != nil && (time.Since(s.curStart) >= s.cfg.Flush || time.Since(s.lastAdd) >= idle) {
			s.queueLocked()
		}
		s.mu.Unlock()
	}
}

// sender delivers full requests, one at a time, until the sink closes and
// none is left.
func (s *Sink) sender() {
	defer s.senders.Done()
	var z compressor
	for {
		s.mu.Lock()
		var r *request
		if len(s.full) > 0 {
			r = s.full[0]
			s.full = s.full[1:]
			s.m.pendingBytes.Set(float64(s.pendingLocked()))
			close(s.room)
			s.room = make(chan struct{})
			if len(s.full) > 0 { // wake another sender for the rest
				select {
				case s.work <- struct{}{}:
				default:
				}
			}
		}
		closing := s.closing
		s.mu.Unlock()
		if r == nil {
			if closing {
				return
			}
			select {
			case <-s.work:
			case <-s.done:
			}
			continue
		}
		s.deliver(r, &z)
		for _, p := range r.parts {
			p.obj.Settle(p.res)
		}
		r.reset()
		s.mu.Lock()
		if len(s.free) <= 2*s.cfg.Requests { // as many as can be alive at once: filling, waiting, in flight

			s.free = append(s.free, r)
		}
		s.mu.Unlock()
		select { // another sender may be waiting for work that came meanwhile
		case s.work <- struct{}{}:
		default:
		}
	}
}

// Close sends what the sink holds; when ctx ends first, what is not
// delivered fails (and is delivered again later).
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.queueLocked()
	s.closing = true
	close(s.room)
	s.room = make(chan struct{})
	s.mu.Unlock()
	close(s.done)
	finished := make(chan struct{})
	go func() { s.senders.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		s.cancel()
		<-finished
	}
	s.cancel()
	return nil
}

// deliver sends r until every item is settled: created or already there
// (delivered), refused for good (rejected), or still failing after
// retry_for (the object fails).
func (s *Sink) deliver(r *request, z *compressor) {
	deadline := time.Now().Add(s.cfg.RetryFor)
	pending := make([]int, len(r.items))
	for i := range pending {
		pending[i] = i
	}
	var scratch []byte
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		body := r.body
		if len(pending) < len(r.items) {
			scratch = scratch[:0]
			for _, i := range pending {
				scratch = append(scratch, r.body[r.items[i].start:r.items[i].end]...)
			}
			body = scratch
		}
		resp, err := s.bulk(body, z)
		var again []int
		if err == nil {
			again, err = s.settle(r, pending, resp)
		}
		s.health.Set(err)
		if err == nil && len(again) == 0 {
			return
		}
		if isPermanent(err) || s.ctx.Err() != nil || !time.Now().Before(deadline) {
			if err == nil {
				err = fmt.Errorf("%d documents still refused after %s", len(again), s.cfg.RetryFor)
				pending = again
			}
			s.fail(r, pending, err)
			return
		}
		if err != nil {
			s.m.requests.WithLabelValues("retried").Inc()
			if attempt == 1 || attempt%10 == 0 {
				s.log.Warn("bulk request failed; retrying", "attempt", attempt, "documents", len(pending), "err", err)
			}
		} else {
			s.m.docs.WithLabelValues("retried").Add(float64(len(again)))
			pending = again
			if attempt == 1 || attempt%10 == 0 {
				s.log.Warn("documents not taken now; retrying", "attempt", attempt, "documents", len(again))
			}
		}
		select {
		case <-time.After(backoff/2 + rand.N(backoff/2)):
		case <-s.ctx.Done():
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// fail fails the objects of the pending items.
func (s *Sink) fail(r *request, pending []int, err error) {
	s.m.requests.WithLabelValues("failed").Inc()
	s.log.Error("documents not delivered; their objects will be delivered again", "documents", len(pending), "err", err)
	for _, i := range pending {
		if p := r.items[i].part; p.res.Err == nil {
			p.res.Err = fmt.Errorf("elasticsearch %s: %w", s.ds, err)
		}
	}
}

// permanentError is an answer retrying cannot change (credentials,
// privileges): the objects fail at once.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// compressor gzips request bodies, its memory reused by one sender.
type compressor struct {
	w     *gzip.Writer
	level int
	buf   bytes.Buffer
}

// compress returns body gzipped; the result is valid until the next call.
func (z *compressor) compress(body []byte, level int) ([]byte, error) {
	z.buf.Reset()
	if z.w == nil || z.level != level {
		w, err := gzip.NewWriterLevel(&z.buf, level)
		if err != nil {
			return nil, err
		}
		z.w, z.level = w, level
	} else {
		z.w.Reset(&z.buf)
	}
	if _, err := z.w.Write(body); err != nil {
		return nil, err
	}
	if err := z.w.Close(); err != nil {
		return nil, err
	}
	return z.buf.Bytes(), nil
}

// maxAnswer bounds what the sink reads of an answer.
const maxAnswer = 64 << 20

// bulk sends one bulk request and returns its answer.
func (s *Sink) bulk(body []byte, z *compressor) (*bulkResponse, error) {
	if err := s.ensureSetup(s.ctx); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req := esapi.BulkRequest{Index: s.ds, Body: bytes.NewReader(body), FilterPath: []string{filterPath}}
	if s.cfg.Compression > 0 {
		gz, err := z.compress(body, s.cfg.Compression)
		if err != nil {
			return nil, err
		}
		req.Body = bytes.NewReader(gz)
		req.Header = http.Header{"Content-Encoding": {"gzip"}}
	}
	if s.cfg.Target == TargetElasticAWS {
		req.Pipeline = "_none" // the integration's pipeline parses raw lines; ours are documents already
	}
	start := time.Now()
	res, err := req.Do(ctx, s.client)
	if err != nil {
		return nil, fmt.Errorf("bulk: %w", err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer+1))
	s.m.seconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, fmt.Errorf("bulk: reading the answer: %w", err)
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("bulk: answer over %d MiB", maxAnswer>>20)
	}
	switch code := res.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return nil, &permanentError{"bulk into " + s.ds + ": " + describe(code, data) + " (check the credentials and the role: see flowlog export --check)"}
	case code != http.StatusOK:
		return nil, fmt.Errorf("bulk: %s", describe(code, data))
	}
	return parseBulk(data)
}

// settle reads a bulk answer for the pending items: it records delivered,
// duplicate and rejected documents on their parts and returns the items
// to send again.
func (s *Sink) settle(r *request, pending []int, resp *bulkResponse) ([]int, error) {
	if len(resp.Items) != len(pending) {
		return nil, fmt.Errorf("bulk: %d items answered for %d documents", len(resp.Items), len(pending))
	}
	// The answer is hostile input: it marks documents delivered only item by
	// item, in order, with a status it knows.
	var again []int
	created, dups, rejected := 0, 0, 0
	for k, i := range pending {
		it := &r.items[i]
		a := resp.Items[k].Create
		switch {
		case a.Status == http.StatusOK || a.Status == http.StatusCreated:
			created++
		case a.Status == http.StatusConflict:
			dups++
			it.part.res.Duplicates++
		case a.Status == http.StatusBadRequest || a.Status == http.StatusRequestEntityTooLarge:
			rejected++
			doc := r.body[it.doc : it.end-1]
			it.part.res.Rejects = append(it.part.res.Rejects, sink.Reject{Line: it.line, Reason: a.Error.String(), Doc: bytes.Clone(doc)})
		default:
			again = append(again, i)
		}
	}
	s.m.docs.WithLabelValues("created").Add(float64(created))
	s.m.docs.WithLabelValues("duplicate").Add(float64(dups))
	s.m.docs.WithLabelValues("rejected").Add(float64(rejected))
	if len(again) == 0 {
		s.m.requests.WithLabelValues("ok").Inc()
	}
	return again, nil
}

// Ready says whether the last request reached Elasticsearch.
func (s *Sink) Ready() error { return s.health.Err() }

var (
	_ sink.Readier  = (*Sink)(nil)
	_ sink.Checker  = (*Sink)(nil)
	_ sink.Preparer = (*Sink)(nil)
)

type metrics struct {
	requests     *prometheus.CounterVec
	docs         *prometheus.CounterVec
	seconds      prometheus.Histogram
	pendingBytes prometheus.Gauge
	up           prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, name string) metrics {
	l := prometheus.Labels{"sink": name}
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlog_elasticsearch_requests_total",
			Help: "Bulk requests, by result (ok, retried, failed).", ConstLabels: l}, []string{"result"}),
		docs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlog_elasticsearch_documents_total",
			Help: "Documents answered, by result (created, duplicate: already there, rejected: refused for good, retried).", ConstLabels: l}, []string{"result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowlog_elasticsearch_request_seconds",
			Help: "Time a bulk request took.", ConstLabels: l, Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		pendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlog_elasticsearch_pending_bytes",
			Help: "Bytes of bulk requests waiting for a sender.", ConstLabels: l}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlog_elasticsearch_up",
			Help: "1 when the last request reached Elasticsearch.", ConstLabels: l}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.docs, m.seconds, m.pendingBytes, m.up} {
			reg.MustRegister(c)
		}
	}
	return m
}

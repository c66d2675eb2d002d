// Package loki is the Loki sink: records become log entries of a few
// streams (labels job, account_id, interface_id, action, log_status and
// static ones), with a logfmt line of the flow and the rest as structured
// metadata, pushed with the push API (protobuf and snappy).
//
// Exactly once: an entry's timestamp is the record's end time plus a
// sub-second offset taken from the record's id, and its stream, line and
// metadata depend on the record alone. A record delivered again (after a
// crash, a failed push, an abort) is the identical entry, and Loki drops an
// entry whose stream, timestamp and line it already holds. Each push is
// acknowledged by Loki before the objects in it are: pushes are made here,
// synchronously, with the push types and loki-client-go's backoff, because
// loki-client-go's client returns before delivery and drops what it could
// not deliver, so it cannot say when an object is durable.
package loki

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/flowlog/flowlog/exporter/sink"
)

// Sink pushes records to Loki.
type Sink struct {
	cfg     Config
	push    string // the push URL
	client  *http.Client
	streams *streams
	log     *slog.Logger
	m       metrics
	name    string

	mu      sync.Mutex
	pending []*writer
	bytes   int // of pending
	oldest  time.Time
	latest  time.Time
	closing bool
	kick    chan struct{}
	room    chan struct{} // closed when pending was taken
	free    []*writer

	slots  chan struct{} // pushes in flight
	jobs   sync.WaitGroup
	health *sink.Health

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns the sink of cfg; it reaches Loki only when it pushes (Check
// reaches it at once).
func New(cfg Config, deps sink.Deps) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.MaxInFlight
	t, err := cfg.TLS.Build()
	if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = t
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{cfg: cfg, push: cfg.URL + "/loki/api/v1/push", client: &http.Client{Transport: tr, Timeout: cfg.Timeout},
		streams: newStreams(cfg), name: "loki " + cfg.URL, kick: make(chan struct{}, 1), room: make(chan struct{}),
		slots: make(chan struct{}, cfg.MaxInFlight), done: make(chan struct{})}
	s.log = log.With("component", "sink", "sink", s.name)
	s.m = newMetrics(deps.Registerer, s.name)
	s.health = sink.NewHealth(s.m.up)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.flusher()
	return s, nil
}

// Name says where the sink pushes.
func (s *Sink) Name() string { return s.name }

// Open starts an object.
func (s *Sink) Open(_ context.Context, o *sink.Object) (sink.Writer, error) {
	return &handle{s: s, obj: sink.NewParts(), cur: s.newWriter(o)}, nil
}

// handle is what the exporter writes one object to. Its entries gather in
// a writer; an object larger than batch_bytes is cut into parts pushed as
// they fill, so no object is held whole.
type handle struct {
	s   *Sink
	obj *sink.Parts
	cur *writer
}

// Write turns the batch's records into entries. While the pushes in
// flight and two batches' worth of entries wait, it waits too.
func (h *handle) Write(ctx context.Context, b *sink.Batch) error {
	if err := h.s.waitRoom(ctx); err != nil {
		return err
	}
	for i := range b.Records {
		h.cur.appendEntry(&b.Records[i])
	}
	if h.cur.bytes >= int(h.s.cfg.BatchBytes) {
		h.obj.Add()
		full, o := h.cur, h.cur.o
		full.ack = h.obj.Settle
		h.cur = h.s.newWriter(o) // before the full part is handed over: once it is, it is not ours
		h.s.enqueue(full)
	}
	return nil
}

// End queues the object's last part.
func (h *handle) End(ack func(sink.Result)) {
	h.obj.End(ack)
	h.cur.ack = h.obj.Settle
	h.s.enqueue(h.cur)
	h.cur = nil
}

// Abort drops what was not pushed; parts already full are still pushed
// (identical entries again on redelivery, dropped by Loki).
func (h *handle) Abort() {
	h.obj.Abort()
	if h.cur != nil {
		h.s.release(h.cur)
		h.cur = nil
	}
}

// writer holds the entries of one part of an object.
type writer struct {
	s         *Sink
	o         *sink.Object
	entries   []entry
	meta      []metaPair
	text      []byte
	key       []byte
	bytes     int
	objectKey string // the object's key as valid UTF-8
	ack       func(sink.Result)
}

func (s *Sink) newWriter(o *sink.Object) *writer {
	s.mu.Lock()
	var w *writer
	if n := len(s.free); n > 0 {
		w, s.free = s.free[n-1], s.free[:n-1]
	}
	s.mu.Unlock()
	if w == nil {
		w = &writer{s: s}
	}
	w.o = o
	if o != nil {
		w.objectKey = validUTF8(o.Key)
	}
	return w
}

func (s *Sink) release(w *writer) {
	w.o, w.ack, w.bytes, w.objectKey = nil, nil, 0, ""
	clear(w.entries)
	clear(w.meta)
	w.entries, w.meta, w.text = w.entries[:0], w.meta[:0], w.text[:0]
	s.mu.Lock()
	if len(s.free) < 8 {
		s.free = append(s.free, w)
	}
	s.mu.Unlock()
}

func (s *Sink) waitRoom(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		full, room := s.bytes >= 2*int(s.cfg.BatchBytes) && !s.closing, s.room
		s.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-room:
		case <-ctx.Done():
		}
	}
}

func (s *Sink) enqueue(w *writer) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.finish(w, sink.Result{Err: errors.New("loki sink closed")})
		return
	}
	s.latest = time.Now()
	if len(s.pending) == 0 {
		s.oldest = s.latest
	}
	s.pending = append(s.pending, w)
	s.bytes += w.bytes
	s.mu.Unlock()
	s.wake()
}

func (s *Sink) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Sink) finish(w *writer, r sink.Result) {
	ack := w.ack
	s.release(w)
	ack(r)
}

// idle is how long the flusher waits for more objects once they stop coming.
const idle = 250 * time.Millisecond

// flusher hands groups of parts to pushes when they fill batch_bytes, when
// the oldest waited batch_wait, when objects stop coming, and at Close.
func (s *Sink) flusher() {
	defer close(s.done)
	t := time.NewTimer(s.cfg.BatchWait)
	defer t.Stop()
	for {
		s.mu.Lock()
		closing := s.closing
		var group []*writer
		if s.bytes >= int(s.cfg.BatchBytes) || (len(s.pending) > 0 && (closing || time.Since(s.oldest) >= s.cfg.BatchWait || time.Since(s.latest) >= idle)) {
			n, size := 0, 0
			for n < len(s.pending) && (n == 0 || size+s.pending[n].bytes <= int(s.cfg.BatchBytes)) {
				size += s.pending[n].bytes
				n++
			}
			group = slices.Clone(s.pending[:n])
			s.pending = slices.Delete(s.pending, 0, n)
			s.bytes -= size
			s.oldest = time.Now()
			close(s.room)
			s.room = make(chan struct{})
		}
		wait := s.cfg.BatchWait
		if len(s.pending) > 0 {
			wait = max(0, min(s.cfg.BatchWait-time.Since(s.oldest), idle-time.Since(s.latest)))
		}
		s.mu.Unlock()
		if group != nil {
			select {
			case s.slots <- struct{}{}:
			case <-s.ctx.Done():
				for _, w := range group {
					s.finish(w, sink.Result{Err: s.ctx.Err()})
				}
				continue
			}
			s.jobs.Add(1)
			go func() {
				defer s.jobs.Done()
				defer func() { <-s.slots }()
				s.deliver(group)
			}()
			continue
		}
		if closing {
			s.jobs.Wait()
			return
		}
		t.Reset(wait)
		select {
		case <-s.kick:
		case <-t.C:
		case <-s.ctx.Done():
		}
		if s.ctx.Err() != nil {
			s.mu.Lock()
			rest := s.pending
			s.pending, s.bytes = nil, 0
			s.mu.Unlock()
			for _, w := range rest {
				s.finish(w, sink.Result{Err: s.ctx.Err()})
			}
			s.jobs.Wait()
			return
		}
	}
}

// Close pushes what is pending and stops; objects still pending when ctx
// ends are acknowledged as failed.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	close(s.room)
	s.room = make(chan struct{})
	s.mu.Unlock()
	s.wake()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	s.client.CloseIdleConnections()
	return nil
}

// Ready reports whether the last push reached Loki.
func (s *Sink) Ready() error { return s.health.Err() }

var _ sink.Readier = (*Sink)(nil)

type metrics struct {
	pushes  *prometheus.CounterVec
	entries prometheus.Counter
	bytes   prometheus.Counter
	seconds prometheus.Histogram
	up      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, name string) metrics {
	l := prometheus.Labels{"sink": name}
	m := metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlog_loki_pushes_total",
			Help: "Pushes to Loki, by result (ok, retried, rejected, failed).", ConstLabels: l}, []string{"result"}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlog_loki_entries_total",
			Help: "Entries Loki acknowledged.", ConstLabels: l}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlog_loki_sent_bytes_total",
			Help: "Bytes of push requests sent (compressed).", ConstLabels: l}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowlog_loki_push_seconds",
			Help: "Time a push took.", ConstLabels: l, Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlog_loki_up",
			Help: "1 when the last push reached Loki.", ConstLabels: l}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.pushes, m.entries, m.bytes, m.seconds, m.up} {
			reg.MustRegister(c)
		}
	}
	return m
}

// Check pushes an empty request: it reaches Loki with the sink's address,
// tenant and credentials, and stores nothing.
func (s *Sink) Check(ctx context.Context) error {
	b := builders.Get().(*builder)
	defer builders.Put(b)
	body, err := b.build(nil)
	if err != nil {
		return err
	}
	if _, err := s.pushOnce(body); err != nil {
		var refused *errRefused
		if errors.As(err, &refused) {
			// An empty push has nothing to refuse.
			return fmt.Errorf("%s does not take Loki pushes (is url the base of the push API, with the receiver's path prefix?): %s", s.push, refused.msg)
		}
		return err
	}
	if v := s.version(ctx); v != "" {
		s.log.Info("loki reached", "version", v)
	}
	if oldest, ok := s.AcceptsSince(ctx); ok {
		s.log.Info("loki refuses older entries", "oldest_accepted", oldest.UTC().Format(time.RFC3339))
	}
	return nil
}

// version asks /loki/api/v1/status/buildinfo; "" when Loki does not say.
func (s *Sink) version(ctx context.Context) string {
	body := s.get(ctx, "/loki/api/v1/status/buildinfo")
	if m := versionRe.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

var versionRe = regexp.MustCompile(`"version"\s*:\s*"([^"]{1,64})"`)

// get returns the body of a GET below the sink's url, nil on any failure.
func (s *Sink) get(ctx context.Context, path string) []byte {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL+path, nil)
	if err != nil {
		return nil
	}
	s.authorize(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return body
}

var (
	rejectOldRe = regexp.MustCompile(`(?m)^\s*reject_old_samples:\s*(true|false)\s*$`)
	maxAgeRe    = regexp.MustCompile(`(?m)^\s*reject_old_samples_max_age:\s*(\S+)\s*$`)
)

// AcceptsSince asks Loki's /config how old an entry may be: ok is false
// when Loki does not say (the endpoint is not exposed, or old entries are
// taken).
func (s *Sink) AcceptsSince(ctx context.Context) (oldest time.Time, ok bool) {
	body := s.get(ctx, "/config")
	if m := rejectOldRe.FindSubmatch(body); m == nil || string(m[1]) != "true" {
		return time.Time{}, false
	}
	m := maxAgeRe.FindSubmatch(body)
	if m == nil {
		return time.Time{}, false
	}
	age, err := model.ParseDuration(string(m[1]))
	if err != nil {
		return time.Time{}, false
	}
	return time.Now().Add(-time.Duration(age)), true
}

var _ sink.Checker = (*Sink)(nil)

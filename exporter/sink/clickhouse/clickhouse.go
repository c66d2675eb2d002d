// Package clickhouse is the ClickHouse sink: records go into a flows table
// as columns, rollups per minute and per hour follow through materialized
// views, and the schema is created and migrated from the configuration.
//
// Records of many objects are gathered into one insert (ClickHouse wants
// few large inserts), so an object's rows may share an insert with others
// and a redelivered object comes back in other company. Exactly once rests
// on two things:
//
//   - Before each insert the sink asks the flows table which of the
//     insert's record ids it already holds (the rows of the same objects,
//     found through the object_key index) and leaves those out. A record a
//     crashed exporter inserted is therefore not inserted again, and the
//     rollups, fed only by what is inserted, do not count it twice.
//   - Each insert carries an insert_deduplication_token computed from the
//     object versions, lines and row counts it holds, and the tables keep the last 1000
//     tokens (non_replicated_deduplication_window; replicated tables have
//     their own window), with deduplicate_blocks_in_dependent_materialized_views
//     so the rollups drop a repeated block too. An insert retried after a
//     timeout whose first try did land (or is still landing) is dropped by
//     the server.
//
// An object of more than batch_rows records is inserted in parts as it is
// read; an object is acknowledged once every insert holding its rows
// succeeded.
package clickhouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
)

// Sink inserts records into ClickHouse.
type Sink struct {
	cfg    Config
	schema *Schema
	conn   driver.Conn
	log    *slog.Logger
	name   string
	m      metrics

	types []clickhouse.ColumnNameAndType // of each column, as sent

	mu      sync.Mutex
	pending []*writer // ended objects waiting for their insert
	rows    int       // rows in pending
	oldest  time.Time // when the oldest pending object ended
	latest  time.Time // when the last object ended
	closing bool
	kick    chan struct{}
	room    chan struct{} // closed when pending rows were taken for an insert
	free    []*writer     // emptied writers, kept for their buffers

	setupMu       sync.Mutex // guards ready: Prepare and the flusher
	ready         bool       // the schema is in place
	lastErr       error
	warnedExpired time.Time

	health *sink.Health

	ctx    context.Context // the flusher's; ended by Close
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns the sink of cfg. It does not reach the server: the schema is
// checked and migrated before the first insert, and a server that is down
// only delays the inserts (Check reaches it at once).
func New(cfg Config, deps sink.Deps) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	en := deps.Enrich
	if en == nil {
		d := enrich.DefaultConfig()
		en = &d
	}
	opts, err := options(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{cfg: cfg, schema: NewSchema(cfg, en), conn: conn, kick: make(chan struct{}, 1), room: make(chan struct{}), done: make(chan struct{}),
		name: "clickhouse " + cfg.addresses()[0] + "/" + cfg.Database}
	s.log = log.With("component", "sink", "sink", s.name)
	s.m = newMetrics(deps.Registerer, s.name)
	s.health = sink.NewHealth(s.m.up)
	for _, c := range s.schema.cols {
		s.types = append(s.types, clickhouse.ColumnNameAndType{Name: c.name, Type: c.wire()})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.flusher()
	return s, nil
}

func options(cfg Config) (*clickhouse.Options, error) {
	o := &clickhouse.Options{Addr: cfg.addresses(), Protocol: clickhouse.Native,
		Auth:        clickhouse.Auth{Database: cfg.Database, Username: cfg.User, Password: string(cfg.Password)},
		DialTimeout: 10 * time.Second, ReadTimeout: cfg.Timeout, MaxOpenConns: 4, MaxIdleConns: 2,
		ConnMaxLifetime: 10 * time.Minute}
	if cfg.Protocol == "http" {
		o.Protocol = clickhouse.HTTP
	}
	switch cfg.Compression {
	case "", "lz4":
		if cfg.Protocol == "native" {
			o.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
		}
	case "zstd":
		o.Compression = &clickhouse.Compression{Method: clickhouse.CompressionZSTD}
	case "gzip":
		o.Compression = &clickhouse.Compression{Method: clickhouse.CompressionGZIP}
	}
	if cfg.TLS.Enabled {
		t, err := cfg.TLS.Build()
		if err != nil {
			return nil, err
		}
		o.TLS = t
	}
	return o, nil
}

// Name says where the sink inserts, never with a password.
func (s *Sink) Name() string { return s.name }

// Schema returns the schema the sink keeps.
func (s *Sink) Schema() *Schema { return s.schema }

func (s *Sink) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// idle is how long the flusher waits for more objects once they stop coming.
const idle = 250 * time.Millisecond

// flusher inserts the pending objects when they fill an insert, when the
// oldest has waited flush_interval, when no object has ended for a quarter
// of a second (the exporter has nothing more at the moment: waiting would
// only delay the acknowledgements), and at Close.
func (s *Sink) flusher() {
	defer close(s.done)
	t := time.NewTimer(s.cfg.Flush)
	defer t.Stop()
	for {
		s.mu.Lock()
		closing := s.closing
		var group []*writer
		rows := 0
		if s.rows >= s.cfg.BatchRows || (len(s.pending) > 0 && (closing || time.Since(s.oldest) >= s.cfg.Flush || time.Since(s.latest) >= idle)) {
			// Whole parts, up to batch_rows (at least one).
			n := 0
			for n < len(s.pending) && (n == 0 || rows+s.pending[n].rows <= s.cfg.BatchRows) {
				rows += s.pending[n].rows
				n++
			}
			group = slices.Clone(s.pending[:n])
			s.pending = slices.Delete(s.pending, 0, n)
			s.rows -= rows
			s.oldest = time.Now()
			close(s.room)
			s.room = make(chan struct{})
		}
		wait := s.cfg.Flush
		if len(s.pending) > 0 {
			wait = max(0, min(s.cfg.Flush-time.Since(s.oldest), idle-time.Since(s.latest)))
		}
		s.m.pending.Set(float64(s.rows))
		s.mu.Unlock()
		if group != nil {
			s.deliver(group)
			continue
		}
		if closing {
			return
		}
		t.Reset(wait)
		select {
		case <-s.kick:
		case <-t.C:
		case <-s.ctx.Done():
		}
		if s.ctx.Err() != nil {
			s.failPending(s.ctx.Err())
			return
		}
	}
}

// failPending acknowledges every pending object as failed.
func (s *Sink) failPending(err error) {
	s.mu.Lock()
	group := s.pending
	s.pending, s.rows = nil, 0
	close(s.room)
	s.room = make(chan struct{})
	s.mu.Unlock()
	for _, w := range group {
		s.finish(w, sink.Result{Err: err})
	}
}

func (s *Sink) finish(w *writer, r sink.Result) {
	ack := w.ack
	s.release(w)
	ack(r)
}

// Close inserts what is pending and stops; objects still pending when ctx
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
	return s.conn.Close()
}

// Ready reports whether the last insert or schema check reached the server.
func (s *Sink) Ready() error { return s.health.Err() }

// token is the insert's deduplication token: the same objects with the
// same rows kept give the same token on every try.
//
// A part names its object version and its lines: the parts of a large
// object differ, and so do the objects.
func token(group []*writer) string {
	h := sha256.New()
	for _, w := range group {
		first, last := 0, 0
		if lines := w.bufs[w.line].(*numBuf[uint32]).vals; len(lines) > 0 {
			first, last = int(lines[0]), int(lines[len(lines)-1])
		}
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d-%d\x00%d\x00%d\x00", w.o.Bucket, w.o.Key, w.o.ETag, first, last, w.rows, w.kept)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// quote makes s a ClickHouse string literal.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

var (
	_ sink.Checker  = (*Sink)(nil)
	_ sink.Readier  = (*Sink)(nil)
	_ sink.Preparer = (*Sink)(nil)
)

// Check reaches the server and reports what a migration would change, or
// why it cannot be made.
func (s *Sink) Check(ctx context.Context) error {
	steps, err := s.PlanMigration(ctx)
	if err != nil {
		return err
	}
	if len(steps) == 0 {
		s.log.Info("schema up to date", "database", s.cfg.Database)
		return nil
	}
	for _, st := range steps {
		if st.Why != "" {
			s.log.Info("migration would change", "what", st.Why)
		}
	}
	if !s.cfg.Setup {
		return fmt.Errorf("the schema needs %d changes and setup is off: run 'flowlog setup clickhouse'", len(steps))
	}
	return nil
}

// PlanMigration reads the server's state and returns the statements that
// would bring it to the schema.
func (s *Sink) PlanMigration(ctx context.Context) ([]Step, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	st, err := ReadState(ctx, s.conn, s.cfg.Database)
	if err != nil {
		return nil, describe(err)
	}
	return s.schema.Plan(st)
}

// Migrate applies the plan. Statements are idempotent: two exporters
// migrating at once end in the same schema. A table caught half-made by
// another exporter (seen without any comment yet) is looked at again for a
// few seconds before the schema is refused.
func (s *Sink) Migrate(ctx context.Context) ([]Step, error) {
	steps, err := s.PlanMigration(ctx)
	for try := 0; errors.Is(err, errUnnamed) && try < 5; try++ {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return steps, err
		}
		steps, err = s.PlanMigration(ctx)
	}
	if err != nil {
		return steps, err
	}
	for _, st := range steps {
		qctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err := s.conn.Exec(qctx, st.SQL)
		cancel()
		if err != nil {
			return steps, fmt.Errorf("migrate (%s): %w", firstLine(st.SQL), describe(err))
		}
		if st.Why != "" {
			s.log.Info("schema migrated", "what", st.Why)
		}
	}
	return steps, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Sentinel classes of errors.
var (
	// ErrPermanent is an error retrying does not cure: wrong credentials,
	// a schema that does not fit.
	ErrPermanent = errors.New("not retried")
	// errData is the server refusing rows.
	errData = errors.New("rows refused")
)

// classify says what an insert error means.
func classify(err error) error {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return err // transport: retried
	}
	switch ex.Code {
	case 516, 192, 193, 194, 497, 291: // authentication, access
		return fmt.Errorf("%w: %w", ErrPermanent, describe(err))
	case 16, 47, 53, 44, 10: // the table's columns do not fit
		return fmt.Errorf("%w: %w", ErrPermanent, describe(err))
	case 469, 6, 27, 70, 69, 131, 72: // the server refuses rows
		return fmt.Errorf("%w: %w", errData, describe(err))
	}
	return describe(err)
}

// describe makes a server error say what to do about the common ones.
func describe(err error) error {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		var he *clickhouse.HTTPError
		if errors.As(err, &he) {
			// Not ClickHouse's words: a proxy, a web server, the wrong port.
			// Its body (a whole HTML page, say) is cut short.
			body := he.Err.Error()
			if len(body) > 200 {
				body = body[:200] + "…"
			}
			return fmt.Errorf("the server answered HTTP %d, not as ClickHouse does (is it ClickHouse's HTTP port?): %s", he.StatusCode, body)
		}
		return err
	}
	switch ex.Code {
	case 516, 192, 193, 194:
		return fmt.Errorf("authentication failed (check user and password): %w", err)
	case 497:
		return fmt.Errorf("access denied (the user needs CREATE, ALTER, INSERT and SELECT on the database): %w", err)
	case 252:
		return fmt.Errorf("too many parts: the server cannot merge as fast as it gets inserts (raise batch_rows or flush_interval): %w", err)
	}
	return err
}

type metrics struct {
	inserts    *prometheus.CounterVec
	rows       prometheus.Counter
	duplicates prometheus.Counter
	seconds    prometheus.Histogram
	pending    prometheus.Gauge
	up         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, name string) metrics {
	l := prometheus.Labels{"sink": name}
	m := metrics{
		inserts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlog_clickhouse_inserts_total",
			Help: "Inserts into the flows table, by result (ok, retried, failed).", ConstLabels: l}, []string{"result"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlog_clickhouse_rows_inserted_total",
			Help: "Rows inserted into the flows table.", ConstLabels: l}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlog_clickhouse_rows_duplicate_total",
			Help: "Rows left out because the flows table already held them (redelivered objects).", ConstLabels: l}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowlog_clickhouse_insert_seconds",
			Help: "Time an insert took, its duplicate check included.", ConstLabels: l, Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlog_clickhouse_pending_rows",
			Help: "Rows of ended objects waiting for their insert.", ConstLabels: l}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlog_clickhouse_up",
			Help: "1 when the last insert or schema check reached the server.", ConstLabels: l}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.inserts, m.rows, m.duplicates, m.seconds, m.pending, m.up} {
			reg.MustRegister(c)
		}
	}
	return m
}

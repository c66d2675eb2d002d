// Package pipeline moves flow-log objects from a source to sinks: list,
// download, gunzip, parse, enrich, hand typed records to every sink, and
// mark an object done in the checkpoint once every sink has acknowledged
// every record of it (delivered, or rejected for good into the dead letters).
//
// Sinks acknowledge late: a worker hands an object's batches to the sinks,
// ends it and goes on to the next object while the sinks deliver. What is in
// flight (records handed to sinks and not acknowledged) is capped; at the
// cap, workers wait before they start another object, and the source waits
// for them: memory stays bounded, whatever the sinks hold.
package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/exporter/checkpoint"
	"github.com/flowlog/flowlog/exporter/deadletter"
	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/format"
	"github.com/flowlog/flowlog/exporter/recordid"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/parser"
)

// Config tunes the pipeline.
type Config struct {
	Workers      int            // objects read at once
	BatchRecords int            // records handed to the sinks at a time
	Parser       parser.Options // line and object limits
	ECS          ecs.Config
	Enrich       enrich.Config
	PollInterval time.Duration // export: time between listings
	LookBack     time.Duration // export: how far back listings reach, for late and rewritten objects
	Retries      int           // backfill: attempts per object before giving up on it
	SaveEvery    time.Duration // checkpoint writes at most this often; a crash redoes at most this much
	// In flight: records (and their bytes) handed to sinks and not yet
	// acknowledged. At either cap, workers wait before the next object.
	MaxRecordsInFlight int64
	MaxBytesInFlight   int64
	// Grace is how long, when stopping, acknowledgements of objects already
	// handed to the sinks are awaited.
	Grace time.Duration
}

// DefaultConfig returns the defaults: 2 workers, batches of 1,000 records,
// a listing every 30 s reaching back 24 h, at most 500,000 records or
// 256 MiB in flight.
func DefaultConfig() Config {
	return Config{Workers: 2, BatchRecords: 1000, Parser: parser.DefaultOptions(), ECS: ecs.DefaultConfig(), Enrich: enrich.DefaultConfig(),
		PollInterval: 30 * time.Second, LookBack: 24 * time.Hour, Retries: 5, SaveEvery: time.Second,
		MaxRecordsInFlight: 500_000, MaxBytesInFlight: 256 << 20, Grace: time.Second}
}

// Deps are the parts the pipeline joins.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not exported
	Source     source.Source
	Sinks      []sink.Sink
	Checkpoint *checkpoint.Store
	DeadLetter *deadletter.Dir // nil: rejected lines are only logged and counted
}

// Pipeline delivers the objects of one source to its sinks.
type Pipeline struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	m      *metrics
	enrich *enrich.Enricher
	enc    *ecs.Encoder
	flight limiter // objects, records and bytes handed to sinks and not yet acknowledged by all

	running  atomic.Bool
	listedOK atomic.Int64 // unix nanoseconds of the last successful listing
}

// New checks the configuration; it starts nothing.
func New(cfg Config, deps Deps) (*Pipeline, error) {
	if cfg.Workers < 1 || cfg.BatchRecords < 1 {
		return nil, fmt.Errorf("pipeline: workers (%d) and batch size (%d) must be at least 1", cfg.Workers, cfg.BatchRecords)
	}
	if cfg.MaxRecordsInFlight < 1 || cfg.MaxBytesInFlight < 1 {
		return nil, fmt.Errorf("pipeline: the in-flight caps (%d records, %d bytes) must be at least 1", cfg.MaxRecordsInFlight, cfg.MaxBytesInFlight)
	}
	if deps.Source == nil || len(deps.Sinks) == 0 || deps.Checkpoint == nil {
		return nil, errors.New("pipeline: a source, a sink and a checkpoint are required")
	}
	enc, err := ecs.New(cfg.ECS)
	if err != nil {
		return nil, err
	}
	if err := cfg.Parser.Validate(); err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	// Several pipelines (one per source) share a registry.
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"source": deps.Source.Name()}, reg)
	p := &Pipeline{cfg: cfg, deps: deps, log: log.With("component", "exporter", "source", deps.Source.Name()), enc: enc}
	p.flight.init(cfg.MaxRecordsInFlight, cfg.MaxBytesInFlight)
	if p.m, err = newMetrics(reg, deps.Sinks, &p.flight); err != nil {
		return nil, err
	}
	if p.enrich, err = enrich.New(cfg.Enrich); err != nil {
		return nil, err
	}
	return p, nil
}

// Close releases the enrichment databases.
func (p *Pipeline) Close() error { return p.enrich.Close() }

// Healthy reports whether Run is running.
func (p *Pipeline) Healthy() error {
	if !p.running.Load() {
		return errors.New("exporter not running")
	}
	return nil
}

// Ready reports whether the source could be listed lately (within three
// poll intervals).
func (p *Pipeline) Ready() error {
	if err := p.Healthy(); err != nil {
		return err
	}
	last := p.listedOK.Load()
	if last == 0 {
		return errors.New("source not listed yet")
	}
	if age := time.Since(time.Unix(0, last)); age > 3*p.cfg.PollInterval {
		return fmt.Errorf("last successful listing of %s was %s ago", p.deps.Source.Name(), age.Round(time.Second))
	}
	return nil
}

// Outcome is how an object ended.
type Outcome uint8

// Outcomes.
const (
	Delivered Outcome = iota // every record delivered (or rejected for good into the dead letters); done
	Damaged                  // the object's own bytes are bad (truncated, corrupt, too large): the records before the damage were delivered; done
	Failed                   // not delivered: to do again
)

func (o Outcome) String() string {
	return [...]string{"delivered", "damaged", "failed"}[o]
}

// Result is what became of one object.
type Result struct {
	Object        source.Object
	Outcome       Outcome
	Err           error // why it failed, or the damage
	Records       int64 // records read
	RejectedLines int64 // lines that did not parse
	SinkRejected  int64 // records a sink refused for good (all sinks)
	Took          time.Duration
}

// task is one attempt at one object, from the worker that reads it to the
// last sink's acknowledgement.
type task struct {
	obj     source.Object
	so      sink.Object
	attempt int
	start   time.Time
	final   func(Result) // called once, by whoever finishes the task

	mu          sync.Mutex
	pending     int
	sinkErr     error // the first failure: any failure fails the object (the worst status wins)
	results     []sink.Result
	records     int64
	rejected    int64
	damage      error
	letters     *deadletter.Letters
	flightRecs  int64
	flightBytes int64
}

// run starts delivering t: workers call it.
func (w *worker) run(ctx context.Context, t *task) {
	p := w.p
	p.flight.add(1, 0, 0)
	t.start = time.Now()
	t.so = sink.Object{Source: p.deps.Source.Name(), Bucket: t.obj.Bucket, Key: t.obj.Key, ETag: t.obj.ETag, Time: t.obj.Time(), Size: t.obj.Size}
	t.letters = p.deps.DeadLetter.Open(&t.so)
	t.results = make([]sink.Result, len(p.deps.Sinks))
	if err := w.read(ctx, t); err != nil {
		for _, sw := range w.ws {
			sw.Abort()
		}
		w.ws = w.ws[:0]
		p.finish(t, err)
		return
	}
	t.mu.Lock()
	t.pending = len(w.ws)
	t.mu.Unlock()
	for i, sw := range w.ws {
		sw.End(func(r sink.Result) { p.ack(t, i, r) })
	}
	w.ws = w.ws[:0]
}

// ack records one sink's acknowledgement; the last one finishes the task.
func (p *Pipeline) ack(t *task, i int, r sink.Result) {
	t.mu.Lock()
	t.results[i] = r
	if r.Err != nil && t.sinkErr == nil {
		t.sinkErr = fmt.Errorf("sink %s: %w", p.deps.Sinks[i].Name(), r.Err)
	}
	t.pending--
	last := t.pending == 0
	t.mu.Unlock()
	if last {
		p.finish(t, t.sinkErr)
	}
}

// finish settles a task: commits its dead letters (done) or drops them
// (failed), releases what it held in flight, and tells its driver, whose
// final callback records the object as done: a checkpoint entry for a
// listed source (Run, Deliver); a queue source's driver would delete the
// queue message there instead.
func (p *Pipeline) finish(t *task, err error) {
	p.flight.release(1, t.flightRecs, t.flightBytes)
	res := Result{Object: t.obj, Records: t.records, RejectedLines: t.rejected, Took: time.Since(t.start)}
	if err == nil {
		for i, r := range t.results {
			for _, rej := range r.Rejects {
				t.letters.AddRejected(rej, p.deps.Sinks[i].Name())
			}
			res.SinkRejected += int64(len(r.Rejects))
		}
		err = t.letters.Commit()
	}
	if err != nil {
		t.letters.Abort()
		res.Outcome, res.Err = Failed, err
		p.m.failed.Inc()
		t.final(res)
		return
	}
	res.Outcome = Delivered
	if t.damage != nil {
		res.Outcome, res.Err = Damaged, t.damage
		p.m.damaged.Inc()
	}
	p.m.done.Inc()
	p.m.bytes.Add(float64(t.obj.Size))
	p.m.recordsIn.Add(float64(t.records))
	p.m.rejected.Add(float64(t.rejected))
	for i, r := range t.results {
		p.m.recordsOut[i].Add(float64(t.records - int64(len(r.Rejects))))
		p.m.sinkRejected[i].Add(float64(len(r.Rejects)))
		p.m.duplicates[i].Add(float64(r.Duplicates))
	}
	t.final(res)
}

// worker holds what reading one object at a time needs.
type worker struct {
	p      *Pipeline
	raw    *bufio.Reader
	detect *format.Detector
	fill   *enrich.Filler
	batch  *sink.Batch
	ws     []sink.Writer
}

func (p *Pipeline) newWorker() *worker {
	return &worker{p: p, raw: bufio.NewReaderSize(nil, 64<<10), detect: format.NewDetector(nil, p.cfg.Parser),
		fill: p.enrich.NewFiller(), batch: sink.NewBatch(p.enc)}
}

// read reads the object and hands its records to every sink. An error
// means the object failed: the caller aborts the writers.
func (w *worker) read(ctx context.Context, t *task) error {
	p := w.p
	body, err := p.deps.Source.Open(ctx, t.obj)
	if err != nil {
		return err
	}
	defer body.Close()
	w.raw.Reset(body)
	head, _ := w.raw.Peek(4 << 10) // a short or failing object shows its error on the reads below
	rd := w.detect.Reader(head)
	name := t.so.String()
	rd.Reset(w.raw, name)
	for _, s := range p.deps.Sinks {
		sw, err := s.Open(ctx, &t.so)
		if err != nil {
			return fmt.Errorf("sink %s: %w", s.Name(), err)
		}
		w.ws = append(w.ws, sw)
	}
	ids := recordid.ForObject(t.obj.Bucket, t.obj.Key, t.obj.ETag)
	seq := 0
	w.batch.Reset(&t.so, seq)
	var lineErrs int
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var le *parser.LineError
			if errors.As(err, &le) {
				t.rejected++
				t.letters.Add(le.Line, le.Detail())
				if lineErrs++; lineErrs <= 5 {
					p.log.Warn("line rejected", "object", name, "line", le.Line, "err", le.Detail())
				}
				continue
			}
			if source.IsTransport(err) || ctx.Err() != nil {
				return err
			}
			// The object's own bytes are bad. A transfer that broke can
			// look the same: only when the rest of the object arrives is
			// it the object's fault.
			if rerr := source.Remaining(body); rerr != nil {
				return rerr
			}
			t.damage = err
			t.letters.Add(0, err.Error()) // line 0: the object as a whole
			p.log.Error("object damaged; the records before the damage are delivered", "object", name, "err", err)
			break
		}
		r := w.batch.Add(rec)
		r.Line = rd.Line()
		ids.Append(r.ID[:0], r.Line)
		w.fill.Fill(&r.Enrich, &r.Record)
		t.records++
		if w.batch.Len() >= p.cfg.BatchRecords {
			if err := w.write(ctx, t); err != nil {
				return err
			}
			seq++
			w.batch.Reset(&t.so, seq)
		}
	}
	if w.batch.Len() > 0 {
		return w.write(ctx, t)
	}
	return nil
}

// write hands the batch to every sink and counts it in flight.
func (w *worker) write(ctx context.Context, t *task) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, sw := range w.ws {
		if err := sw.Write(ctx, w.batch); err != nil {
			return fmt.Errorf("sink %s: %w", w.p.deps.Sinks[i].Name(), err)
		}
	}
	n, b := int64(w.batch.Len()), int64(w.batch.Bytes())
	t.flightRecs += n
	t.flightBytes += b
	w.p.flight.add(0, n, b)
	return nil
}

// limiter counts what is in flight and makes workers wait at the caps.
type limiter struct {
	mu                      sync.Mutex
	objects, records, bytes int64
	maxRecs, maxBytes       int64
	changed                 chan struct{} // closed and replaced at every release
}

func (l *limiter) init(maxRecs, maxBytes int64) {
	l.maxRecs, l.maxBytes, l.changed = maxRecs, maxBytes, make(chan struct{})
}

func (l *limiter) add(objects, recs, bytes int64) {
	l.mu.Lock()
	l.objects += objects
	l.records += recs
	l.bytes += bytes
	l.mu.Unlock()
}

func (l *limiter) release(objects, recs, bytes int64) {
	l.mu.Lock()
	l.objects -= objects
	l.records -= recs
	l.bytes -= bytes
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *limiter) load() (objects, records, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.objects, l.records, l.bytes
}

// waitFor returns true when ok holds for what is in flight, false when ctx
// ends first.
func (l *limiter) waitFor(ctx context.Context, ok func(objects, records, bytes int64) bool) bool {
	for {
		l.mu.Lock()
		if ok(l.objects, l.records, l.bytes) {
			l.mu.Unlock()
			return true
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// room returns when there is room for another object, false when ctx ends.
func (l *limiter) room(ctx context.Context) bool {
	return l.waitFor(ctx, func(_, records, bytes int64) bool { return records < l.maxRecs && bytes < l.maxBytes })
}

// awaitAcks waits, at most Grace, for the acknowledgements of the objects
// already handed to the sinks; false when some are still missing.
func (p *Pipeline) awaitAcks() bool {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Grace)
	defer cancel()
	return p.flight.waitFor(ctx, func(objects, _, _ int64) bool { return objects == 0 })
}

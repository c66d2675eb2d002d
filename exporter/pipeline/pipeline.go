// Package pipeline moves flow-log objects from a source to sinks: list,
// download, gunzip, parse, encode as ECS, deliver, and mark done in the
// checkpoint once every sink has committed every record of the object.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/flowlog/flowlog/exporter/checkpoint"
	"github.com/flowlog/flowlog/exporter/deadletter"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/enrich/ecs"
	"github.com/flowlog/flowlog/exporter/ibm"
	"github.com/flowlog/flowlog/exporter/recordid"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/internal/objkey"
	"github.com/flowlog/flowlog/parser"
)

// Config tunes the pipeline.
type Config struct {
	Workers      int            // objects processed at once
	BatchDocs    int            // documents handed to the sinks at a time
	Parser       parser.Options // line and object limits
	ECS          ecs.Config
	Enrich       enrich.Config
	PollInterval time.Duration // export: time between listings
	LookBack     time.Duration // export: how far back listings reach, for late and rewritten objects
	Retries      int           // backfill: attempts per object before giving up on it
	SaveEvery    time.Duration // checkpoint writes at most this often; a crash redoes at most this much
}

// DefaultConfig returns the defaults: 2 workers, batches of 1000, a listing
// every 30 s reaching back 24 h.
func DefaultConfig() Config {
	return Config{Workers: 2, BatchDocs: 1000, Parser: parser.DefaultOptions(), ECS: ecs.DefaultConfig(), Enrich: enrich.DefaultConfig(),
		PollInterval: 30 * time.Second, LookBack: 24 * time.Hour, Retries: 5, SaveEvery: time.Second}
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

	running  atomic.Bool
	listedOK atomic.Int64 // unix nanoseconds of the last successful listing
}

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

// New checks the configuration; it starts nothing.
func New(cfg Config, deps Deps) (*Pipeline, error) {
	if cfg.Workers < 1 || cfg.BatchDocs < 1 {
		return nil, fmt.Errorf("pipeline: workers (%d) and batch size (%d) must be at least 1", cfg.Workers, cfg.BatchDocs)
	}
	if deps.Source == nil || len(deps.Sinks) == 0 || deps.Checkpoint == nil {
		return nil, errors.New("pipeline: a source, a sink and a checkpoint are required")
	}
	if _, err := ecs.New(cfg.ECS); err != nil {
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
	m, err := newMetrics(reg, deps.Sinks)
	if err != nil {
		return nil, err
	}
	en, err := enrich.New(cfg.Enrich)
	if err != nil {
		return nil, err
	}
	return &Pipeline{cfg: cfg, deps: deps, log: log.With("component", "exporter", "source", deps.Source.Name()), m: m, enrich: en}, nil
}

// Close releases the enrichment databases.
func (p *Pipeline) Close() error { return p.enrich.Close() }

// Stats counts what a backfill did.
type Stats struct {
	Objects, Failed, Skipped int
	Bytes                    int64 // stored (compressed) bytes of the objects read
	Records, Rejected        int64
}

// Plan lists the objects of r not yet done: what a backfill would read.
func (p *Pipeline) Plan(ctx context.Context, r source.Range) (todo []source.Object, done int, err error) {
	objs, err := p.deps.Source.List(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	for _, o := range objs {
		if p.deps.Checkpoint.Done(p.deps.Source.Name(), o.Key, o.ETag) {
			done++
			continue
		}
		todo = append(todo, o)
	}
	return todo, done, nil
}

// Backfill delivers the objects of r that are not done yet, once, and
// returns. progress, if not nil, is called after each object, one call at a time.
func (p *Pipeline) Backfill(ctx context.Context, r source.Range, progress func(Stats)) (Stats, error) {
	todo, done, err := p.Plan(ctx, r)
	if err != nil {
		return Stats{Skipped: done}, err
	}
	return p.Deliver(ctx, todo, done, progress)
}

// Deliver delivers the objects Plan returned (done is its count of objects
// already delivered, for the stats), once, and returns.
func (p *Pipeline) Deliver(ctx context.Context, todo []source.Object, done int, progress func(Stats)) (Stats, error) {
	st := Stats{Skipped: done}
	var mu sync.Mutex
	queue := make(chan source.Object)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(queue)
		for _, o := range todo {
			select {
			case queue <- o:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	for range p.cfg.Workers {
		w := p.newWorker()
		g.Go(func() error {
			for o := range queue {
				res, err := w.processWithRetry(gctx, o, p.cfg.Retries)
				mu.Lock()
				st.Records += res.records
				st.Rejected += res.rejected
				st.Bytes += o.Size
				if err != nil {
					st.Failed++
				} else {
					st.Objects++
				}
				if progress != nil {
					progress(st) // one call at a time
				}
				mu.Unlock()
				if err != nil && gctx.Err() == nil {
					p.log.Error("object not delivered; it stays to do for the next run", "key", o.Key, "err", err)
				}
			}
			return nil
		})
	}
	g.Wait()
	if err := p.deps.Checkpoint.Flush(); err != nil {
		return st, err
	}
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	if st.Failed > 0 {
		return st, fmt.Errorf("%d of %d objects not delivered; run again to retry them", st.Failed, len(todo))
	}
	return st, nil
}

// Run delivers new objects as they appear until ctx ends: it lists the
// source every PollInterval, reaching LookBack into the past so that late
// and rewritten objects are found, and hands what is not done, in key order,
// to the workers. A listing waits while the workers are busy.
func (p *Pipeline) Run(ctx context.Context) error {
	p.running.Store(true)
	defer p.running.Store(false)
	queue := make(chan source.Object, p.cfg.Workers)
	var inflight sync.Map // key → struct{}: queued or being processed
	g, gctx := errgroup.WithContext(ctx)
	for range p.cfg.Workers {
		w := p.newWorker()
		g.Go(func() error {
			for o := range queue {
				if _, err := w.process(gctx, o); err != nil && gctx.Err() == nil {
					p.log.Warn("object not delivered; retried at the next listing", "key", o.Key, "err", err)
				}
				inflight.Delete(o.Key)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(queue)
		t := time.NewTicker(p.cfg.PollInterval)
		defer t.Stop()
		for {
			p.poll(gctx, queue, &inflight)
			if err := p.deps.Checkpoint.Flush(); err != nil {
				p.log.Error("checkpoint not written", "err", err)
			}
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	err := g.Wait()
	if ferr := p.deps.Checkpoint.Flush(); ferr != nil {
		return ferr
	}
	return err
}

func (p *Pipeline) poll(ctx context.Context, queue chan<- source.Object, inflight *sync.Map) {
	since := time.Now().Add(-p.cfg.LookBack)
	objs, err := p.deps.Source.List(ctx, source.Range{Since: since})
	if err != nil {
		if ctx.Err() == nil {
			p.m.listErrors.Inc()
			p.log.Warn("listing failed; trying again at the next poll", "err", err)
		}
		return
	}
	p.listedOK.Store(time.Now().UnixNano())
	p.deps.Checkpoint.Forget(p.deps.Source.Name(), since.Add(-time.Hour))
	name := p.deps.Source.Name()
	var todo []source.Object
	for _, o := range objs {
		if _, busy := inflight.Load(o.Key); busy || p.deps.Checkpoint.Done(name, o.Key, o.ETag) {
			continue
		}
		todo = append(todo, o)
	}
	p.m.listed.Add(float64(len(todo)))
	p.m.setLag(todo)
	for _, o := range todo {
		inflight.Store(o.Key, struct{}{})
		select {
		case queue <- o:
		case <-ctx.Done():
			return
		}
	}
}

// worker holds the buffers one object at a time needs.
type worker struct {
	p     *Pipeline
	v2    *parser.Reader
	ibm   *ibm.Reader
	enc   *ecs.Encoder
	fill  *enrich.Filler
	batch sink.Batch
	extra ecs.Extra
	ws    []sink.Writer
}

func (p *Pipeline) newWorker() *worker {
	enc, _ := ecs.New(p.cfg.ECS) // checked in New
	return &worker{p: p, v2: parser.NewReader(nil, "", p.cfg.Parser), ibm: ibm.NewReader(p.cfg.Parser), enc: enc, fill: p.enrich.NewFiller()}
}

type result struct {
	records, rejected int64
	sinkRejects       []int64 // by sink: documents refused for good
}

func (w *worker) processWithRetry(ctx context.Context, o source.Object, attempts int) (result, error) {
	wait := time.Second
	for i := 1; ; i++ {
		res, err := w.process(ctx, o)
		if err == nil || i >= attempts || ctx.Err() != nil {
			return res, err
		}
		w.p.log.Warn("object failed; retrying", "key", o.Key, "attempt", i, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// process delivers one object to every sink and marks it done.
func (w *worker) process(ctx context.Context, o source.Object) (res result, err error) {
	p := w.p
	start := time.Now()
	name := p.deps.Source.Name()
	so := sink.Object{Source: name, Bucket: o.Bucket, Key: o.Key, ETag: o.ETag, Time: o.Time()}
	w.ws = w.ws[:0]
	defer func() {
		if err != nil {
			for _, sw := range w.ws {
				sw.Abort()
			}
			p.m.failed.Inc()
		}
	}()
	rc, err := p.deps.Source.Open(ctx, o)
	if err != nil {
		return res, err
	}
	defer rc.Close()
	for _, s := range p.deps.Sinks {
		sw, err := s.Open(ctx, so)
		if err != nil {
			return res, fmt.Errorf("sink %s: %w", s.Name(), err)
		}
		w.ws = append(w.ws, sw)
	}
	res.sinkRejects = make([]int64, len(w.ws))
	ids := recordid.ForObject(o.Bucket, o.Key, o.ETag)
	objName := o.Key
	if o.Bucket != "" {
		objName = "s3://" + o.Bucket + "/" + o.Key
	}
	// IBM Cloud Flow Logs objects are JSON; everything else is v2 lines.
	var rd recordReader = w.v2
	isIBM := o.Info.Layout == objkey.IBM || strings.HasSuffix(o.Key, ".json") || strings.HasSuffix(o.Key, ".json.gz")
	if isIBM {
		rd = w.ibm
	}
	rd.Reset(rc, objName)
	w.batch.Reset()
	var lineErrs int
	letters := p.deps.DeadLetter.Open(o.Bucket, o.Key)
	for {
		rec, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if isLineError(err) {
				res.rejected++
				letters.Add(lineOf(err), err.Error())
				if lineErrs++; lineErrs <= 5 {
					p.log.Warn("line rejected", "err", err)
				}
				continue
			}
			if errors.Is(err, parser.ErrTruncated) || errors.Is(err, parser.ErrCorrupt) || errors.Is(err, parser.ErrTooLarge) {
				// The object itself is bad: deliver what came before the
				// damage, say so, and do not try it again.
				p.log.Error("object damaged; records before the damage delivered", "err", err)
				p.m.damaged.Inc()
				break
			}
			return res, err
		}
		w.extra.EventID = ids.Append(w.extra.EventID[:0], rd.Line())
		w.extra.Direction = ""
		if isIBM {
			w.extra.Direction = w.ibm.Direction()
		}
		w.fill.Fill(&w.extra, rec)
		w.batch.Docs = w.enc.AppendECS(w.batch.Docs, rec, &w.extra)
		w.batch.Docs = append(w.batch.Docs, '\n')
		w.batch.Ends = append(w.batch.Ends, len(w.batch.Docs))
		w.batch.Lines = append(w.batch.Lines, rd.Line())
		res.records++
		if w.batch.Len() >= p.cfg.BatchDocs {
			if err := w.flush(ctx, letters, &res); err != nil {
				return res, err
			}
		}
	}
	if err := w.flush(ctx, letters, &res); err != nil {
		return res, err
	}
	for i, sw := range w.ws {
		if err := sw.Commit(ctx); err != nil {
			return res, fmt.Errorf("sink %s: %w", p.deps.Sinks[i].Name(), err)
		}
	}
	w.ws = w.ws[:0]
	if err := letters.Commit(); err != nil {
		return res, err
	}
	p.deps.Checkpoint.MarkDone(name, o.Key, o.ETag, o.Time())
	if err := p.deps.Checkpoint.FlushEvery(p.cfg.SaveEvery); err != nil {
		p.log.Error("checkpoint not written; delivered objects may be delivered again after a crash", "err", err)
	}
	p.m.done.Inc()
	p.m.bytes.Add(float64(o.Size))
	p.m.recordsIn.Add(float64(res.records))
	p.m.rejected.Add(float64(res.rejected))
	for i := range p.deps.Sinks {
		p.m.recordsOut[i].Add(float64(res.records - res.sinkRejects[i]))
		p.m.sinkRejected[i].Add(float64(res.sinkRejects[i]))
	}
	p.log.Debug("object delivered", "key", o.Key, "records", res.records, "rejected", res.rejected, "took", time.Since(start))
	return res, nil
}

// recordReader is what the v2 and the IBM readers share.
type recordReader interface {
	Reset(src io.Reader, name string)
	Next() (*parser.Record, error)
	Line() int
}

// isLineError reports a rejected line: the lines after it are still read.
func isLineError(err error) bool {
	var le *parser.LineError
	return errors.As(err, &le)
}

func lineOf(err error) int {
	var le *parser.LineError
	if errors.As(err, &le) {
		return le.Line
	}
	return 0
}

// flush hands the batch to every sink. Documents a sink refuses for good
// go to the dead letters with the sink's reason.
func (w *worker) flush(ctx context.Context, letters *deadletter.Letters, res *result) error {
	if w.batch.Len() == 0 {
		return nil
	}
	for i, sw := range w.ws {
		err := sw.Write(ctx, &w.batch)
		var re *sink.RejectError
		if errors.As(err, &re) {
			name := w.p.deps.Sinks[i].Name()
			for _, r := range re.Rejects {
				if r.Doc >= 0 && r.Doc < len(w.batch.Lines) {
					letters.Add(w.batch.Lines[r.Doc], "sink "+name+": "+r.Reason)
				}
			}
			res.sinkRejects[i] += int64(len(re.Rejects))
			err = nil
		}
		if err != nil {
			return fmt.Errorf("sink %s: %w", w.p.deps.Sinks[i].Name(), err)
		}
	}
	w.batch.Reset()
	return nil
}

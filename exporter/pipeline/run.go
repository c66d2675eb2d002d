package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/flowlog/flowlog/exporter/source"
)

// Stats counts what a backfill did.
type Stats struct {
	Objects       int   // delivered and marked done
	Damaged       int   // marked done with the records before the damage (also counted in Objects)
	Failed        int   // not delivered: left to do for the next run
	Skipped       int   // already delivered before (in the checkpoint)
	Bytes         int64 // stored (compressed) bytes of the objects read
	Records       int64 // records read from the objects done
	RejectedLines int64 // lines that did not parse (in the dead letters)
	SinkRejected  int64 // records a sink refused for good (in the dead letters)
}

// Plan lists the objects of r not yet done: what a backfill would read.
func (p *Pipeline) Plan(ctx context.Context, r source.Range) (todo []source.Object, done int, err error) {
	l, err := p.deps.Source.List(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	name := p.deps.Source.Name()
	for _, o := range l.Objects {
		if p.deps.Checkpoint.Done(name, o.Key, o.ETag) {
			done++
			continue
		}
		todo = append(todo, o)
	}
	return todo, done, nil
}

// Deliver delivers the objects Plan returned (done is its count of objects
// already delivered, for the stats) and returns when each is done or given
// up: an object that fails is tried again with backoff, Retries times in
// all. progress, if not nil, is called after each object, one call at a time.
// When ctx ends, objects being read are abandoned (nothing of them is marked
// done) and acknowledgements already due are awaited for Grace.
func (p *Pipeline) Deliver(ctx context.Context, todo []source.Object, done int, progress func(Stats)) (Stats, error) {
	var (
		mu        sync.Mutex
		st        = Stats{Skipped: done}
		ready     []*task
		remaining = len(todo)
		stopped   bool
		timers    []*time.Timer
		notify    = make(chan struct{}, 1)
	)
	wake := func() {
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	var final func(t *task) func(Result)
	final = func(t *task) func(Result) {
		return func(res Result) {
			mu.Lock()
			defer mu.Unlock()
			if res.Outcome == Failed && t.attempt < p.cfg.Retries && ctx.Err() == nil && !stopped {
				wait := min(time.Second<<(t.attempt-1), time.Minute)
				p.log.Warn("object failed; trying again", "object", t.so.String(), "attempt", t.attempt, "retry_in", wait, "err", res.Err)
				next := &task{obj: t.obj, attempt: t.attempt + 1}
				next.final = final(next)
				timers = append(timers, time.AfterFunc(wait, func() {
					mu.Lock()
					if !stopped {
						ready = append(ready, next)
					}
					mu.Unlock()
					wake()
				}))
				return
			}
			remaining--
			p.commit(res)
			p.count(&st, res, t)
			if progress != nil {
				progress(st)
			}
			wake()
		}
	}
	for _, o := range todo {
		t := &task{obj: o, attempt: 1}
		t.final = final(t)
		ready = append(ready, t)
	}
	work := make(chan *task)
	var wg sync.WaitGroup
	p.startWorkers(ctx, work, &wg)
	for dispatching := true; dispatching; {
		mu.Lock()
		left, next := remaining, (*task)(nil)
		if len(ready) > 0 {
			next = ready[0]
		}
		mu.Unlock()
		if left == 0 {
			break
		}
		var out chan<- *task // nil, so never ready, while nothing is
		if next != nil {
			out = work
		}
		select {
		case out <- next:
			mu.Lock()
			ready = ready[1:]
			mu.Unlock()
		case <-notify:
		case <-ctx.Done():
			dispatching = false
		}
	}
	close(work)
	wg.Wait()
	acked := p.awaitAcks()
	mu.Lock()
	stopped = true
	for _, t := range timers {
		t.Stop()
	}
	st.Failed += remaining // abandoned, or awaiting an acknowledgement that did not come
	out := st
	mu.Unlock()
	if err := p.deps.Checkpoint.Flush(); err != nil {
		return out, err
	}
	if ctx.Err() != nil {
		if !acked {
			p.log.Warn("stopped before every sink acknowledged; those objects are delivered again at the next run")
		}
		return out, ctx.Err()
	}
	if out.Failed > 0 {
		return out, fmt.Errorf("%d of %d objects not delivered; run again to retry them", out.Failed, len(todo))
	}
	return out, nil
}

// commit marks a delivered or damaged object done in the checkpoint, and
// writes the checkpoint when the last write is SaveEvery ago: a crash redoes
// at most that much.
func (p *Pipeline) commit(res Result) {
	if res.Outcome == Failed {
		return
	}
	p.deps.Checkpoint.MarkDone(p.deps.Source.Name(), res.Object.Key, res.Object.ETag, res.Object.Time())
	if err := p.deps.Checkpoint.FlushEvery(p.cfg.SaveEvery); err != nil {
		p.log.Error("checkpoint not written; delivered objects may be delivered again after a crash", "err", err)
	}
}

// count adds a settled object to the stats and logs it.
func (p *Pipeline) count(st *Stats, res Result, t *task) {
	switch res.Outcome {
	case Failed:
		st.Failed++
		if res.Err != nil && !isCanceled(res.Err) {
			p.log.Error("object not delivered; it stays to do", "object", t.so.String(), "attempts", t.attempt, "err", res.Err)
		}
		return
	case Damaged:
		st.Damaged++
	}
	st.Objects++
	st.Bytes += res.Object.Size
	st.Records += res.Records
	st.RejectedLines += res.RejectedLines
	st.SinkRejected += res.SinkRejected
	p.logDone(t, res)
}

// logDone is the debug line of an object done.
func (p *Pipeline) logDone(t *task, res Result) {
	p.log.Debug("object delivered", "object", t.so.String(), "outcome", res.Outcome.String(), "records", res.Records,
		"rejected_lines", res.RejectedLines, "sink_rejected", res.SinkRejected, "took", res.Took.Round(time.Millisecond))
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// startWorkers starts Workers goroutines that read the tasks of work, each
// after waiting for room in flight.
func (p *Pipeline) startWorkers(ctx context.Context, work <-chan *task, wg *sync.WaitGroup) {
	for range p.cfg.Workers {
		w := p.newWorker()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				if !p.flight.room(ctx) {
					t.final(Result{Object: t.obj, Outcome: Failed, Err: ctx.Err()})
					continue
				}
				w.run(ctx, t)
			}
		}()
	}
}

// Run delivers new objects as they appear until ctx ends: it lists the
// source every PollInterval, reaching LookBack into the past so that late
// and rewritten objects are found, and hands what is not done, in key order,
// to the workers. A listing waits while the workers are busy. A failed
// object is tried again at the next listing.
func (p *Pipeline) Run(ctx context.Context) error {
	p.running.Store(true)
	defer p.running.Store(false)
	var (
		mu       sync.Mutex
		inflight = map[string]bool{} // keys handed to workers and not settled
		sum      summary
	)
	final := func(t *task) func(Result) {
		return func(res Result) {
			p.commit(res)
			mu.Lock()
			delete(inflight, t.obj.Key)
			sum.add(res)
			mu.Unlock()
			switch res.Outcome {
			case Failed:
				if !isCanceled(res.Err) {
					p.log.Warn("object not delivered; tried again at the next listing", "object", t.so.String(), "err", res.Err)
				}
			default:
				p.logDone(t, res)
			}
		}
	}
	work := make(chan *task)
	var wg sync.WaitGroup
	p.startWorkers(ctx, work, &wg)
	poll := time.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	report := time.NewTicker(time.Minute)
	defer report.Stop()
	var quiet string // the last "nothing to do" message, said once
	// Every wait below also logs the minute's summary when it is due.
	running := true
	for running {
		todo, msg := p.poll(ctx, func(key string) bool {
			mu.Lock()
			defer mu.Unlock()
			return inflight[key]
		})
		if msg != "" && msg != quiet {
			p.log.Info(msg)
		}
		quiet = msg
		for _, o := range todo {
			t := &task{obj: o, attempt: 1}
			t.final = final(t)
			mu.Lock()
			inflight[o.Key] = true
			mu.Unlock()
			for sent := false; running && !sent; {
				select {
				case work <- t:
					sent = true
				case <-report.C:
					p.report(&mu, &sum)
				case <-ctx.Done():
					running = false
				}
			}
			if !running {
				break
			}
		}
		if err := p.deps.Checkpoint.Flush(); err != nil {
			p.log.Error("checkpoint not written", "err", err)
		}
		for polled := false; running && !polled; {
			select {
			case <-poll.C:
				polled = true
			case <-report.C:
				p.report(&mu, &sum)
			case <-ctx.Done():
				running = false
			}
		}
	}
	close(work)
	wg.Wait()
	if !p.awaitAcks() {
		p.log.Warn("stopped before every sink acknowledged; those objects are delivered again at the next start")
	}
	return p.deps.Checkpoint.Flush()
}

// poll lists the source and returns what is to do, and, when there is
// nothing, why, for people.
func (p *Pipeline) poll(ctx context.Context, busy func(key string) bool) ([]source.Object, string) {
	since := time.Now().Add(-p.cfg.LookBack)
	l, err := p.deps.Source.List(ctx, source.Range{Since: since})
	if err != nil {
		if ctx.Err() == nil {
			p.m.listErrors.Inc()
			p.log.Warn("listing failed; trying again at the next poll", "err", err)
		}
		return nil, ""
	}
	p.listedOK.Store(time.Now().UnixNano())
	name := p.deps.Source.Name()
	p.deps.Checkpoint.Forget(name, since.Add(-time.Hour))
	var todo []source.Object
	done := 0
	for _, o := range l.Objects {
		if busy(o.Key) {
			continue
		}
		if p.deps.Checkpoint.Done(name, o.Key, o.ETag) {
			done++
			continue
		}
		todo = append(todo, o)
	}
	p.m.listed.Add(float64(len(todo)))
	p.m.setLag(todo)
	if len(todo) > 0 || l.OutOfRange+l.Settling == 0 {
		return todo, ""
	}
	var why []string
	if done > 0 {
		why = append(why, fmt.Sprintf("%d already delivered", done))
	}
	if l.OutOfRange > 0 {
		why = append(why, fmt.Sprintf("%d older than the look-back of %s (--lookback)", l.OutOfRange, p.cfg.LookBack))
	}
	if l.Settling > 0 {
		why = append(why, fmt.Sprintf("%d changed in the last seconds, still settling (read at a later poll)", l.Settling))
	}
	return nil, "no new objects to deliver: " + strings.Join(why, ", ")
}

// summary counts what Run did between reports.
type summary struct {
	objects, damaged, failed int
	records, rejected        int64
}

func (s *summary) add(res Result) {
	switch res.Outcome {
	case Failed:
		s.failed++
		return
	case Damaged:
		s.damaged++
	}
	s.objects++
	s.records += res.Records
	s.rejected += res.RejectedLines + res.SinkRejected
}

// report logs what Run did in the last minute, and the lag.
func (p *Pipeline) report(mu *sync.Mutex, s *summary) {
	mu.Lock()
	sum := *s
	*s = summary{}
	mu.Unlock()
	p.log.Info("exported in the last minute", "objects", sum.objects, "records", sum.records, "damaged", sum.damaged,
		"failed", sum.failed, "rejected", sum.rejected, "lag", time.Duration(p.m.lag()*float64(time.Second)).Round(time.Second))
}

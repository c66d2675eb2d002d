package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/flowlog/flowlog/exporter/queue"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/internal/objkey"
)

// bucketed is a source that reads one bucket: queue messages naming other
// buckets are not its.
type bucketed interface{ BucketName() string }

// QueueOptions are what RunQueue does besides delivering messages.
type QueueOptions struct {
	// Ledger, when set, records every object delivered where every
	// exporter sharing the queue reads it.
	Ledger queue.Ledger
	// Reconcile, with a Ledger, is how often the source is listed over
	// LookBack to deliver the objects no exporter recorded: those whose
	// notification was lost. 0: never.
	Reconcile time.Duration
	// ReconcileAfter: objects changed more recently are left to their
	// notification.
	ReconcileAfter time.Duration
}

// RunQueue delivers the objects bucket notifications from q name, until
// ctx ends; many exporters may share q. A message is acknowledged once
// every sink acknowledged every record of every object it names (and the
// ledger, if any, recorded them); while that takes, the engine is told the
// message is in progress. A message whose objects failed is handed back
// for another delivery, up to the queue's attempts, then dropped into the
// dead letters with the reason; so is one that is no notification at all.
func (p *Pipeline) RunQueue(ctx context.Context, q queue.Queue, opts QueueOptions) error {
	p.running.Store(true)
	defer p.running.Store(false)
	work := make(chan *task)
	var wg sync.WaitGroup
	p.startWorkers(ctx, work, &wg)
	var msgs sync.WaitGroup
	bucket := ""
	if b, ok := p.deps.Source.(bucketed); ok {
		bucket = b.BucketName()
	}
	r := &queueRun{p: p, q: q, opts: opts, bucket: bucket, inflight: map[string]source.Object{}}
	// Replicas started together do not all list at once.
	nextReconcile := time.Now().Add(time.Duration(rand.Int64N(int64(max(opts.Reconcile, 1)))))
	running := true
	lastReport := time.Now()
	send := func(tasks []*task) {
		for _, t := range tasks {
			if !running {
				t.final(Result{Object: t.obj, Outcome: Failed, Err: ctx.Err()})
				continue
			}
			select {
			case work <- t:
			case <-ctx.Done():
				running = false
				t.final(Result{Object: t.obj, Outcome: Failed, Err: ctx.Err()})
			}
		}
	}
	for running {
		if !p.flight.room(ctx) {
			break
		}
		if time.Since(lastReport) >= time.Minute {
			p.report(&r.mu, &r.sum)
			lastReport = time.Now()
		}
		if opts.Ledger != nil && opts.Reconcile > 0 && !time.Now().Before(nextReconcile) {
			send(r.reconcile(ctx))
			nextReconcile = time.Now().Add(opts.Reconcile)
			continue
		}
		// The fetch is let end when stopping: what it got is handed back
		// at once instead of waiting out the engine's timeout.
		// A fetch stuck retrying an engine that is down is given up a
		// second after the stop.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		stopFetch := context.AfterFunc(ctx, func() { time.AfterFunc(time.Second, cancel) })
		batch, err := q.Fetch(fctx, p.cfg.Workers)
		stopFetch()
		cancel()
		if ctx.Err() != nil {
			for _, m := range batch {
				if err := m.Retry(context.WithoutCancel(ctx), 0); err != nil {
					p.log.Warn("handing a message back failed; the engine delivers it again after its wait", "queue", q.Name(), "err", err)
				}
			}
			break
		}
		if err != nil {
			p.m.listErrors.Inc()
			p.log.Warn("reading the queue failed; trying again", "queue", q.Name(), "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				running = false
			}
			continue
		}
		p.listedOK.Store(time.Now().UnixNano())
		for _, m := range batch {
			send(r.messageTasks(ctx, m, &msgs))
		}
		if ctx.Err() != nil {
			running = false
		}
	}
	close(work)
	wg.Wait()
	if !p.awaitAcks() {
		p.log.Warn("stopped before every sink acknowledged; those messages are delivered again")
	}
	msgs.Wait()
	return p.deps.Checkpoint.Flush()
}

// queueRun is what one RunQueue shares between its messages.
type queueRun struct {
	p      *Pipeline
	q      queue.Queue
	opts   QueueOptions
	bucket string

	mu       sync.Mutex
	inflight map[string]source.Object // handed to workers and not settled, by key
	sum      summary                  // since the last minute's report
}

func (r *queueRun) busy(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.inflight[key]
	return ok
}

// start and end keep the objects in flight, and the lag gauge: the age of
// the oldest of them (queue mode has no listing to tell it).
func (r *queueRun) start(o source.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight[o.Key] = o
	r.setLag()
}

// end settles key, counting res for the minute's report.
func (r *queueRun) end(key string, res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inflight, key)
	r.sum.add(res)
	r.setLag()
}

func (r *queueRun) setLag() {
	objs := make([]source.Object, 0, len(r.inflight))
	for _, o := range r.inflight {
		objs = append(objs, o)
	}
	r.p.m.setLag(objs)
}

// record writes a delivered object into the ledger, for the reconcilers
// of every exporter.
func (r *queueRun) record(ctx context.Context, o source.Object) {
	if r.opts.Ledger == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.opts.Ledger.Record(rctx, queue.Entry{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag, Time: o.Time()}); err != nil {
		r.p.m.ledgerErrors.Inc()
		r.p.log.Warn("a delivered object is not in the ledger; a reconciler may deliver it again (the sinks keep it once)",
			"object", o.Bucket+"/"+o.Key, "err", err)
	}
}

// task is the delivery of o: when it ends, the object is marked done in the
// checkpoint and recorded in the ledger (or failed is logged), counted for
// the minute's report, and then handed to then.
func (r *queueRun) task(ctx context.Context, o source.Object, attempt int, failed string, then func(Result)) *task {
	p := r.p
	t := &task{obj: o, attempt: attempt}
	r.start(o)
	t.final = func(res Result) {
		p.commit(res)
		if res.Outcome == Failed {
			if !isCanceled(res.Err) {
				p.log.Warn(failed, "object", t.so.String(), "err", res.Err)
			}
		} else {
			r.record(ctx, res.Object)
			p.logDone(t, res)
		}
		r.end(o.Key, res)
		then(res)
	}
	return t
}

// reconcile lists the source over the look-back and returns tasks for the
// objects older than ReconcileAfter that no exporter recorded.
func (r *queueRun) reconcile(ctx context.Context) []*task {
	p := r.p
	now := time.Now()
	since := now.Add(-p.cfg.LookBack)
	l, err := p.deps.Source.List(ctx, source.Range{Since: since})
	if err != nil {
		if ctx.Err() == nil {
			p.m.listErrors.Inc()
			p.log.Warn("reconciler: listing failed; trying again at the next round", "err", err)
		}
		return nil
	}
	name := p.deps.Source.Name()
	p.deps.Checkpoint.Forget(name, since.Add(-time.Hour))
	var cand []source.Object
	for _, o := range l.Objects {
		if o.Modified.After(now.Add(-r.opts.ReconcileAfter)) || r.busy(o.Key) || p.deps.Checkpoint.Done(name, o.Key, o.ETag) {
			continue
		}
		cand = append(cand, o)
	}
	var todo []source.Object
	for len(cand) > 0 {
		chunk := cand[:min(len(cand), 1000)]
		cand = cand[len(chunk):]
		es := make([]queue.Entry, len(chunk))
		for i, o := range chunk {
			es[i] = queue.Entry{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag, Time: o.Time()}
		}
		done, err := r.opts.Ledger.Delivered(ctx, es)
		if err != nil {
			if ctx.Err() == nil {
				p.m.ledgerErrors.Inc()
				p.log.Warn("reconciler: reading the ledger failed; trying again at the next round", "ledger", r.opts.Ledger.Name(), "err", err)
			}
			return nil
		}
		for i, o := range chunk {
			if done[i] {
				continue
			}
			// Another exporter's reconciler may have found it too: the
			// one whose claim holds delivers it.
			ok, err := r.opts.Ledger.Claim(ctx, es[i], claimTTL(r.opts.Reconcile))
			if err != nil {
				if ctx.Err() == nil {
					p.m.ledgerErrors.Inc()
					p.log.Warn("reconciler: claiming an object failed; trying again at the next round", "object", o.Key, "err", err)
				}
				continue
			}
			if ok {
				todo = append(todo, o)
			}
		}
	}
	if len(todo) == 0 {
		p.log.Debug("reconciler: every object of the look-back is delivered", "objects", len(l.Objects))
		return nil
	}
	p.log.Warn("reconciler: objects no exporter delivered (their notifications were lost or are late); delivering them",
		"objects", len(todo), "first", todo[0].Key, "ledger", r.opts.Ledger.Name())
	tasks := make([]*task, 0, len(todo))
	for _, o := range todo {
		tasks = append(tasks, r.task(ctx, o, 1, "reconciler: object not delivered; tried again at the next round", func(res Result) {
			if res.Outcome != Failed {
				p.m.reconciled.Inc()
			}
		}))
	}
	return tasks
}

// claimTTL is how long a reconciler's claim on an object keeps the others
// off it: if its exporter dies, a later round takes the object over.
func claimTTL(every time.Duration) time.Duration { return max(2*every, 10*time.Minute) }

// messageTasks turns a message into tasks whose settling acknowledges it;
// a message naming nothing to deliver is settled at once.
func (r *queueRun) messageTasks(ctx context.Context, m queue.Message, msgs *sync.WaitGroup) []*task {
	p, q := r.p, r.q
	refs, err := queue.Parse(m.Body())
	if err != nil {
		p.poison(ctx, m, err.Error())
		return nil
	}
	var objs []source.Object
	for _, ref := range refs {
		if r.bucket != "" && ref.Bucket != r.bucket {
			p.log.Warn("notification of another bucket ignored", "queue", q.Name(), "bucket", ref.Bucket, "key", ref.Key)
			continue
		}
		info, ok := objkey.Parse(ref.Key)
		if !ok {
			continue // not a flow-log object by its name
		}
		at := ref.Time
		if at.IsZero() {
			at = time.Now()
		}
		objs = append(objs, source.Object{Bucket: ref.Bucket, Key: ref.Key, ETag: ref.ETag, Size: ref.Size, Modified: at, Info: info})
	}
	if len(objs) == 0 {
		if err := m.Ack(ctx); err != nil {
			p.log.Warn("acknowledging a message failed; it comes again", "queue", q.Name(), "err", err)
		}
		return nil
	}
	st := &msgState{pending: len(objs), done: make(chan struct{})}
	msgs.Add(1)
	go func() { // in progress while its objects are delivered
		defer msgs.Done()
		tick := time.NewTicker(q.HeartbeatEvery())
		defer tick.Stop()
		for {
			select {
			case <-st.done:
				p.settleMessage(context.WithoutCancel(ctx), q, m, st)
				return
			case <-tick.C:
				m.InProgress(ctx)
			case <-ctx.Done():
				// Stopping: objects not acknowledged by then leave the
				// message unsettled; the engine delivers it again after
				// its wait, to this exporter or another.
				select {
				case <-st.done:
					p.settleMessage(context.WithoutCancel(ctx), q, m, st)
				case <-time.After(p.cfg.Grace):
				}
				return
			}
		}
	}()
	var tasks []*task
	for _, o := range objs {
		tasks = append(tasks, r.task(ctx, o, m.Attempt(), "object not delivered; its message comes again", st.settle))
	}
	return tasks
}

// msgState counts a message's objects until all are settled.
type msgState struct {
	mu      sync.Mutex
	pending int
	failed  []string
	done    chan struct{}
}

func (s *msgState) settle(res Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.Outcome == Failed {
		why := "failed"
		if res.Err != nil {
			why = res.Err.Error()
		}
		s.failed = append(s.failed, res.Object.Key+": "+why)
	}
	if s.pending--; s.pending == 0 {
		close(s.done)
	}
}

// settleMessage acknowledges a message whose objects are all delivered,
// hands back one with a failure, and drops it into the dead letters after
// the queue's attempts.
func (p *Pipeline) settleMessage(ctx context.Context, q queue.Queue, m queue.Message, st *msgState) {
	if len(st.failed) == 0 {
		if err := m.Ack(ctx); err != nil {
			p.log.Warn("acknowledging a delivered message failed; its objects come again (the sinks hold them once)", "queue", q.Name(), "err", err)
		}
		return
	}
	if m.Attempt() >= q.MaxAttempts() {
		p.poison(ctx, m, "delivered "+strconv.Itoa(m.Attempt())+" times without success: "+joinClip(st.failed))
		return
	}
	wait := min(time.Second<<min(m.Attempt(), 6), time.Minute)
	if err := m.Retry(ctx, wait); err != nil {
		p.log.Warn("handing a failed message back failed; the engine redelivers it after its wait", "queue", q.Name(), "err", err)
	}
}

// poison drops a message that cannot be delivered, keeping it and the
// reason in the dead letters.
func (p *Pipeline) poison(ctx context.Context, m queue.Message, reason string) {
	p.m.failed.Inc()
	p.log.Error("message dropped into the dead letters", "reason", reason)
	if err := p.deps.DeadLetter.Message(m.Body(), reason); err != nil {
		p.log.Error("dead letter not written; the message is handed back", "err", err)
		m.Retry(ctx, time.Minute)
		return
	}
	if err := m.Drop(ctx, reason); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Warn("dropping a message failed", "err", err)
	}
}

func joinClip(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
		if len(out) > 500 {
			return out[:500] + "…"
		}
	}
	return out
}

package pipeline

import (
	"context"
	"errors"
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

// RunQueue delivers the objects bucket notifications from q name, until
// ctx ends; many exporters may share q. A message is acknowledged once
// every sink acknowledged every record of every object it names; while
// that takes, the engine is told the message is in progress. A message
// whose objects failed is handed back for another delivery, up to the
// queue's attempts, then dropped into the dead letters with the reason; so
// is one that is no notification at all.
func (p *Pipeline) RunQueue(ctx context.Context, q queue.Queue) error {
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
	running := true
	for running {
		if !p.flight.room(ctx) {
			break
		}
		batch, err := q.Fetch(ctx, p.cfg.Workers)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
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
			tasks := p.messageTasks(ctx, q, m, bucket, &msgs)
			for _, t := range tasks {
				select {
				case work <- t:
				case <-ctx.Done():
					running = false
					t.final(Result{Object: t.obj, Outcome: Failed, Err: ctx.Err()})
				}
			}
		}
	}
	close(work)
	wg.Wait()
	if !p.awaitAcks() {
		p.log.Warn("stopped before every sink acknowledged; those messages are delivered again")
	}
	msgs.Wait()
	return nil
}

// messageTasks turns a message into tasks whose settling acknowledges it;
// a message naming nothing to deliver is settled at once.
func (p *Pipeline) messageTasks(ctx context.Context, q queue.Queue, m queue.Message, bucket string, msgs *sync.WaitGroup) []*task {
	refs, err := queue.Parse(m.Body())
	if err != nil {
		p.poison(ctx, m, err.Error())
		return nil
	}
	var objs []source.Object
	for _, r := range refs {
		if bucket != "" && r.Bucket != bucket {
			p.log.Warn("notification of another bucket ignored", "queue", q.Name(), "bucket", r.Bucket, "key", r.Key)
			continue
		}
		info, ok := objkey.Parse(r.Key)
		if !ok {
			continue // not a flow-log object by its name
		}
		objs = append(objs, source.Object{Bucket: r.Bucket, Key: r.Key, ETag: r.ETag, Size: r.Size, Modified: time.Now(), Info: info})
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
		t := &task{obj: o, attempt: m.Attempt()}
		t.final = func(res Result) {
			p.commit(res)
			if res.Outcome == Failed {
				if !isCanceled(res.Err) {
					p.log.Warn("object not delivered; its message comes again", "object", t.so.String(), "err", res.Err)
				}
			} else {
				p.logDone(t, res)
			}
			st.settle(res)
		}
		tasks = append(tasks, t)
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

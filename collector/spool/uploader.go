package spool

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/internal/objstore"
)

// Backoff bounds the wait between upload attempts; it doubles from Min to Max.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff waits 1 s after the first failure and at most 1 min.
var DefaultBackoff = Backoff{Min: time.Second, Max: time.Minute}

// Uploader moves the objects of one spool queue to a store.
type Uploader struct {
	spool   *Spool
	queue   string
	store   objstore.Store
	backoff Backoff
	log     *slog.Logger
	uploads prometheus.Counter
	retries prometheus.Counter
	wake    chan struct{}
	mu      sync.Mutex // one Drain at a time
}

// UploaderDeps are what an Uploader reports to. Nil counters are allowed.
type UploaderDeps struct {
	Logger  *slog.Logger
	Uploads prometheus.Counter // objects uploaded
	Retries prometheus.Counter // failed attempts
}

// NewUploader returns an uploader for queue; it does nothing until Run or Drain.
func NewUploader(s *Spool, queue string, store objstore.Store, b Backoff, deps UploaderDeps) *Uploader {
	if b.Min <= 0 {
		b = DefaultBackoff
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	u := &Uploader{spool: s, queue: queue, store: store, backoff: b, log: deps.Logger,
		uploads: deps.Uploads, retries: deps.Retries, wake: make(chan struct{}, 1)}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	return u
}

// Notify tells the uploader that an object was spooled.
func (u *Uploader) Notify() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Run uploads spooled objects as they come until ctx is cancelled, retrying
// failures with backoff. Objects left over from an earlier run go first.
func (u *Uploader) Run(ctx context.Context) error {
	for {
		u.Drain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-u.wake:
		}
	}
}

// Drain uploads every object waiting in the queue, retrying with backoff,
// until the queue is empty or ctx ends. It returns the number of objects
// still waiting.
func (u *Uploader) Drain(ctx context.Context) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	wait := time.Duration(0)
	for {
		pending := u.spool.Pending(u.queue)
		if len(pending) == 0 {
			return 0
		}
		failed := false
		for _, e := range pending {
			if ctx.Err() != nil {
				return len(u.spool.Pending(u.queue))
			}
			if err := u.upload(ctx, e); err != nil {
				failed = true
				if u.retries != nil {
					u.retries.Inc()
				}
				wait = min(max(2*wait, u.backoff.Min), u.backoff.Max)
				u.log.Warn("upload failed; object stays in the spool", "key", e.Key, "target", u.store.String(),
					"retry_in", wait, "err", err)
				break // keep key order: retry the same object first
			}
			wait = 0
		}
		if failed {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return len(u.spool.Pending(u.queue))
			case <-t.C:
			}
		}
	}
}

func (u *Uploader) upload(ctx context.Context, e Entry) error {
	f, err := os.Open(e.Path)
	if err != nil {
		return fmt.Errorf("spooled object %s: %w", e.Key, err)
	}
	defer f.Close()
	if err := u.store.Put(ctx, e.Key, f, e.Size); err != nil {
		return err
	}
	if err := u.spool.Remove(e); err != nil {
		return err
	}
	if u.uploads != nil {
		u.uploads.Inc()
	}
	u.log.Debug("object uploaded", "key", e.Key, "bytes", e.Size, "target", u.store.String())
	return nil
}

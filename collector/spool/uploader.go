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
	perm    prometheus.Counter
	giveUp  int
	wake    chan struct{}
	mu      sync.Mutex // one Drain at a time

	errMu    sync.Mutex
	permErr  error  // the last failure, when retrying cannot cure it; nil after an upload
	permCode string // its kind (NoSuchBucket…), to log a change once
}

// UploaderDeps are what an Uploader reports to. Nil counters are allowed.
type UploaderDeps struct {
	Logger    *slog.Logger
	Uploads   prometheus.Counter // objects uploaded
	Retries   prometheus.Counter // failed attempts
	Permanent prometheus.Counter // failed attempts retrying cannot cure (NoSuchBucket, AccessDenied…)
	// GiveUpAfter, when above 0, makes Drain return after that many
	// attempts in a row failed for a reason retrying cannot cure (one-shot
	// conversions); 0 retries for ever (the daemon).
	GiveUpAfter int
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
		uploads: deps.Uploads, retries: deps.Retries, perm: deps.Permanent, giveUp: deps.GiveUpAfter, wake: make(chan struct{}, 1)}
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
		u.Drain(ctx) // Err tells of failures retrying cannot cure
		select {
		case <-ctx.Done():
			return nil
		case <-u.wake:
		}
	}
}

// Err returns the last upload failure when retrying cannot cure it
// (NoSuchBucket, AccessDenied, wrong keys, no credentials), nil once an
// upload succeeds: what /readyz reports.
func (u *Uploader) Err() error {
	u.errMu.Lock()
	defer u.errMu.Unlock()
	return u.permErr
}

// Drain uploads every object waiting in the queue, retrying with backoff,
// until the queue is empty or ctx ends, or (with GiveUpAfter) a failure
// retrying cannot cure repeated that many times. It returns the number of
// objects still waiting, and that failure when it gave up.
//
// A failure retrying cannot cure is logged at ERROR when it starts or
// changes, not at every attempt; others at WARN.
func (u *Uploader) Drain(ctx context.Context) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	wait := time.Duration(0)
	permanentRun := 0
	for {
		pending := u.spool.Pending(u.queue)
		if len(pending) == 0 {
			return 0, nil
		}
		failed := false
		for _, e := range pending {
			if ctx.Err() != nil {
				return len(u.spool.Pending(u.queue)), nil
			}
			err := u.upload(ctx, e)
			if err == nil {
				wait, permanentRun = 0, 0
				u.setPermanent(nil)
				continue
			}
			failed = true
			if u.retries != nil {
				u.retries.Inc()
			}
			wait = min(max(2*wait, u.backoff.Min), u.backoff.Max)
			if objstore.Permanent(err) {
				permanentRun++
				if u.perm != nil {
					u.perm.Inc()
				}
				if u.setPermanent(err) {
					u.log.Error("upload refused, and retrying will not help until the target or its credentials are fixed; objects stay in the spool",
						"key", e.Key, "target", u.store.String(), "spooled", len(pending), "err", err)
				} else {
					u.log.Debug("upload refused again", "key", e.Key, "retry_in", wait, "err", err)
				}
				if u.giveUp > 0 && permanentRun >= u.giveUp {
					return len(u.spool.Pending(u.queue)), err
				}
			} else {
				permanentRun = 0
				u.setPermanent(nil)
				u.log.Warn("upload failed; object stays in the spool", "key", e.Key, "target", u.store.String(),
					"retry_in", wait, "err", err)
			}
			break // keep key order: retry the same object first
		}
		if failed {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return len(u.spool.Pending(u.queue)), nil
			case <-t.C:
			}
		}
	}
}

// setPermanent records the permanent failure (nil: none) and says whether
// it is new: of another kind than the last one.
func (u *Uploader) setPermanent(err error) bool {
	u.errMu.Lock()
	defer u.errMu.Unlock()
	code := objstore.PermanentCode(err)
	changed := err != nil && code != u.permCode
	u.permErr, u.permCode = err, code
	return changed
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

package loki

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki-client-go/pkg/backoff"
	"github.com/grafana/loki/pkg/push"

	"github.com/flowlog/flowlog/exporter/sink"
)

// ref is entry i of writer w, with what requests are sorted by.
type ref struct {
	ts  int64
	sid int32 // the stream's id
	i   int32
	w   *writer
}

func refOf(w *writer, i int) ref {
	e := &w.entries[i]
	return ref{ts: e.ts, sid: int32(e.st.id), i: int32(i), w: w}
}

func (r ref) e() *entry { return &r.w.entries[r.i] }

// builder makes push requests; its memory is reused from one to the next.
type builder struct {
	req   push.PushRequest
	ents  []push.Entry
	lbls  []push.LabelAdapter
	raw   []byte
	out   []byte
	sizes []int
}

var builders = sync.Pool{New: func() any { return new(builder) }}

// sortRefs orders entries by stream, then time: Loki wants each stream's
// entries in order.
func sortRefs(refs []ref) {
	slices.SortFunc(refs, func(a, b ref) int {
		if a.sid != b.sid {
			return int(a.sid - b.sid)
		}
		switch {
		case a.ts < b.ts:
			return -1
		case a.ts > b.ts:
			return 1
		}
		return 0
	})
}

// build returns the snappy-compressed protobuf push request of refs, which
// are sorted. The result is valid until the builder's next use.
func (b *builder) build(refs []ref) ([]byte, error) {
	nmeta := 0
	for _, r := range refs {
		e := r.e()
		nmeta += int(e.m1 - e.m0)
	}
	b.ents = slices.Grow(b.ents[:0], len(refs))[:0]
	b.lbls = slices.Grow(b.lbls[:0], nmeta)[:0]
	b.req.Streams = b.req.Streams[:0]
	var cur *stream
	start := 0
	for _, r := range refs {
		e, w := r.e(), r.w
		if e.st != cur {
			if cur != nil {
				b.req.Streams = append(b.req.Streams, push.Stream{Labels: cur.labels, Entries: b.ents[start:len(b.ents):len(b.ents)]})
			}
			cur, start = e.st, len(b.ents)
		}
		m0 := len(b.lbls)
		for _, m := range w.meta[e.m0:e.m1] {
			v := m.val
			if v == "" {
				v = w.str(m.v0, m.v1)
			}
			b.lbls = append(b.lbls, push.LabelAdapter{Name: m.name, Value: v})
		}
		b.ents = append(b.ents, push.Entry{Timestamp: time.Unix(0, e.ts).UTC(), Line: w.str(e.l0, e.l1),
			StructuredMetadata: b.lbls[m0:len(b.lbls):len(b.lbls)]})
	}
	if cur != nil {
		b.req.Streams = append(b.req.Streams, push.Stream{Labels: cur.labels, Entries: b.ents[start:len(b.ents):len(b.ents)]})
	}
	b.raw, b.sizes = appendPush(b.raw[:0], &b.req, b.sizes)
	size := len(b.raw)
	b.out = slices.Grow(b.out[:0], snappy.MaxEncodedLen(size))
	b.out = snappy.Encode(b.out[:cap(b.out)], b.raw)
	// The request's strings point into the writers' text; they are
	// overwritten by the next build (a pooled builder holds at most one
	// request's worth).
	return b.out, nil
}

// deliver pushes a group of parts and acknowledges each.
func (s *Sink) deliver(group []*writer) {
	var refs []ref
	for _, w := range group {
		for i := range w.entries {
			refs = append(refs, refOf(w, i))
		}
	}
	sortRefs(refs)
	rejects := map[*writer][]sink.Reject{}
	err := s.send(refs, rejects)
	for _, w := range group {
		r := sink.Result{Rejects: rejects[w]}
		if err != nil {
			r = sink.Result{Err: fmt.Errorf("loki: %w", err)}
		}
		s.finish(w, r)
	}
}

// send pushes refs in requests of at most batch_bytes, recording entries
// Loki refuses for good in rejects.
func (s *Sink) send(refs []ref, rejects map[*writer][]sink.Reject) error {
	for len(refs) > 0 {
		n, size := 0, 0
		for n < len(refs) && (n == 0 || size < int(s.cfg.BatchBytes)) {
			e := refs[n].e()
			size += int(e.l1-e.l0) + 64*int(e.m1-e.m0)
			n++
		}
		if err := s.sendOne(refs[:n], rejects); err != nil {
			return err
		}
		refs = refs[n:]
	}
	return nil
}

// ErrPermanent is an error retrying does not cure: a wrong address or
// credentials.
var ErrPermanent = errors.New("not retried")

// errRefused is Loki refusing entries (400, 413).
type errRefused struct{ msg string }

func (e *errRefused) Error() string { return e.msg }

// sendOne pushes one request, retrying what can be retried; refused
// entries are sorted out.
func (s *Sink) sendOne(refs []ref, rejects map[*writer][]sink.Reject) error {
	b := builders.Get().(*builder)
	body, err := b.build(refs)
	if err == nil {
		err = s.pushRetrying(body)
	}
	builders.Put(b)
	var refused *errRefused
	if !errors.As(err, &refused) {
		if err == nil {
			s.m.entries.Add(float64(len(refs)))
		}
		return err
	}
	s.m.pushes.WithLabelValues("rejected").Inc()
	// Loki stores the valid entries of a refused push and names the
	// first few it refused. What its message says is sorted out here;
	// otherwise the push is halved until the refused entries are alone.
	// Pushing stored entries again is harmless: Loki drops repeats.
	if drop := refusedBy(refused.msg, refs); drop != nil {
		var rest []ref
		for i, r := range refs {
			if drop[i] {
				rejects[r.w] = append(rejects[r.w], sink.Reject{Line: int(r.e().line), Reason: refused.msg})
			} else {
				rest = append(rest, r)
			}
		}
		if len(rest) == len(refs) {
			return s.halve(refs, refused, rejects)
		}
		return s.send(rest, rejects)
	}
	return s.halve(refs, refused, rejects)
}

func (s *Sink) halve(refs []ref, refused *errRefused, rejects map[*writer][]sink.Reject) error {
	if len(refs) == 1 {
		r := refs[0]
		rejects[r.w] = append(rejects[r.w], sink.Reject{Line: int(r.e().line), Reason: refused.msg})
		return nil
	}
	mid := len(refs) / 2
	if err := s.sendOne(refs[:mid], rejects); err != nil {
		return err
	}
	return s.sendOne(refs[mid:], rejects)
}

var (
	tooOldRe  = regexp.MustCompile(`oldest acceptable timestamp is: ([0-9T:.+\-Z ]+?)(?:'|,|\n|$)`)
	tooLongRe = regexp.MustCompile(`Max entry size '(\d+)' bytes exceeded`)
)

// refusedBy marks the entries Loki's message says it refuses: older than
// the oldest acceptable time, or longer than the largest entry. Nil when
// the message says neither.
func refusedBy(msg string, refs []ref) []bool {
	var limit func(e *entry) bool
	if m := tooOldRe.FindStringSubmatch(msg); m != nil {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999 -0700 MST", "2006-01-02 15:04:05 -0700 MST"} {
			if t, err := time.Parse(layout, strings.TrimSpace(m[1])); err == nil {
				oldest := t.UnixNano()
				limit = func(e *entry) bool { return e.ts < oldest }
				break
			}
		}
	} else if m := tooLongRe.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			limit = func(e *entry) bool { return int(e.l1-e.l0) > n }
		}
	}
	if limit == nil {
		return nil
	}
	drop := make([]bool, len(refs))
	for i, r := range refs {
		drop[i] = limit(r.e())
	}
	return drop
}

// pushRetrying pushes body until Loki takes it, retrying 429, 5xx and
// transport errors with backoff and jitter (at least what Retry-After
// asks) for retry_for.
func (s *Sink) pushRetrying(body []byte) error {
	deadline := time.Now().Add(s.cfg.RetryFor)
	// loki-client-go's backoff: doubling, with jitter. Its client is not
	// used: it acknowledges nothing (see the package comment).
	bo := backoff.New(s.ctx, backoff.BackoffConfig{MinBackoff: s.cfg.MinBackoff, MaxBackoff: s.cfg.MaxBackoff})
	for attempt := 1; ; attempt++ {
		start := time.Now()
		retryAfter, err := s.pushOnce(body)
		s.m.seconds.Observe(time.Since(start).Seconds())
		var refused *errRefused
		switch {
		case err == nil:
			s.m.pushes.WithLabelValues("ok").Inc()
			s.health.Set(nil)
			return nil
		case errors.As(err, &refused):
			s.health.Set(nil)
			return err
		}
		s.health.Set(err)
		if errors.Is(err, ErrPermanent) || !time.Now().Before(deadline) || s.ctx.Err() != nil {
			s.m.pushes.WithLabelValues("failed").Inc()
			s.log.Error("push failed; its objects will be delivered again", "attempts", attempt, "err", err)
			return err
		}
		s.m.pushes.WithLabelValues("retried").Inc()
		wait := max(bo.NextDelay(), retryAfter)
		wait = min(wait, time.Until(deadline))
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("push failed; retrying", "attempt", attempt, "in", wait.Round(time.Millisecond), "err", err)
		}
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
		}
	}
}

// pushOnce sends one push request.
func (s *Sink) pushOnce(body []byte) (retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.push, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "flowlog")
	s.authorize(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("push to %s: %w", s.cfg.URL, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	s.m.bytes.Add(float64(len(body)))
	text := strings.TrimSpace(string(msg))
	if len(text) > 1000 {
		text = text[:1000] + "…"
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge:
		return 0, &errRefused{msg: fmt.Sprintf("loki refused entries (%d): %s", code, text)}
	case code == http.StatusTooManyRequests || code >= 500:
		return parseRetryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("loki answered %s: %s", resp.Status, text)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return 0, fmt.Errorf("%w: loki answered %s (check username, password, bearer_token and tenant): %s", ErrPermanent, resp.Status, text)
	case code == http.StatusNotFound:
		return 0, fmt.Errorf("%w: loki answered %s for %s (is url the base of the push API, without /loki/api/v1/push?)", ErrPermanent, resp.Status, s.push)
	default:
		return 0, fmt.Errorf("loki answered %s: %s", resp.Status, text)
	}
}

// parseRetryAfter reads Retry-After: seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// authorize adds the tenant and the credentials.
func (s *Sink) authorize(req *http.Request) {
	if s.cfg.Tenant != "" {
		req.Header.Set("X-Scope-OrgID", s.cfg.Tenant)
	}
	switch {
	case s.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+string(s.cfg.BearerToken))
	case s.cfg.Username != "":
		req.SetBasicAuth(s.cfg.Username, string(s.cfg.Password))
	}
}

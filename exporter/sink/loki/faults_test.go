package loki

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
)

// fakeLoki decodes pushes as Loki does and answers what respond says
// (nil: 204). It keeps every entry of every push it took.
type fakeLoki struct {
	mu      sync.Mutex
	pushes  int
	entries []string // labels \x00 ts \x00 line \x00 metadata
	headers http.Header
	respond func(n int, req *push.PushRequest) (code int, header map[string]string, body string)
}

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/loki/api/v1/status/buildinfo" {
		io.WriteString(w, `{"version":"3.5.1","revision":"abc","branch":"HEAD"}`)
		return
	}
	if r.URL.Path == "/config" {
		io.WriteString(w, "limits_config:\n  reject_old_samples: true\n  reject_old_samples_max_age: 1w\n  max_line_size: 256KB\n")
		return
	}
	if r.URL.Path != "/loki/api/v1/push" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not a push", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, "snappy: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		http.Error(w, "proto: "+err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.pushes++
	n := f.pushes
	f.headers = r.Header.Clone()
	f.mu.Unlock()
	code, hdr, msg := http.StatusNoContent, map[string]string(nil), ""
	if f.respond != nil {
		code, hdr, msg = f.respond(n, &req)
	}
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	if code == http.StatusNoContent || code == http.StatusBadRequest {
		// Loki keeps the valid entries of a refused push; here, those
		// without the poison.
		f.mu.Lock()
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				if code == http.StatusBadRequest && strings.Contains(e.Line, poison) {
					continue
				}
				f.entries = append(f.entries, fmt.Sprintf("%s\x00%d\x00%s\x00%v", s.Labels, e.Timestamp.UnixNano(), e.Line, e.StructuredMetadata))
			}
		}
		f.mu.Unlock()
	}
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

const poison = "bytes=4611686018427387904"

func fakeSink(t *testing.T, f *fakeLoki, change func(c *Config)) *Sink {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	if change != nil {
		change(&cfg)
	}
	s := newSink(t, cfg)
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func genObjects(t *testing.T, n, records int) []*sinktest.Object {
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = n, records
	return sinktest.Objects(t, enrich.DefaultConfig(), gc, 500)
}

// TestRedeliveryIsIdentical: the entries of two deliveries of the same
// objects, in other company and other batches, are byte for byte the same,
// so Loki drops the second.
func TestRedeliveryIsIdentical(t *testing.T) {
	f := &fakeLoki{}
	s := fakeSink(t, f, func(c *Config) { c.BatchBytes = 64 << 10 })
	objs := genObjects(t, 3, 1500)
	deliverAll(t, s, objs)
	first := slices.Clone(f.entries)
	f.entries = nil
	// Again, in reverse order, one at a time.
	for i := len(objs) - 1; i >= 0; i-- {
		deliverAll(t, s, objs[i:i+1])
	}
	second := f.entries
	slices.Sort(first)
	slices.Sort(second)
	if len(first) != 4500 || !slices.Equal(first, second) {
		t.Fatalf("deliveries differ: %d and %d entries", len(first), len(second))
	}
	seen := map[string]bool{}
	for _, e := range first {
		k := e[:strings.LastIndex(e, "\x00")] // stream, time, line
		if seen[k] {
			t.Fatalf("two records share stream, time and line: %q", k)
		}
		seen[k] = true
	}
}

// TestRetries: 429 with Retry-After and 500 are retried, waiting at least
// what Retry-After asks; tenant and credentials go with every push.
func TestRetries(t *testing.T) {
	f := &fakeLoki{respond: func(n int, _ *push.PushRequest) (int, map[string]string, string) {
		switch n {
		case 1:
			return http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}, "Ingestion rate limit exceeded"
		case 2:
			return http.StatusInternalServerError, nil, "ingester unavailable"
		}
		return http.StatusNoContent, nil, ""
	}}
	s := fakeSink(t, f, func(c *Config) {
		c.Tenant, c.Username, c.Password = "team-a", "12345", "glc_secret"
	})
	start := time.Now()
	r := deliverAll(t, s, genObjects(t, 1, 100))[0]
	if r.Status() != sink.Delivered || len(f.entries) != 100 || f.pushes != 3 {
		t.Fatalf("%v (%v), %d entries after %d pushes; want delivered, 100, 3", r.Status(), r.Err, len(f.entries), f.pushes)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("delivered after %s: Retry-After: 1 not honoured", took)
	}
	if f.headers.Get("X-Scope-OrgID") != "team-a" || !strings.HasPrefix(f.headers.Get("Authorization"), "Basic ") {
		t.Errorf("headers %v", f.headers)
	}
}

// TestRefusedEntries: Loki refuses entries older than it accepts (naming
// the oldest time it takes) and one it has other reasons for: those are
// rejected for good by line with Loki's words, the rest delivered.
func TestRefusedEntries(t *testing.T) {
	objs := genObjects(t, 1, 1000)
	var oldest time.Time
	var lines []int
	var poisoned int
	for _, b := range objs[0].Batches {
		for i := range b.Records {
			r := &b.Records[i]
			if oldest.IsZero() || time.Unix(r.End, 0).After(oldest) {
				oldest = time.Unix(r.End, 0)
			}
		}
	}
	oldest = oldest.Add(-2 * time.Minute)
	for _, b := range objs[0].Batches {
		for i := range b.Records {
			r := &b.Records[i]
			if r.Line == 500 {
				r.Bytes = 1 << 62
				poisoned = r.Line
			}
			if r.End < oldest.Unix() {
				lines = append(lines, r.Line)
			}
		}
	}
	f := &fakeLoki{respond: func(_ int, req *push.PushRequest) (int, map[string]string, string) {
		var msgs []string
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				if e.Timestamp.Before(oldest) {
					msgs = append(msgs, fmt.Sprintf("entry for stream '%s' has timestamp too old: %v, oldest acceptable timestamp is: %v", s.Labels, e.Timestamp.Format(time.RFC3339), oldest.Format(time.RFC3339)))
				}
				if strings.Contains(e.Line, poison) {
					msgs = append(msgs, "stream '"+s.Labels+"' entry refused: a reason flowlog cannot read")
				}
			}
		}
		if len(msgs) > 0 {
			return http.StatusBadRequest, nil, strings.Join(msgs[:min(3, len(msgs))], "\n") + fmt.Sprintf("\ntotal ignored: %d out of %d", len(msgs), len(req.Streams))
		}
		return http.StatusNoContent, nil, ""
	}}
	s := fakeSink(t, f, nil)
	r := deliverAll(t, s, objs)[0]
	var got []int
	for _, rej := range r.Rejects {
		got = append(got, rej.Line)
		if !strings.Contains(rej.Reason, "loki refused entries (400)") {
			t.Errorf("line %d: reason %q", rej.Line, rej.Reason)
		}
	}
	want := append(slices.Clone(lines), poisoned)
	slices.Sort(got)
	slices.Sort(want)
	want = slices.Compact(want)
	if r.Status() != sink.Rejected || !slices.Equal(got, want) || len(lines) == 0 {
		t.Fatalf("%v (%v): rejected lines %v, want %v", r.Status(), r.Err, got, want)
	}
	// The fake stores what Loki would have refused too; what counts is that
	// every entry Loki takes was pushed.
	distinct := map[string]bool{}
	for _, e := range f.entries {
		var ts int64
		fmt.Sscanf(strings.Split(e, "\x00")[1], "%d", &ts)
		if ts >= oldest.UnixNano() && !strings.Contains(e, poison) {
			distinct[e] = true
		}
	}
	if len(distinct) != 1000-len(want) {
		t.Errorf("%d distinct entries stored, want %d", len(distinct), 1000-len(want))
	}
}

// TestPermanentAndDown: wrong credentials fail at once in words; a
// receiver that is down fails the object after retry_for and says so in
// Ready.
func TestPermanentAndDown(t *testing.T) {
	f := &fakeLoki{respond: func(int, *push.PushRequest) (int, map[string]string, string) {
		return http.StatusUnauthorized, nil, "invalid token"
	}}
	s := fakeSink(t, f, func(c *Config) { c.BearerToken = "glc_wrong-token-value"; c.RetryFor = time.Minute })
	start := time.Now()
	r := deliverAll(t, s, genObjects(t, 1, 50))[0]
	if r.Status() != sink.Failed || !strings.Contains(r.Err.Error(), "check username, password, bearer_token") ||
		strings.Contains(r.Err.Error(), "wrong-token") || time.Since(start) > 5*time.Second {
		t.Errorf("401: %v (%v) after %s", r.Status(), r.Err, time.Since(start))
	}

	cfg := testConfig("http://127.0.0.1:1")
	cfg.RetryFor = 500 * time.Millisecond
	down := newSink(t, cfg)
	defer down.Close(context.Background())
	r = deliverAll(t, down, genObjects(t, 1, 50))[0]
	if r.Status() != sink.Failed || down.Ready() == nil {
		t.Errorf("receiver down: %v (%v), ready %v", r.Status(), r.Err, down.Ready())
	}
}

// TestCheck: --check pushes nothing but reaches Loki with the credentials,
// and reads how old an entry Loki still takes.
func TestCheck(t *testing.T) {
	f := &fakeLoki{}
	s := fakeSink(t, f, nil)
	if err := s.Check(t.Context()); err != nil || f.pushes != 1 || len(f.entries) != 0 {
		t.Errorf("check: %v, %d pushes, %d entries", err, f.pushes, len(f.entries))
	}
	if v := s.version(t.Context()); v != "3.5.1" {
		t.Errorf("version %q", v)
	}
	oldest, ok := s.AcceptsSince(t.Context())
	if want := time.Now().Add(-7 * 24 * time.Hour); !ok || oldest.Sub(want).Abs() > time.Minute {
		t.Errorf("accepts since %v (%v), want about %v", oldest, ok, want)
	}
	f.respond = func(int, *push.PushRequest) (int, map[string]string, string) { return http.StatusForbidden, nil, "no" }
	if err := s.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("check with 403: %v", err)
	}
}

// TestInvalidUTF8: ids and keys that are not UTF-8 (from object contents,
// file names) reach Loki as valid UTF-8, which it requires.
func TestInvalidUTF8(t *testing.T) {
	var bad []string
	var mu sync.Mutex
	f := &fakeLoki{respond: func(_ int, req *push.PushRequest) (int, map[string]string, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range req.Streams {
			if !utf8.ValidString(s.Labels) {
				bad = append(bad, s.Labels)
			}
			for _, e := range s.Entries {
				for _, m := range e.StructuredMetadata {
					if !utf8.ValidString(m.Value) {
						bad = append(bad, m.Name+"="+m.Value)
					}
				}
			}
		}
		return http.StatusNoContent, nil, ""
	}}
	s := fakeSink(t, f, nil)
	o := genObjects(t, 1, 20)[0]
	o.Obj.Key = "flows/\xff\xfe-1767225600.log.gz"
	for _, b := range o.Batches {
		for i := range b.Records {
			b.Records[i].AccountID = []byte("acct-\xc3")
		}
	}
	if r := deliverAll(t, s, []*sinktest.Object{o})[0]; r.Status() != sink.Delivered {
		t.Fatalf("%v (%v)", r.Status(), r.Err)
	}
	if len(bad) > 0 || len(f.entries) != 20 {
		t.Errorf("%d entries; not UTF-8: %q", len(f.entries), bad)
	}
}

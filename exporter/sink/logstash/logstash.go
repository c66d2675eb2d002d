// Package logstash is the Logstash output: ECS documents sent to a
// Logstash beats input over the Beats (Lumberjack v2) protocol, as Filebeat
// sends them, with go-lumber's client.
//
// Each batch goes as one window that Logstash acknowledges; an object is
// acknowledged once every window of it was. Delivery is at least once:
// after a crash or a failed window, an object is sent again whole, and
// Logstash cannot drop what it already has. Every document carries its
// event.id as @metadata._id, as Filebeat does, so a Logstash elasticsearch
// output with document_id => "%{[@metadata][_id]}" keeps Elasticsearch
// free of repeats.
package logstash

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	v2 "github.com/elastic/go-lumber/client/v2"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/internal/tlsconfig"
)

// Config is the Logstash output's configuration.
type Config struct {
	Hosts       []string      `yaml:"hosts"`       // host:port of beats inputs, tried in turn when one fails
	TLS         TLS           `yaml:"tls"`         // off unless enabled
	Compression int           `yaml:"compression"` // zlib level, 0 (off) to 9; default 3
	Timeout     time.Duration `yaml:"timeout"`     // for a window's acknowledgement
	Connections int           `yaml:"connections"` // windows in flight, one per connection
	RetryFor    time.Duration `yaml:"retry_for"`   // then the object fails and is sent again later
}

// TLS is whether and how to reach Logstash over TLS.
type TLS struct {
	Enabled          bool `yaml:"enabled"`
	tlsconfig.Config `yaml:",inline"`
}

// DefaultConfig has no host: one must be given.
func DefaultConfig() Config {
	return Config{Compression: 3, Timeout: 30 * time.Second, Connections: 2, RetryFor: time.Minute}
}

// Validate names the field that is wrong.
func (c Config) Validate() error {
	if len(c.Hosts) == 0 {
		return errors.New("hosts: at least one host:port of a beats input")
	}
	for i, h := range c.Hosts {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			return fmt.Errorf("hosts[%d]: %q: want host:port", i, h)
		}
	}
	if c.Compression < 0 || c.Compression > 9 {
		return fmt.Errorf("compression: %d: want 0 (off) to 9", c.Compression)
	}
	if c.Timeout <= 0 || c.RetryFor < 0 {
		return errors.New("timeout: want more than 0; retry_for: 0 or more")
	}
	if c.Connections < 1 || c.Connections > 64 {
		return fmt.Errorf("connections: %d: want 1 to 64", c.Connections)
	}
	return c.TLS.Validate()
}

// ParseURL reads the shorthand logstash://host:5044[,host:5044…][?tls=true].
func ParseURL(u string) (Config, error) {
	c := DefaultConfig()
	rest, ok := strings.CutPrefix(u, "logstash://")
	if !ok || rest == "" {
		return c, errors.New("want logstash://host:5044[,host:5044…]")
	}
	hosts, query, _ := strings.Cut(rest, "?")
	switch query {
	case "":
	case "tls=true":
		c.TLS.Enabled = true
	default:
		return c, errors.New("want logstash://host:5044[,host:5044…][?tls=true]")
	}
	for _, h := range strings.Split(strings.TrimSuffix(hosts, "/"), ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, "5044")
		}
		c.Hosts = append(c.Hosts, h)
	}
	return c, nil
}

// Sink sends documents to Logstash.
type Sink struct {
	cfg   Config
	dial  func(ctx context.Context, host string) (net.Conn, error)
	log   *slog.Logger
	conns chan *conn // idle connections, and nil slots for ones to dial
	next  int        // the host the next connection tries first
	mu    sync.Mutex
	ctx   context.Context
	stop  context.CancelFunc
	name  string
}

// conn is one connection to a beats input.
type conn struct {
	cl   *v2.SyncClient
	host string
}

// New returns the output; it connects when it first sends.
func New(cfg Config, deps sink.Deps) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, conns: make(chan *conn, cfg.Connections), name: "logstash " + strings.Join(cfg.Hosts, ",")}
	d := &net.Dialer{Timeout: 10 * time.Second}
	if cfg.TLS.Enabled {
		t, err := cfg.TLS.Build()
		if err != nil {
			return nil, err
		}
		s.dial = func(ctx context.Context, host string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "tcp", host)
			if err != nil {
				return nil, err
			}
			tc := t.Clone()
			if tc.ServerName == "" {
				tc.ServerName, _, _ = net.SplitHostPort(host)
			}
			tl := tlsClient(c, tc)
			if err := tl.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tl, nil
		}
	} else {
		s.dial = func(ctx context.Context, host string) (net.Conn, error) { return d.DialContext(ctx, "tcp", host) }
	}
	for range cfg.Connections {
		s.conns <- nil
	}
	s.log = deps.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "sink", "sink", s.name)
	s.ctx, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Name names the hosts.
func (s *Sink) Name() string { return s.name }

// Open starts an object.
func (s *Sink) Open(context.Context, *sink.Object) (sink.Writer, error) { return &writer{s: s}, nil }

// Close closes the idle connections.
func (s *Sink) Close(context.Context) error {
	s.stop()
	for range s.cfg.Connections {
		if c := <-s.conns; c != nil {
			c.cl.Close()
		}
	}
	return nil
}

type writer struct {
	s    *Sink
	docs []doc
	data []any
	buf  []byte
	ends []int
}

// doc is one document as go-lumber's encoder gets it: the bytes are ours
// already (a pointer, so handing it over allocates nothing).
type doc struct{ b []byte }

func passThrough(v any) ([]byte, error) { return v.(*doc).b, nil }

// Write sends the batch as one window and waits for Logstash's
// acknowledgement.
func (w *writer) Write(ctx context.Context, b *sink.Batch) error {
	w.buf, w.docs, w.data, w.ends = w.buf[:0], w.docs[:0], w.data[:0], w.ends[:0]
	for i := range b.Records {
		w.buf = appendWithMetadata(w.buf, b.Doc(i), b.Records[i].ID[:])
		w.ends = append(w.ends, len(w.buf))
	}
	start := 0
	for _, end := range w.ends {
		w.docs = append(w.docs, doc{b: w.buf[start:end]})
		start = end
	}
	for i := range w.docs {
		w.data = append(w.data, &w.docs[i])
	}
	return w.s.send(ctx, w.data)
}

// appendWithMetadata appends the ECS document with Filebeat's @metadata
// first: beat, type, version and _id, the record's event.id.
func appendWithMetadata(dst, ecsDoc, id []byte) []byte {
	dst = append(dst, `{"@metadata":{"beat":"flowlog","type":"_doc","version":"8.0.0","_id":"`...)
	dst = append(dst, id...) // base64url: nothing to escape
	dst = append(dst, `"}`...)
	if len(ecsDoc) > 2 {
		dst = append(dst, ',')
		dst = append(dst, ecsDoc[1:]...)
	} else {
		dst = append(dst, '}')
	}
	return dst
}

// End acknowledges the object: every window of it was acknowledged.
func (w *writer) End(ack func(sink.Result)) { ack(sink.Result{}) }

// Abort: windows sent cannot be taken back.
func (w *writer) Abort() {}

// send sends one window, retrying on another connection (the next host
// first) with backoff for retry_for.
func (s *Sink) send(ctx context.Context, data []any) error {
	deadline := time.Now().Add(s.cfg.RetryFor)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var c *conn
		select {
		case c = <-s.conns:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := s.sendOn(ctx, &c, data)
		s.conns <- c
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || s.ctx.Err() != nil || !time.Now().Before(deadline) {
			return fmt.Errorf("logstash: %w", err)
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("window not acknowledged; retrying", "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(backoff/2 + rand.N(backoff/2)):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// sendOn sends data on *c, dialing first when it is nil; a connection that
// failed is closed and *c set to nil.
func (s *Sink) sendOn(ctx context.Context, c **conn, data []any) error {
	if *c == nil {
		nc, err := s.connect(ctx)
		if err != nil {
			return err
		}
		*c = nc
	}
	n, err := (*c).cl.Send(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("%d of %d events acknowledged", n, len(data))
	}
	if err != nil {
		(*c).cl.Close()
		err = fmt.Errorf("%s: %w", (*c).host, err)
		*c = nil
	}
	return err
}

// connect dials the hosts in turn, starting after the last one used.
func (s *Sink) connect(ctx context.Context) (*conn, error) {
	s.mu.Lock()
	first := s.next
	s.next = (s.next + 1) % len(s.cfg.Hosts)
	s.mu.Unlock()
	var errs []error
	for i := range s.cfg.Hosts {
		host := s.cfg.Hosts[(first+i)%len(s.cfg.Hosts)]
		nc, err := s.dial(ctx, host)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cl, err := v2.NewSyncClientWithConn(nc, v2.JSONEncoder(passThrough), v2.Timeout(s.cfg.Timeout), v2.CompressionLevel(s.cfg.Compression))
		if err != nil {
			nc.Close()
			errs = append(errs, err)
			continue
		}
		return &conn{cl: cl, host: host}, nil
	}
	return nil, errors.Join(errs...)
}

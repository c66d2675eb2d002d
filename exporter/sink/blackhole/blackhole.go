// Package blackhole is the blackhole sink: it counts records and discards
// them, to measure the exporter itself. It holds nothing, so it drops
// nothing twice.
package blackhole

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/flowlog/flowlog/exporter/sink"
)

// Config is the blackhole sink's configuration.
type Config struct {
	// ECS encodes the documents before discarding them, to measure what a
	// JSON sink costs (true by default).
	ECS bool `yaml:"ecs"`
}

// DefaultConfig encodes ECS documents.
func DefaultConfig() Config { return Config{ECS: true} }

// Validate accepts every configuration.
func (Config) Validate() error { return nil }

// ParseURL reads the shorthand "blackhole".
func ParseURL(u string) (Config, error) {
	if u != "blackhole" && u != "blackhole://" {
		return Config{}, errors.New("want blackhole")
	}
	return DefaultConfig(), nil
}

// Sink counts and discards.
type Sink struct {
	cfg            Config
	records, bytes atomic.Int64
}

// New returns a blackhole.
func New(cfg Config, _ sink.Deps) (*Sink, error) { return &Sink{cfg: cfg}, nil }

// Name is "blackhole".
func (s *Sink) Name() string { return "blackhole" }

// Counts returns the records and ECS bytes received.
func (s *Sink) Counts() (records, bytes int64) { return s.records.Load(), s.bytes.Load() }

// Open returns a counting writer.
func (s *Sink) Open(context.Context, *sink.Object) (sink.Writer, error) { return writer{s}, nil }

// Close has nothing to deliver.
func (s *Sink) Close(context.Context) error { return nil }

type writer struct{ s *Sink }

func (w writer) Write(ctx context.Context, b *sink.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.s.records.Add(int64(b.Len()))
	if w.s.cfg.ECS {
		w.s.bytes.Add(int64(len(b.ECS())))
	}
	return nil
}

func (writer) End(ack func(sink.Result)) { ack(sink.Result{}) }
func (writer) Abort()                    {}

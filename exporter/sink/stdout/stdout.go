// Package stdout is the stdout sink: ECS documents as NDJSON on standard
// output, for pipes into other tools.
//
// Output cannot be taken back: an object delivered again after a failure or
// a crash repeats its documents (at least once); each document carries its
// event.id, so a consumer can drop repeats. Batches are written whole, so
// objects delivered in parallel never mix within a line.
package stdout

import (
	"bufio"
	"context"
	"errors"
	"sync"

	"github.com/flowlog/flowlog/exporter/sink"
)

// Config is the stdout sink's configuration: it has no settings.
type Config struct{}

// DefaultConfig returns the configuration.
func DefaultConfig() Config { return Config{} }

// Validate accepts every configuration.
func (Config) Validate() error { return nil }

// ParseURL reads the shorthand "stdout".
func ParseURL(u string) (Config, error) {
	if u != "stdout" && u != "stdout://" {
		return Config{}, errors.New("want stdout")
	}
	return Config{}, nil
}

// Sink writes to standard output.
type Sink struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// New returns a sink writing to deps.Stdout.
func New(_ Config, deps sink.Deps) (*Sink, error) {
	if deps.Stdout == nil {
		return nil, errors.New("stdout sink: no standard output")
	}
	return &Sink{w: bufio.NewWriterSize(deps.Stdout, 256<<10)}, nil
}

// Name is "stdout".
func (s *Sink) Name() string { return "stdout" }

// Open returns a writer sharing the output.
func (s *Sink) Open(context.Context, *sink.Object) (sink.Writer, error) { return writer{s}, nil }

// Close flushes the output.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Flush()
}

type writer struct{ s *Sink }

func (w writer) Write(ctx context.Context, b *sink.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	_, err := w.s.w.Write(b.ECS())
	return err
}

// End flushes: the documents have reached the pipe.
func (w writer) End(ack func(sink.Result)) {
	w.s.mu.Lock()
	err := w.s.w.Flush()
	w.s.mu.Unlock()
	ack(sink.Result{Err: err})
}

func (writer) Abort() {}

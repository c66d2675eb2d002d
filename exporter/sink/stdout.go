package sink

import (
	"bufio"
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// Stdout writes documents to standard output, whole batches at a time so
// that objects delivered in parallel never mix within a line. Output cannot
// be taken back: an object delivered again after a failure repeats its
// documents (at least once).
type Stdout struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// NewStdout returns a sink writing to w.
func NewStdout(w io.Writer) *Stdout { return &Stdout{w: bufio.NewWriterSize(w, 256<<10)} }

// Name is "stdout".
func (s *Stdout) Name() string { return "stdout" }

// Open returns a writer sharing the output.
func (s *Stdout) Open(context.Context, Object) (Writer, error) { return stdoutWriter{s}, nil }

type stdoutWriter struct{ s *Stdout }

func (w stdoutWriter) Write(_ context.Context, b *Batch) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	_, err := w.s.w.Write(b.Docs)
	return err
}

func (w stdoutWriter) Commit(context.Context) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.w.Flush()
}

func (stdoutWriter) Abort() {}

// Blackhole counts documents and discards them, to measure the pipeline itself.
type Blackhole struct {
	docs, bytes atomic.Int64
}

// Name is "blackhole".
func (b *Blackhole) Name() string { return "blackhole" }

// Open returns a counting writer.
func (b *Blackhole) Open(context.Context, Object) (Writer, error) { return blackholeWriter{b}, nil }

// Counts returns the documents and bytes received.
func (b *Blackhole) Counts() (docs, bytes int64) { return b.docs.Load(), b.bytes.Load() }

type blackholeWriter struct{ b *Blackhole }

func (w blackholeWriter) Write(_ context.Context, batch *Batch) error {
	w.b.docs.Add(int64(batch.Len()))
	w.b.bytes.Add(int64(len(batch.Docs)))
	return nil
}

func (blackholeWriter) Commit(context.Context) error { return nil }
func (blackholeWriter) Abort()                       {}

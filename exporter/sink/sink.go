// Package sink delivers ECS documents. A sink receives the documents of one
// object through a Writer and says, on Commit, when all of them are durable;
// only then does the exporter mark the object done.
package sink

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Object names the flow-log object whose documents a Writer receives.
type Object struct {
	Source string // source name, e.g. s3://flows or /var/lib/flowlog/objects
	Bucket string
	Key    string
	ETag   string
	Time   time.Time
}

// Batch is a run of NDJSON documents, each ending with "\n".
type Batch struct {
	Docs  []byte
	Ends  []int // end offset in Docs of each document
	Lines []int // line of the object each document comes from
}

// Doc returns document i, with its line end.
func (b *Batch) Doc(i int) []byte {
	start := 0
	if i > 0 {
		start = b.Ends[i-1]
	}
	return b.Docs[start:b.Ends[i]]
}

// Len returns the number of documents.
func (b *Batch) Len() int { return len(b.Ends) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.Docs = b.Docs[:0]
	b.Ends = b.Ends[:0]
	b.Lines = b.Lines[:0]
}

// Reject is one document a sink refused for good (a mapping conflict, a
// document too large): retrying cannot deliver it.
type Reject struct {
	Doc    int // index in the batch
	Reason string
}

// RejectError is returned by Write when the sink took the batch except the
// documents listed, which it refused for good. The exporter writes those to
// the dead-letter folder; the object is then done, not retried forever.
type RejectError struct {
	Rejects []Reject
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("%d documents rejected for good, first: %s", len(e.Rejects), e.Rejects[0].Reason)
}

// Sink delivers documents somewhere.
type Sink interface {
	// Name identifies the sink in logs and metrics.
	Name() string
	// Open starts the delivery of one object's documents.
	Open(ctx context.Context, o Object) (Writer, error)
}

// Writer receives the documents of one object, in order.
type Writer interface {
	// Write delivers a batch; it may keep b only until it returns. A
	// *RejectError says the rest of the batch was taken.
	Write(ctx context.Context, b *Batch) error
	// Commit returns once every document written is durable.
	Commit(ctx context.Context) error
	// Abort gives up the object; where the sink can, nothing of it shows.
	Abort()
}

// Address is a parsed sink address.
type Address struct {
	Kind string // stdout, blackhole or file
	Dir  string // for file
}

// Parse reads "stdout", "blackhole" or "file:///folder" without opening anything.
func Parse(addr string) (Address, error) {
	switch {
	case addr == "stdout" || addr == "blackhole":
		return Address{Kind: addr}, nil
	case strings.HasPrefix(addr, "file://"):
		dir := strings.TrimPrefix(addr, "file://")
		if dir == "" || !strings.HasPrefix(dir, "/") {
			return Address{}, fmt.Errorf("sink %q: want file:///absolute/folder", addr)
		}
		return Address{Kind: "file", Dir: dir}, nil
	}
	return Address{}, fmt.Errorf("sink %q: want stdout, blackhole or file:///folder", addr)
}

// Open returns the sink an address names. stdout is standard output.
func Open(addr string, stdout io.Writer) (Sink, error) {
	a, err := Parse(addr)
	if err != nil {
		return nil, err
	}
	switch a.Kind {
	case "stdout":
		return NewStdout(stdout), nil
	case "blackhole":
		return &Blackhole{}, nil
	}
	return NewFiles(a.Dir)
}

// Package sink is the contract between the exporter and the places records
// go. The exporter hands a sink typed records (the parsed record, its id, its
// enrichment, the object and line it came from) in batches; the sink encodes
// them its own way, may hold them across objects, and acknowledges each
// object later, once: delivered, some records rejected for good, or failed.
//
// An object is marked done only when every sink acknowledged it as delivered
// or rejected; across sinks the worst status wins (failed > rejected >
// delivered), and a failed object is delivered again later. Redelivery is
// idempotent by contract: a record carries the same ID on every delivery
// (hash of bucket, key, ETag and line), and each sink says in its package
// comment how it uses the ID so that the far end holds each record once.
package sink

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/recordid"
	"github.com/flowlog/flowlog/parser"
)

// Record is one record of an object with what the exporter adds to it.
type Record struct {
	parser.Record                    // the record as parsed
	ID            [recordid.Len]byte // event.id: the same on every delivery of this object version
	Line          int                // its line in the object, 1-based
	Enrich        enrich.Values
}

// Batch is a run of records of one object, in line order. The batches of an
// object version are cut at the same lines every time it is delivered, so
// (object, Seq) names the same records on a redelivery.
//
// A Batch and everything it refers to (records, their byte slices, the ECS
// documents) is valid only until Write returns: a sink that holds records
// past that copies or encodes them. Object stays valid until acknowledged.
type Batch struct {
	Object  *Object
	Seq     int // 0 for the first batch of the object
	Records []Record

	enc     *ecs.Encoder
	arena   arena
	bytes   int
	docs    []byte
	ends    []int
	encoded bool
}

// NewBatch returns an empty batch whose ECS documents enc encodes.
func NewBatch(enc *ecs.Encoder) *Batch { return &Batch{enc: enc} }

// Reset empties the batch for records of o, keeping its memory.
func (b *Batch) Reset(o *Object, seq int) {
	b.Object, b.Seq = o, seq
	b.Records = b.Records[:0]
	b.arena.reset()
	b.bytes = 0
	b.docs, b.ends, b.encoded = b.docs[:0], b.ends[:0], false
}

// Add appends a copy of rec and returns its slot, for the caller to set ID,
// Line and Enrich. The copy lives in the batch's memory: no allocation per
// record once the batch has grown.
func (b *Batch) Add(rec *parser.Record) *Record {
	if len(b.Records) < cap(b.Records) {
		b.Records = b.Records[:len(b.Records)+1]
	} else {
		b.Records = append(b.Records, Record{})
	}
	r := &b.Records[len(b.Records)-1]
	n := rec.CopySize()
	rec.CopyTo(&r.Record, b.arena.alloc(n))
	b.bytes += n
	b.encoded = false
	return r
}

// Len returns the number of records.
func (b *Batch) Len() int { return len(b.Records) }

// Bytes returns the size of the records' text: what the batch holds in memory.
func (b *Batch) Bytes() int { return b.bytes }

// ECS returns the batch as NDJSON: one ECS document per record, in order,
// each ending with "\n". It is encoded once per batch, however many sinks ask.
func (b *Batch) ECS() []byte {
	b.encode()
	return b.docs
}

// Doc returns the ECS document of record i, without line end.
func (b *Batch) Doc(i int) []byte {
	b.encode()
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.docs[start : b.ends[i]-1]
}

func (b *Batch) encode() {
	if b.encoded {
		return
	}
	b.docs, b.ends = b.docs[:0], b.ends[:0]
	for i := range b.Records {
		r := &b.Records[i]
		b.docs = b.enc.AppendECS(b.docs, &r.Record, r.ID[:], &r.Enrich)
		b.docs = append(b.docs, '\n')
		b.ends = append(b.ends, len(b.docs))
	}
	b.encoded = true
}

// arena hands out byte slices from chunks that never move, so slices handed
// out stay valid until reset.
type arena struct {
	chunks [][]byte
	cur    int
}

const chunkSize = 256 << 10

func (a *arena) alloc(n int) []byte {
	for ; a.cur < len(a.chunks); a.cur++ {
		c := a.chunks[a.cur]
		if cap(c)-len(c) >= n {
			a.chunks[a.cur] = c[:len(c)+n]
			return c[len(c) : len(c)+n : len(c)+n]
		}
	}
	c := make([]byte, n, max(n, chunkSize))
	a.chunks = append(a.chunks, c)
	return c[:n:n]
}

func (a *arena) reset() {
	for i := range a.chunks {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.cur = 0
}

// Status is how an object went at a sink. Larger is worse.
type Status uint8

// Statuses, from best to worst.
const (
	Delivered Status = iota // every record is durable at the far end
	Rejected                // the rest is durable; the records listed were refused for good
	Failed                  // not delivered: the object is delivered again later
)

func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Rejected:
		return "rejected"
	}
	return "failed"
}

// Result is a sink's acknowledgement of one object.
type Result struct {
	// Err, when set, fails the object: it is delivered again later.
	Err error
	// Rejects lists the records the far end refused for good (a mapping
	// conflict, a document too large): retrying cannot deliver them. They go
	// to the dead letters with the sink's reason; the object is done.
	Rejects []Reject
	// Duplicates counts records the far end already held from an earlier
	// delivery and dropped (they count as delivered).
	Duplicates int
}

// Status returns the result's status.
func (r *Result) Status() Status {
	switch {
	case r.Err != nil:
		return Failed
	case len(r.Rejects) > 0:
		return Rejected
	}
	return Delivered
}

// Reject is one record refused for good.
type Reject struct {
	Line   int    // the record's line in the object
	Reason string // the far end's words
	Doc    []byte // the document as the sink encoded it, when it has one (JSON)
}

// Sink delivers records somewhere.
type Sink interface {
	// Name identifies the sink in logs and metrics: its type and target,
	// never a secret.
	Name() string
	// Open starts the delivery of one object's records.
	Open(ctx context.Context, o *Object) (Writer, error)
	// Close delivers what the sink still holds and releases it: every
	// object ended before Close is acknowledged before it returns (as
	// failed, when ctx ends first).
	Close(ctx context.Context) error
}

// Writer receives the records of one object, batch by batch, in order.
type Writer interface {
	// Write takes a batch. The sink may deliver it now or hold it (within
	// its own bounds) to deliver with others. It returns promptly when ctx
	// ends. An error fails the object; Abort follows.
	Write(ctx context.Context, b *Batch) error
	// End says the object has no more records. The sink calls ack exactly
	// once, possibly later and from another goroutine, possibly before End
	// returns, when the object's fate at the far end is known.
	End(ack func(Result))
	// Abort gives the object up before End (it failed elsewhere). The sink
	// drops what it holds of it and, where it can promise that, nothing of
	// it becomes visible. No acknowledgement follows.
	Abort()
}

// Checker is a sink that can tell, before any work, whether its far end can
// be reached with its settings (flowlog export --check).
type Checker interface {
	Check(ctx context.Context) error
}

// Preparer is a sink with work to do at its far end before records flow
// (the ClickHouse schema). Prepare fails only for what retrying cannot
// cure; a far end it cannot reach is the sink's to try again later.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Readier is a sink that knows whether its far end takes records now
// (/readyz): nil when the last delivery or check reached it.
type Readier interface {
	Ready() error
}

// Deps are what sinks may use.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Stdout     io.Writer // where the stdout sink writes
	// Enrich is the enrichment the records arrive with: sinks with a
	// schema (ClickHouse) have a column for each value it fills. Nil means
	// enrich.DefaultConfig.
	Enrich *enrich.Config
}

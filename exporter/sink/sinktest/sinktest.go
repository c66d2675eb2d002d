// Package sinktest is the conformance suite every sink passes: its tests
// call Run with a Harness that can make the sink and read back what reached
// the far end.
package sinktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/recordid"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/parser"
)

// Harness is how the suite drives one sink.
type Harness struct {
	// New returns a sink over the far end. Called again, it is the sink
	// after a restart: what was delivered before stays at the far end.
	New func(t *testing.T) sink.Sink
	// Read returns how many times the far end holds each event id. Nil
	// when the far end keeps nothing (blackhole): Count is used instead.
	Read func(t *testing.T) map[string]int
	// Count returns how many records the far end received, when Read is nil.
	Count func(t *testing.T) int64
	// AtLeastOnce says the far end may hold a record twice after a crash,
	// an abort or a redelivery (stdout cannot take output back).
	AtLeastOnce bool
	// AbortLeavesNothing says nothing of an aborted object becomes visible.
	AbortLeavesNothing bool
	// Poison, when the sink can refuse records for good, changes a record
	// so that the far end refuses it.
	Poison func(r *sink.Record)
	// AckWithin bounds how long an acknowledgement may take (default 10 s).
	AckWithin time.Duration
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.AckWithin == 0 {
		h.AckWithin = 10 * time.Second
	}
	g := newGenerator(t)
	t.Run("DeliversEachRecordOnce", func(t *testing.T) { testDelivers(t, h, g) })
	t.Run("RedeliveryAfterCrash", func(t *testing.T) { testCrash(t, h, g) })
	t.Run("Abort", func(t *testing.T) { testAbort(t, h, g) })
	t.Run("RejectsNameTheirLines", func(t *testing.T) { testRejects(t, h, g) })
	t.Run("CancellationIsPrompt", func(t *testing.T) { testCancel(t, h, g) })
	t.Run("ManyObjectsInFlight", func(t *testing.T) { testMany(t, h, g) })
}

// Object is a generated object cut into batches, as the pipeline cuts it.
type Object struct {
	Obj     *sink.Object
	Batches []*sink.Batch
	IDs     []string
	Lines   []int
}

type generator struct {
	enc  *ecs.Encoder
	fill *enrich.Filler
	n    atomic.Int64
	mu   sync.Mutex
}

func newGenerator(t *testing.T) *generator {
	enc, err := ecs.New(ecs.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrich.New(enrich.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &generator{enc: enc, fill: en.NewFiller()}
}

// object returns an object of records records in batches of batch.
func (g *generator) object(t *testing.T, records, batch int) *Object {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	i := g.n.Add(1)
	cfg := gen.DefaultConfig()
	cfg.Records, cfg.Seed = records, uint64(i)
	gn, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	obj := &sink.Object{Source: "s3://conformance", Bucket: "conformance", Key: fmt.Sprintf("flowlogs/sinktest-%d-%d.log.gz", time.Now().UnixNano(), i),
		ETag: fmt.Sprintf(`"etag-%d"`, i), Time: time.Now(), Size: 1}
	o := Cut(t, obj, gn.Object(0), g.enc, g.fill, batch)
	return o
}

// Cut parses an object's bytes into batches of batch records, as the
// pipeline cuts them: ids, lines and enrichment (by fill) set.
func Cut(t testing.TB, obj *sink.Object, data []byte, enc *ecs.Encoder, fill *enrich.Filler, batch int) *Object {
	t.Helper()
	o := &Object{Obj: obj}
	ids := recordid.ForObject(obj.Bucket, obj.Key, obj.ETag)
	r := parser.NewReader(bytes.NewReader(data), obj.Key, parser.Options{})
	var b *sink.Batch
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b == nil || b.Len() == batch {
			b = sink.NewBatch(enc)
			b.Reset(obj, len(o.Batches))
			o.Batches = append(o.Batches, b)
		}
		sr := b.Add(rec)
		sr.Line = r.Line()
		ids.Append(sr.ID[:0], sr.Line)
		fill.Fill(&sr.Enrich, &sr.Record)
		o.IDs = append(o.IDs, string(sr.ID[:]))
		o.Lines = append(o.Lines, sr.Line)
	}
	return o
}

// Objects generates cfg.Objects objects (bucket "flows", keys under logs/)
// and cuts them into batches, enriched by e.
func Objects(t testing.TB, e enrich.Config, cfg gen.Config, batch int) []*Object {
	t.Helper()
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	enc, fill := Encoders(t, e)
	var out []*Object
	for i := range cfg.Objects {
		obj := &sink.Object{Source: "s3://flows", Bucket: "flows", Key: "logs/" + g.Key(i), ETag: fmt.Sprintf(`"%d"`, i), Time: time.Now(), Size: 1}
		out = append(out, Cut(t, obj, g.Object(i), enc, fill, batch))
	}
	return out
}

// Encoders returns the ECS encoder and an enrichment filler for e, as the
// pipeline has them; the enrichment is closed when the test ends.
func Encoders(t testing.TB, e enrich.Config) (*ecs.Encoder, *enrich.Filler) {
	t.Helper()
	en, err := enrich.New(e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { en.Close() })
	enc, err := ecs.New(ecs.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return enc, en.NewFiller()
}

// DeliverAll delivers objs at once and returns their acknowledgements, in
// order; it fails the test when one does not come within d.
func DeliverAll(t testing.TB, s sink.Sink, objs []*Object, d time.Duration) []sink.Result {
	t.Helper()
	var acks []<-chan sink.Result
	for _, o := range objs {
		acks = append(acks, Deliver(t, context.Background(), s, o))
	}
	out := make([]sink.Result, 0, len(objs))
	for i, a := range acks {
		select {
		case r := <-a:
			out = append(out, r)
		case <-time.After(d):
			t.Fatalf("%s: no acknowledgement within %s", objs[i].Obj, d)
		}
	}
	return out
}

// Deliver writes every batch of o and ends it; the returned channel gets
// the acknowledgement. It fails the test if the sink acknowledges twice.
func Deliver(t testing.TB, ctx context.Context, s sink.Sink, o *Object) <-chan sink.Result {
	t.Helper()
	w, err := s.Open(ctx, o.Obj)
	if err != nil {
		t.Fatalf("Open %s: %v", o.Obj, err)
	}
	for _, b := range o.Batches {
		if err := w.Write(ctx, b); err != nil {
			t.Fatalf("Write %s batch %d: %v", o.Obj, b.Seq, err)
		}
	}
	return end(t, w)
}

func end(t testing.TB, w sink.Writer) <-chan sink.Result {
	ch := make(chan sink.Result, 1)
	var once atomic.Bool
	w.End(func(r sink.Result) {
		if !once.CompareAndSwap(false, true) {
			t.Errorf("an object was acknowledged twice")
			return
		}
		ch <- r
	})
	return ch
}

func (h *Harness) wait(t *testing.T, ch <-chan sink.Result) sink.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(h.AckWithin):
		t.Fatalf("no acknowledgement within %s", h.AckWithin)
	}
	return sink.Result{}
}

// check compares the far end with the objects that must be there whole.
func (h *Harness) check(t *testing.T, objs []*Object, absent []*Object) {
	t.Helper()
	if h.Read == nil {
		return
	}
	held := h.Read(t)
	for _, o := range objs {
		for i, id := range o.IDs {
			n := held[id]
			if n == 0 || n > 1 && !h.AtLeastOnce {
				t.Fatalf("%s line %d (event.id %s) held %d times, want once", o.Obj, o.Lines[i], id, n)
			}
		}
	}
	for _, o := range absent {
		for i, id := range o.IDs {
			if held[id] > 0 {
				t.Fatalf("%s line %d (event.id %s) of an aborted object is visible", o.Obj, o.Lines[i], id)
			}
		}
	}
}

func closeSink(t *testing.T, s sink.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func testDelivers(t *testing.T, h Harness, g *generator) {
	s := h.New(t)
	objs := []*Object{g.object(t, 2500, 1000), g.object(t, 1, 1000), g.object(t, 3000, 1000)}
	var before int64
	if h.Count != nil {
		before = h.Count(t)
	}
	for _, o := range objs {
		if r := h.wait(t, Deliver(t, context.Background(), s, o)); r.Status() != sink.Delivered {
			t.Fatalf("%s: %v (%v)", o.Obj, r.Status(), r.Err)
		}
	}
	// The same object again, as after a crash before the checkpoint.
	if r := h.wait(t, Deliver(t, context.Background(), s, objs[0])); r.Status() != sink.Delivered {
		t.Fatalf("redelivery: %v (%v)", r.Status(), r.Err)
	}
	closeSink(t, s)
	h.check(t, objs, nil)
	if h.Count != nil {
		if got := h.Count(t) - before; got != 2500+1+3000+2500 {
			t.Errorf("%d records received, want %d", got, 2500+1+3000+2500)
		}
	}
}

func testCrash(t *testing.T, h Harness, g *generator) {
	s := h.New(t)
	o := g.object(t, 2500, 1000)
	w, err := s.Open(context.Background(), o.Obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range o.Batches[:2] {
		if err := w.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	// A crash: neither End nor Abort nor Close. The exporter starts again
	// and delivers the whole object.
	s2 := h.New(t)
	if r := h.wait(t, Deliver(t, context.Background(), s2, o)); r.Status() != sink.Delivered {
		t.Fatalf("after a crash: %v (%v)", r.Status(), r.Err)
	}
	closeSink(t, s2)
	h.check(t, []*Object{o}, nil)
	w.Abort()
	closeSink(t, s)
}

func testAbort(t *testing.T, h Harness, g *generator) {
	s := h.New(t)
	aborted, kept := g.object(t, 2500, 1000), g.object(t, 100, 1000)
	w, err := s.Open(context.Background(), aborted.Obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range aborted.Batches {
		if err := w.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	w.Abort()
	if r := h.wait(t, Deliver(t, context.Background(), s, kept)); r.Status() != sink.Delivered {
		t.Fatalf("%v (%v)", r.Status(), r.Err)
	}
	if h.AbortLeavesNothing {
		h.check(t, []*Object{kept}, []*Object{aborted})
	} else {
		h.check(t, []*Object{kept}, nil)
	}
	// The aborted object is delivered again, whole: each record once.
	if r := h.wait(t, Deliver(t, context.Background(), s, aborted)); r.Status() != sink.Delivered {
		t.Fatalf("redelivery after an abort: %v (%v)", r.Status(), r.Err)
	}
	closeSink(t, s)
	h.check(t, []*Object{kept, aborted}, nil)
}

func testRejects(t *testing.T, h Harness, g *generator) {
	if h.Poison == nil {
		t.Skip("the sink never refuses a record")
	}
	s := h.New(t)
	o := g.object(t, 2500, 1000)
	var want []int
	for _, b := range o.Batches {
		for i := range b.Records {
			if r := &b.Records[i]; r.Line%700 == 3 {
				h.Poison(r)
				want = append(want, r.Line)
			}
		}
	}
	r := h.wait(t, Deliver(t, context.Background(), s, o))
	closeSink(t, s)
	if r.Status() != sink.Rejected {
		t.Fatalf("status %v (%v), want rejected", r.Status(), r.Err)
	}
	var got []int
	for _, rej := range r.Rejects {
		got = append(got, rej.Line)
		if rej.Reason == "" {
			t.Errorf("line %d rejected without a reason", rej.Line)
		}
		if len(rej.Doc) > 0 && !json.Valid(rej.Doc) {
			t.Errorf("line %d: rejected document is not JSON", rej.Line)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("rejected lines %v, want %v", got, want)
	}
}

func testCancel(t *testing.T, h Harness, g *generator) {
	s := h.New(t)
	o := g.object(t, 2000, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.Open(ctx, o.Obj)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	start := time.Now()
	for _, b := range o.Batches {
		if err := w.Write(ctx, b); err != nil {
			break
		}
	}
	w.Abort()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("writes with an ended context took %s", took)
	}
	start = time.Now()
	dead, cancel2 := context.WithCancel(context.Background())
	cancel2()
	s.Close(dead)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close with an ended context took %s", took)
	}
}

func testMany(t *testing.T, h Harness, g *generator) {
	s := h.New(t)
	const n = 24
	objs := make([]*Object, n)
	for i := range objs {
		objs[i] = g.object(t, 50+i*40, 300)
	}
	// Open all, write their batches interleaved, end them in reverse: the
	// sink may acknowledge in any order, each object exactly once.
	ws := make([]sink.Writer, n)
	for i, o := range objs {
		w, err := s.Open(context.Background(), o.Obj)
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	var wg sync.WaitGroup
	for i, o := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range o.Batches {
				if err := ws[i].Write(context.Background(), b); err != nil {
					t.Errorf("%s: %v", o.Obj, err)
				}
			}
		}()
	}
	wg.Wait()
	chans := make([]<-chan sink.Result, n)
	for i := n - 1; i >= 0; i-- {
		chans[i] = end(t, ws[i])
	}
	for i, ch := range chans {
		if r := h.wait(t, ch); r.Status() != sink.Delivered {
			t.Fatalf("%s: %v (%v)", objs[i].Obj, r.Status(), r.Err)
		}
	}
	closeSink(t, s)
	h.check(t, objs, nil)
}

// ReadNDJSON counts the event ids of NDJSON documents.
func ReadNDJSON(t *testing.T, data []byte, into map[string]int) {
	t.Helper()
	for line := range bytes.Lines(data) {
		var doc struct {
			Event struct {
				ID string `json:"id"`
			} `json:"event"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatalf("not a JSON document: %v: %.200s", err, line)
		}
		if doc.Event.ID == "" {
			t.Fatalf("document without event.id: %.200s", line)
		}
		into[doc.Event.ID]++
	}
}

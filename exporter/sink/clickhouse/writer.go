package clickhouse

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/flowlog/flowlog/exporter/sink"
)

// Open starts an object.
func (s *Sink) Open(_ context.Context, o *sink.Object) (sink.Writer, error) {
	return &handle{s: s, obj: sink.NewParts(), cur: s.newWriter(o)}, nil
}

// handle is what the exporter writes one object to. The object's rows
// gather in a writer; an object with more than batch_rows records is cut
// into parts of batch_rows, each inserted as soon as it is full, so the
// memory an object takes is bounded however large it is.
type handle struct {
	s   *Sink
	obj *sink.Parts
	cur *writer // the part being filled
}

// Write adds the batch's records to the object's rows. While two inserts'
// worth of rows wait, it waits too: the sink's memory follows batch_rows,
// not how fast objects are read.
func (h *handle) Write(ctx context.Context, b *sink.Batch) error {
	if err := h.s.waitRoom(ctx); err != nil {
		return err
	}
	h.cur.add(b)
	if h.cur.rows >= h.s.cfg.BatchRows {
		// A full part of a large object goes to the next insert now.
		h.obj.Add()
		full, o := h.cur, h.cur.o
		full.ack = h.obj.Settle
		h.cur = h.s.newWriter(o) // before the full part is handed over: once it is, it is not ours
		h.s.enqueue(full)
	}
	return nil
}

// End queues the object's last part for the next insert.
func (h *handle) End(ack func(sink.Result)) {
	h.obj.End(ack)
	h.cur.ack = h.obj.Settle
	h.s.enqueue(h.cur)
	h.cur = nil
}

// Abort drops the rows not yet sent. Parts of a large object already
// queued are still inserted (a redelivery does not repeat them); no
// acknowledgement follows.
func (h *handle) Abort() {
	h.obj.Abort()
	if h.cur != nil {
		h.s.release(h.cur)
		h.cur = nil
	}
}

// writer holds rows of one object, a column buffer each.
type writer struct {
	s              *Sink
	o              *sink.Object
	bufs           []buffer
	rows           int
	ack            func(sink.Result)
	line, id       int // buffers of the line and event_id columns
	keep           []bool
	kept           int
	minEnd, maxEnd int64
}

func (s *Sink) newWriter(o *sink.Object) *writer {
	s.mu.Lock()
	var w *writer
	if n := len(s.free); n > 0 {
		w, s.free = s.free[n-1], s.free[:n-1]
	}
	s.mu.Unlock()
	if w == nil {
		w = &writer{s: s}
		for _, c := range s.schema.cols {
			w.bufs = append(w.bufs, c.buf())
		}
		w.line = slices.IndexFunc(s.schema.cols, func(c column) bool { return c.name == "line" })
		w.id = slices.IndexFunc(s.schema.cols, func(c column) bool { return c.name == "event_id" })
	}
	w.reset(o)
	return w
}

func (w *writer) reset(o *sink.Object) {
	w.o, w.rows, w.ack, w.keep, w.kept = o, 0, nil, w.keep[:0], 0
	w.minEnd, w.maxEnd = 0, 0
	for _, b := range w.bufs {
		b.reset(o)
	}
}

// add appends the batch's records to the columns.
func (w *writer) add(b *sink.Batch) {
	for i := range b.Records {
		r := &b.Records[i]
		for _, buf := range w.bufs {
			buf.add(r)
		}
		if w.rows == 0 || r.End < w.minEnd {
			w.minEnd = r.End
		}
		if w.rows == 0 || r.End > w.maxEnd {
			w.maxEnd = r.End
		}
		w.rows++
	}
}

func (s *Sink) waitRoom(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		full, room := s.rows >= 2*s.cfg.BatchRows && !s.closing, s.room
		s.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-room:
		case <-ctx.Done():
		}
	}
}

// enqueue hands a part to the flusher.
func (s *Sink) enqueue(w *writer) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.finish(w, sink.Result{Err: errors.New("clickhouse sink closed")})
		return
	}
	s.latest = time.Now()
	if len(s.pending) == 0 {
		s.oldest = s.latest
	}
	s.pending = append(s.pending, w)
	s.rows += w.rows
	s.m.pending.Set(float64(s.rows))
	s.mu.Unlock()
	s.wake() // to insert now if full, else to time the next insert
}

func (s *Sink) release(w *writer) {
	w.reset(nil)
	s.mu.Lock()
	// A few emptied writers are kept for their grown buffers; more would
	// hold memory the size of the largest objects seen.
	if len(s.free) < 8 {
		s.free = append(s.free, w)
	}
	s.mu.Unlock()
}

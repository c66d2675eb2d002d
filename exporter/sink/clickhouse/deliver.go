package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/flowlog/flowlog/exporter/sink"
)

// part is the rows of one object that go into an insert.
type part struct {
	w    *writer
	keep []bool // nil: every row
	n    int    // rows kept
}

// deliver inserts a group of objects, retrying what can be retried for
// retry_for, and acknowledges each object.
func (s *Sink) deliver(group []*writer) {
	deadline := time.Now().Add(s.cfg.RetryFor)
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := s.insertGroup(group)
		s.m.seconds.Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			s.m.inserts.WithLabelValues("ok").Inc()
			s.health.Set(nil)
			if s.lastErr != nil {
				s.log.Info("inserting again", "after", s.lastErr)
				s.lastErr = nil
			}
			s.warnExpired(group)
			for _, w := range group {
				s.finish(w, sink.Result{Duplicates: w.rows - w.kept})
			}
			return
		case errors.Is(err, errData):
			s.health.Set(nil)
			for _, w := range group {
				s.isolate(w)
			}
			return
		}
		s.health.Set(err)
		if errors.Is(err, ErrPermanent) || !time.Now().Before(deadline) || s.ctx.Err() != nil {
			s.m.inserts.WithLabelValues("failed").Inc()
			s.log.Error("insert failed; its objects will be delivered again", "objects", len(group), "attempts", attempt, "err", err)
			s.lastErr = err
			for _, w := range group {
				s.finish(w, sink.Result{Err: fmt.Errorf("clickhouse: %w", err)})
			}
			return
		}
		s.m.inserts.WithLabelValues("retried").Inc()
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("insert failed; retrying", "attempt", attempt, "in", backoff, "err", err)
		}
		s.lastErr = err
		select {
		case <-time.After(backoff/2 + rand.N(backoff/2)):
		case <-s.ctx.Done():
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// insertGroup makes sure of the schema, leaves out the rows the table
// already holds, and inserts the rest in one insert.
func (s *Sink) insertGroup(group []*writer) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.setup(ctx); err != nil {
		return err
	}
	rows := 0
	for _, w := range group {
		rows += w.rows
	}
	if rows == 0 {
		return nil // empty objects: nothing to insert
	}
	if err := s.leaveOutExisting(ctx, group); err != nil {
		return err
	}
	parts := make([]part, 0, len(group))
	for _, w := range group {
		parts = append(parts, part{w: w, keep: w.keep, n: w.kept})
	}
	return s.insert(ctx, parts, "")
}

// Prepare checks the schema, migrating it when setup is on, before any
// record flows: a change it refuses, wrong credentials or missing rights
// stop the exporter at start. A server it cannot reach is tried again
// before the first insert.
func (s *Sink) Prepare(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(s.cfg.Timeout, 30*time.Second))
	defer cancel()
	err := s.setup(ctx)
	s.health.Set(err)
	if err != nil && !errors.Is(err, ErrPermanent) {
		s.log.Warn("server not reachable; the schema is checked again before the first insert", "err", err)
		return nil
	}
	return err
}

// setup checks the schema once, migrating it when setup is on.
func (s *Sink) setup(ctx context.Context) error {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.ready {
		return nil
	}
	var err error
	if s.cfg.Setup {
		_, err = s.Migrate(ctx)
	} else if steps, perr := s.PlanMigration(ctx); perr != nil {
		err = perr
	} else if len(steps) > 0 {
		err = fmt.Errorf("%w: the schema of database %s needs %d changes and setup is off: run 'flowlog setup clickhouse' (first: %s)",
			ErrPermanent, s.cfg.Database, len(steps), steps[0].Why)
	}
	switch {
	case errors.Is(err, ErrUnsafe):
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	case err != nil:
		return classify(err)
	}
	s.ready = true
	return nil
}

// leaveOutExisting asks the flows table which rows of the group's objects
// it holds already and marks them left out (keep). Rows only get there by
// an earlier delivery of the same object version, so this is what makes a
// redelivery insert nothing twice.
func (s *Sink) leaveOutExisting(ctx context.Context, group []*writer) error {
	var minEnd, maxEnd int64
	buckets := map[string]bool{}
	var keys []string
	seen := map[string]bool{}
	total := 0
	for i, w := range group {
		total += w.rows
		w.keep, w.kept = w.keep[:0], w.rows
		if i == 0 || w.minEnd < minEnd {
			minEnd = w.minEnd
		}
		if i == 0 || w.maxEnd > maxEnd {
			maxEnd = w.maxEnd
		}
		buckets[w.o.Bucket] = true
		if !seen[w.o.Key] {
			seen[w.o.Key] = true
			keys = append(keys, quote(w.o.Key))
		}
	}
	// Many small objects make a long list of keys: it is asked in parts,
	// each well below the servers' default max_query_size (256 KiB).
	var have map[string]bool
	for len(keys) > 0 {
		n, size := 0, 0
		for n < len(keys) && (n == 0 || size+len(keys[n]) < 64<<10) {
			size += len(keys[n]) + 2
			n++
		}
		q := fmt.Sprintf("SELECT event_id FROM %s.%s WHERE flow_end >= toDateTime(%d) AND flow_end <= toDateTime(%d) AND bucket IN (%s) AND object_key IN (%s)",
			s.cfg.Database, s.schema.Flows.Name, max(minEnd, 0), max(maxEnd, 0), quoteAll(buckets), strings.Join(keys[:n], ", "))
		keys = keys[n:]
		rows, err := s.conn.Query(ctx, q)
		if err != nil {
			return classify(fmt.Errorf("look for rows already inserted: %w", err))
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("look for rows already inserted: %w", err)
			}
			if have == nil {
				have = map[string]bool{}
			}
			have[id] = true
			if len(have) > max(4*total, 1<<20) {
				// The answer holds the rows of these keys: this version's,
				// and an earlier version's when an object was rewritten.
				// Far more than that is not an answer about them; the cap
				// keeps a hostile or broken server from filling memory.
				rows.Close()
				return fmt.Errorf("look for rows already inserted: the server answered %d ids for objects of %d rows", len(have), total)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classify(fmt.Errorf("look for rows already inserted: %w", err))
		}
	}
	if have == nil {
		return nil
	}
	for _, w := range group {
		ids := w.bufs[w.id].(*strBuf)
		for i := 0; i < w.rows; i++ {
			if have[string(ids.at(i))] {
				if len(w.keep) == 0 {
					w.keep = make([]bool, w.rows)
					for j := range w.keep {
						w.keep[j] = true
					}
				}
				w.keep[i] = false
				w.kept--
			}
		}
		if w.kept < w.rows {
			s.m.duplicates.Add(float64(w.rows - w.kept))
		}
	}
	return nil
}

// insert sends the kept rows of parts in one insert. salt tells apart
// inserts of the same objects that hold different rows (isolating a
// refused row).
func (s *Sink) insert(ctx context.Context, parts []part, salt string) error {
	n := 0
	var ws []*writer
	for _, p := range parts {
		n += p.n
		ws = append(ws, p.w)
	}
	if n == 0 {
		return nil
	}
	// Columns no row of the insert uses (the fields of later versions in a
	// version-2 log, say) are left out: the server fills in their zero
	// values, and the insert is smaller to build, send and parse.
	var cols []int
	var names []string
	var types []clickhouse.ColumnNameAndType
	for i := range s.schema.cols {
		for _, p := range parts {
			if p.n > 0 && p.w.bufs[i].used() {
				cols = append(cols, i)
				names = append(names, s.types[i].Name)
				types = append(types, s.types[i])
				break
			}
		}
	}
	q := fmt.Sprintf("INSERT INTO %s.%s (%s) SETTINGS insert_deduplication_token = %s, deduplicate_blocks_in_dependent_materialized_views = 1",
		s.cfg.Database, s.schema.Flows.Name, strings.Join(names, ", "), quote(token(ws)+salt))
	if s.cfg.Cluster != "" {
		// The Distributed table answers once the shards have the rows, not
		// when it has queued them: only then is the object acknowledged.
		q += ", distributed_foreground_insert = 1"
	}
	batch, err := s.conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithColumnNamesAndTypes(types)), q)
	if err != nil {
		return s.insertErr(err)
	}
	defer batch.Abort()
	for j, i := range cols {
		col := batch.Column(j)
		for _, p := range parts {
			if p.n == 0 {
				continue
			}
			keep := p.keep
			if len(keep) == 0 {
				keep = nil
			}
			if err := p.w.bufs[i].appendTo(col, keep); err != nil {
				return fmt.Errorf("%w: column %s: %w", ErrPermanent, s.schema.cols[i].name, err)
			}
		}
	}
	if err := batch.Send(); err != nil {
		return s.insertErr(err)
	}
	s.m.rows.Add(float64(n))
	return nil
}

// insertErr classifies an insert error; a missing table sends the sink
// back to its schema check.
func (s *Sink) insertErr(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && (ex.Code == 60 || ex.Code == 81) {
		s.setupMu.Lock()
		s.ready = false
		s.setupMu.Unlock()
	}
	return classify(fmt.Errorf("insert into %s.%s: %w", s.cfg.Database, s.schema.Flows.Name, err))
}

// isolate inserts one object of a group the server refused, halving the
// rows it refuses until the refused rows are found; they are rejected for
// good with the server's words, the rest is inserted.
func (s *Sink) isolate(w *writer) {
	base := w.keep
	if len(base) == 0 {
		base = nil
	}
	var rejects []sink.Reject
	lines := w.bufs[w.line].(*numBuf[uint32])
	var try func(lo, hi int) error
	try = func(lo, hi int) error {
		keep := make([]bool, w.rows)
		n := 0
		for i := lo; i < hi; i++ {
			if base == nil || base[i] {
				keep[i] = true
				n++
			}
		}
		if n == 0 {
			return nil
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
		err := s.insert(ctx, []part{{w: w, keep: keep, n: n}}, fmt.Sprintf("-%d-%d", lo, hi))
		cancel()
		if !errors.Is(err, errData) {
			return err
		}
		if hi-lo == 1 {
			rejects = append(rejects, sink.Reject{Line: int(lines.vals[lo]), Reason: err.Error()})
			return nil
		}
		mid := (lo + hi) / 2
		if err := try(lo, mid); err != nil {
			return err
		}
		return try(mid, hi)
	}
	err := try(0, w.rows)
	if err != nil {
		s.finish(w, sink.Result{Err: fmt.Errorf("clickhouse: %w", err)})
		return
	}
	if len(rejects) > 0 {
		s.log.Warn("server refused rows", "object", w.o.String(), "rows", len(rejects), "first", rejects[0].Reason)
	}
	s.finish(w, sink.Result{Rejects: rejects, Duplicates: w.rows - w.kept})
}

// warnExpired says, at most once an hour, that rows older than the flows
// retention were inserted: ClickHouse's TTL drops them at once, which
// looks like loss to someone backfilling last year.
func (s *Sink) warnExpired(group []*writer) {
	keep := s.cfg.Retention.Flows
	if keep == 0 || time.Since(s.warnedExpired) < time.Hour {
		return
	}
	limit := time.Now().Add(-keep).Unix()
	for _, w := range group {
		if w.kept > 0 && w.minEnd < limit {
			s.warnedExpired = time.Now()
			s.log.Warn("inserted records older than the flows retention: ClickHouse drops them (raise retention.flows to keep them)",
				"object", w.o.String(), "oldest", time.Unix(w.minEnd, 0).UTC(), "retention", keep)
			return
		}
	}
}

func quoteAll(set map[string]bool) string {
	var q []string
	for k := range set {
		q = append(q, quote(k))
	}
	return strings.Join(q, ", ")
}

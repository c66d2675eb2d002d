package clickhouse

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

func ackWithin(t *testing.T, ch <-chan sink.Result, d time.Duration) sink.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("no acknowledgement within %s", d)
	}
	return sink.Result{}
}

// TestOverloadIntegration makes the server refuse inserts with "too many
// parts" for a while: the sink backs off and retries, the object is
// delivered once the server takes inserts again.
func TestOverloadIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	db := testDB(t)
	e := enrich.DefaultConfig()
	cfg := testConfig(ch, db)
	cfg.RetryFor = time.Minute
	reg := prometheus.NewRegistry()
	s, err := New(cfg, sink.Deps{Enrich: &e, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 2, 200
	objs := sinktest.Objects(t, e, gc, 1000)
	deliverAll(t, s, objs[:1])
	c := client(t, ch)
	ctx := context.Background()
	for _, q := range []string{"SYSTEM STOP MERGES " + db + ".flows", "ALTER TABLE " + db + ".flows MODIFY SETTING parts_to_throw_insert = 1"} {
		if err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	ack := sinktest.Deliver(t, ctx, s, objs[1])
	time.Sleep(2 * time.Second)
	select {
	case r := <-ack:
		t.Fatalf("acknowledged while the server refuses inserts: %v (%v)", r.Status(), r.Err)
	default:
	}
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "too many parts") {
		t.Errorf("Ready while overloaded: %v", err)
	}
	if err := c.Exec(ctx, "ALTER TABLE "+db+".flows MODIFY SETTING parts_to_throw_insert = 3000"); err != nil {
		t.Fatal(err)
	}
	if r := ackWithin(t, ack, 40*time.Second); r.Status() != sink.Delivered {
		t.Fatalf("after the overload: %v (%v)", r.Status(), r.Err)
	}
	if n := testutil.ToFloat64(s.m.inserts.WithLabelValues("retried")); n < 1 {
		t.Errorf("%v retried inserts counted", n)
	}
	var rows uint64
	if err := c.QueryRow(ctx, "SELECT count() FROM "+db+".flows").Scan(&rows); err != nil || rows != 400 {
		t.Errorf("%d rows (%v), want 400", rows, err)
	}
}

// TestPermanentErrorsIntegration: a wrong password and a table whose
// columns do not fit fail the object at once, in words naming what to fix,
// without a storm of retries.
func TestPermanentErrorsIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	e := enrich.DefaultConfig()
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 1, 100
	objs := sinktest.Objects(t, e, gc, 1000)
	ctx := context.Background()

	cfg := testConfig(ch, testDB(t))
	cfg.RetryFor = time.Minute
	cfg.Password = config.Secret("wrong-password")
	s := newSink(t, cfg, &e)
	start := time.Now()
	r := ackWithin(t, sinktest.Deliver(t, ctx, s, objs[0]), 10*time.Second)
	s.Close(ctx)
	if r.Status() != sink.Failed || !strings.Contains(r.Err.Error(), "authentication failed") || strings.Contains(r.Err.Error(), "wrong-password") {
		t.Errorf("wrong password: %v (%v)", r.Status(), r.Err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("wrong password: the failure took %s (retried?)", took)
	}

	// setup: false on a server without the schema: say how to make it.
	cfg = testConfig(ch, testDB(t))
	cfg.RetryFor, cfg.Setup = time.Minute, false
	s = newSink(t, cfg, &e)
	r = ackWithin(t, sinktest.Deliver(t, ctx, s, objs[0]), 10*time.Second)
	if r.Status() != sink.Failed || !strings.Contains(r.Err.Error(), "setup is off: run 'flowlog setup clickhouse'") {
		t.Errorf("setup off, no schema: %v (%v)", r.Status(), r.Err)
	}
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "setup is off") {
		t.Errorf("Check with setup off and no schema: %v", err)
	}
	s.Close(ctx)

	db := testDB(t)
	cfg = testConfig(ch, db)
	cfg.RetryFor = time.Minute
	s = newSink(t, cfg, &e)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	if err := client(t, ch).Exec(ctx, "ALTER TABLE "+db+".flows MODIFY COLUMN dst_port String"); err != nil {
		t.Fatal(err)
	}
	s = newSink(t, cfg, &e)
	defer s.Close(ctx)
	start = time.Now()
	r = ackWithin(t, sinktest.Deliver(t, ctx, s, objs[0]), 10*time.Second)
	if r.Status() != sink.Failed || !strings.Contains(r.Err.Error(), "flows column dst_port is String") {
		t.Errorf("a column of another type: %v (%v)", r.Status(), r.Err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a column of another type: the failure took %s (retried?)", took)
	}
}

// TestLargeObjectIntegration: an object of more than batch_rows records is
// inserted in parts as it is written, acknowledged once when every part
// is in; a redelivery (after an abort, or whole) inserts nothing twice.
func TestLargeObjectIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	db := testDB(t)
	e := enrich.DefaultConfig()
	cfg := testConfig(ch, db)
	cfg.BatchRows = 1000
	s := newSink(t, cfg, &e)
	defer s.Close(context.Background())
	ctx := context.Background()
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 2, 4500
	objs := sinktest.Objects(t, e, gc, 500)
	c := client(t, ch)
	count := func() uint64 {
		var n uint64
		if err := c.QueryRow(ctx, "SELECT count() FROM "+db+".flows").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Aborted after 6 of its 9 batches: the parts already full went in.
	w, err := s.Open(ctx, objs[0].Obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range objs[0].Batches[:6] {
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	w.Abort()
	deadline := time.Now().Add(20 * time.Second)
	for n := uint64(0); n < 3000 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		c.QueryRow(ctx, "SELECT count() FROM "+db+".flows").Scan(&n) // the table may not exist yet
	}
	if n := count(); n != 3000 {
		t.Fatalf("%d rows after aborting with 3 full parts, want 3000", n)
	}
	// Delivered again, whole, and the other object with a refused record.
	poisoned := objs[1].Batches[5].Records[7].Line
	objs[1].Batches[5].Records[7].Bytes = 1 << 62
	if err := c.Exec(ctx, "ALTER TABLE "+db+".flows ADD CONSTRAINT sane_bytes CHECK bytes < 1000000000000000"); err != nil {
		t.Fatal(err)
	}
	r0 := ackWithin(t, sinktest.Deliver(t, ctx, s, objs[0]), 30*time.Second)
	r1 := ackWithin(t, sinktest.Deliver(t, ctx, s, objs[1]), 30*time.Second)
	if r0.Status() != sink.Delivered || r0.Duplicates != 3000 {
		t.Errorf("redelivery after an abort: %v (%v), %d duplicates, want delivered and 3000", r0.Status(), r0.Err, r0.Duplicates)
	}
	if r1.Status() != sink.Rejected || len(r1.Rejects) != 1 || r1.Rejects[0].Line != poisoned {
		t.Errorf("large object with a refused record: %v (%v) %+v, want line %d rejected", r1.Status(), r1.Err, r1.Rejects, poisoned)
	}
	if n := count(); n != 8999 {
		t.Errorf("%d rows, want 8999", n)
	}
	r0 = ackWithin(t, sinktest.Deliver(t, ctx, s, objs[0]), 30*time.Second)
	if r0.Status() != sink.Delivered || r0.Duplicates != 4500 || count() != 8999 {
		t.Errorf("second redelivery: %v, %d duplicates, %d rows; want delivered, 4500, 8999", r0.Status(), r0.Duplicates, count())
	}
}

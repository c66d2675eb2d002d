package loki

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
	"github.com/flowlog/flowlog/parser"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig pushes to VictoriaLogs' Loki API under /insert.
func testConfig(url string) Config {
	c := DefaultConfig()
	c.URL = url
	c.BatchWait = 100 * time.Millisecond
	c.RetryFor = 5 * time.Second
	c.MinBackoff, c.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	return c
}

func newSink(t testing.TB, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, sink.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// held counts, per event_id, the distinct entries (stream, time, line)
// VictoriaLogs holds: what Loki, which drops exact repeats, would hold.
func held(t *testing.T, vl *testserver.VictoriaLogs) map[string]int {
	t.Helper()
	seen := map[string]bool{}
	got := map[string]int{}
	for _, e := range vl.Query("*") {
		k := e["_stream"] + "\x00" + e["_time"] + "\x00" + e["_msg"]
		if !seen[k] {
			seen[k] = true
			got[e["event_id"]]++
		}
	}
	return got
}

func TestConformanceIntegration(t *testing.T) {
	vl := testserver.StartVictoriaLogs(t)
	cfg := testConfig(vl.URL() + "/insert")
	sinktest.Run(t, sinktest.Harness{
		New:                func(t *testing.T) sink.Sink { return newSink(t, cfg) },
		Read:               func(t *testing.T) map[string]int { return held(t, vl) },
		AbortLeavesNothing: true,
		AckWithin:          20 * time.Second,
	})
}

func deliverAll(t *testing.T, s sink.Sink, objs []*sinktest.Object) []sink.Result {
	t.Helper()
	return sinktest.DeliverAll(t, s, objs, time.Minute)
}

// wantLine is the logfmt line of r, written out here independently of the
// sink's encoder.
func wantLine(r *sink.Record) string {
	addr := func(f parser.Field, a fmt.Stringer) string {
		if !r.Has(f) {
			return "-"
		}
		return a.String()
	}
	num := func(f parser.Field, n uint64) string {
		if !r.Has(f) {
			return "-"
		}
		return strconv.FormatUint(n, 10)
	}
	proto := "-"
	if r.Has(parser.FieldProtocol) {
		proto = ecs.Transport(r.Protocol)
	}
	return fmt.Sprintf("srcaddr=%s dstaddr=%s srcport=%s dstport=%s protocol=%s packets=%s bytes=%s start=%d end=%d",
		addr(parser.FieldSrcAddr, r.SrcAddr), addr(parser.FieldDstAddr, r.DstAddr), num(parser.FieldSrcPort, uint64(r.SrcPort)),
		num(parser.FieldDstPort, uint64(r.DstPort)), proto, num(parser.FieldPackets, r.Packets), num(parser.FieldBytes, r.Bytes), r.Start, r.End)
}

// TestEntriesIntegration reads every record of generated objects back from
// VictoriaLogs: labels, line, structured metadata and nanosecond time.
func TestEntriesIntegration(t *testing.T) {
	vl := testserver.StartVictoriaLogs(t)
	cfg := testConfig(vl.URL() + "/insert")
	cfg.Labels = map[string]string{"env": "test"}
	cfg.BatchBytes = 256 << 10 // several pushes
	s := newSink(t, cfg)
	e := enrich.DefaultConfig()
	e.LocalNetworks = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 3, 2000
	objs := sinktest.Objects(t, e, gc, 1000)
	for _, r := range deliverAll(t, s, objs) {
		if r.Status() != sink.Delivered {
			t.Fatalf("%v (%v)", r.Status(), r.Err)
		}
	}
	s.Close(context.Background())
	want := map[string]*sink.Record{}
	keyOf := map[string]string{}
	var nodata, v6 int
	for _, o := range objs {
		for _, b := range o.Batches {
			for i := range b.Records {
				r := &b.Records[i]
				want[string(r.ID[:])] = r
				keyOf[string(r.ID[:])] = o.Obj.Key
				if r.LogStatus != parser.LogStatusOK {
					nodata++
				}
				if r.SrcAddr.Is6() {
					v6++
				}
			}
		}
	}
	if nodata == 0 || v6 == 0 {
		t.Fatalf("generated data lacks a case: %d NODATA/SKIPDATA, %d IPv6", nodata, v6)
	}
	entries := vl.Query("*")
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(entries), len(want))
	}
	nanos := map[int]bool{}
	for _, got := range entries {
		id := got["event_id"]
		r := want[id]
		if r == nil {
			t.Fatalf("entry with event_id %q that no record has", id)
		}
		stream := fmt.Sprintf(`{account_id=%q,action=%q,env="test",interface_id=%q,job="flowlog",log_status=%q}`,
			r.AccountID, r.Action.String(), r.InterfaceID, r.LogStatus.String())
		ts, err := time.Parse(time.RFC3339Nano, got["_time"])
		if err != nil {
			t.Fatal(err)
		}
		nanos[ts.Nanosecond()/1e6] = true
		checks := []struct{ field, got, want string }{
			{"_stream", got["_stream"], stream},
			{"_msg", got["_msg"], wantLine(r)},
			{"_time (seconds)", strconv.FormatInt(ts.Unix(), 10), strconv.FormatInt(r.End, 10)},
			{"_time (nanoseconds)", strconv.FormatInt(ts.UnixNano(), 10), strconv.FormatInt(timestamp(r), 10)},
			{"community_id", got["community_id"], string(r.Enrich.CommunityID())},
			{"direction", got["direction"], r.Enrich.Direction},
			{"service", got["service"], r.Enrich.Service},
			{"object_key", got["object_key"], keyOf[id]},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Fatalf("event_id %s (line %d) %s = %q, want %q", id, r.Line, c.field, c.got, c.want)
			}
		}
		delete(want, id)
	}
	if len(nanos) < 100 {
		t.Errorf("sub-second offsets fall in only %d distinct milliseconds", len(nanos))
	}
	if entries[0]["srcport"] != "" {
		t.Errorf("the line was parsed into fields: %v", entries[0])
	}
}

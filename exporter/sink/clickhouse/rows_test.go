package clickhouse

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
	"github.com/flowlog/flowlog/parser"
)

// deliverAll delivers objs and fails the test unless every one is
// delivered.
func deliverAll(t *testing.T, s sink.Sink, objs []*sinktest.Object) {
	t.Helper()
	for i, r := range sinktest.DeliverAll(t, s, objs, time.Minute) {
		if r.Status() != sink.Delivered {
			t.Fatalf("%s: %v (%v)", objs[i].Obj, r.Status(), r.Err)
		}
	}
}

// TestRowsIntegration reads back every row of generated objects (IPv4 and
// IPv6, NODATA and SKIPDATA, every enrichment on) and compares it with the
// parsed record field by field; then the rollups with sums over flows.
func TestRowsIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	db := testDB(t)
	e := sinktest.FullEnrichment(t)
	cfg := testConfig(ch, db)
	cfg.BatchRows = 3000 // several inserts, objects shared between them
	s := newSink(t, cfg, &e)
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 4, 2500
	objs := sinktest.Objects(t, e, gc, 1000)
	deliverAll(t, s, objs)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]*sink.Record{}
	keyOf := map[string]string{}
	var nodata, skipdata, v6 int
	var sumBytes, sumPackets uint64
	for _, o := range objs {
		for _, b := range o.Batches {
			for i := range b.Records {
				r := &b.Records[i]
				want[string(r.ID[:])] = r
				keyOf[string(r.ID[:])] = o.Obj.Key
				switch r.LogStatus {
				case parser.LogStatusNoData:
					nodata++
				case parser.LogStatusSkipData:
					skipdata++
				}
				if r.SrcAddr.Is6() {
					v6++
				}
				sumBytes += r.Bytes
				sumPackets += r.Packets
			}
		}
	}
	if nodata == 0 || skipdata == 0 || v6 == 0 {
		t.Fatalf("generated data lacks a case: %d NODATA, %d SKIPDATA, %d IPv6", nodata, skipdata, v6)
	}
	c := client(t, ch)
	ctx := context.Background()
	rows, err := c.Query(ctx, `SELECT event_id, flow_start, flow_end, version, account_id, interface_id, src_addr, dst_addr,
		src_port, dst_port, protocol, packets, bytes, action, log_status, direction, community_id, service, src_class, dst_class,
		src_country, dst_country, src_city, dst_city, src_as, dst_as, src_as_org, dst_as_org, bucket, object_key, line
		FROM `+db+`.flows`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			id, account, iface, action, status, dir, cid, service, srcClass, dstClass string
			srcCountry, dstCountry, srcCity, dstCity, srcOrg, dstOrg, bucket, key     string
			start, end                                                                time.Time
			version, proto                                                            uint8
			src, dst                                                                  netip.Addr
			sport, dport                                                              uint16
			packets, byts                                                             uint64
			srcAS, dstAS, line                                                        uint32
		)
		if err := rows.Scan(&id, &start, &end, &version, &account, &iface, &src, &dst, &sport, &dport, &proto, &packets, &byts,
			&action, &status, &dir, &cid, &service, &srcClass, &dstClass, &srcCountry, &dstCountry, &srcCity, &dstCity,
			&srcAS, &dstAS, &srcOrg, &dstOrg, &bucket, &key, &line); err != nil {
			t.Fatal(err)
		}
		n++
		r := want[id]
		if r == nil {
			t.Fatalf("row with event_id %q that no record has", id)
		}
		g := func(x *enrich.Geo) enrich.Geo {
			if x == nil {
				return enrich.Geo{}
			}
			return *x
		}
		sg, dg := g(r.Enrich.Src), g(r.Enrich.Dst)
		addr := func(a netip.Addr) netip.Addr {
			if !a.IsValid() {
				return netip.IPv6Unspecified()
			}
			return netip.AddrFrom16(a.As16())
		}
		checks := []struct {
			field     string
			got, want any
		}{
			{"flow_start", start.Unix(), r.Start}, {"flow_end", end.Unix(), r.End}, {"version", version, r.Version},
			{"account_id", account, string(r.AccountID)}, {"interface_id", iface, string(r.InterfaceID)},
			{"src_addr", src, addr(r.SrcAddr)}, {"dst_addr", dst, addr(r.DstAddr)}, {"src_port", sport, r.SrcPort},
			{"dst_port", dport, r.DstPort}, {"protocol", proto, r.Protocol}, {"packets", packets, r.Packets}, {"bytes", byts, r.Bytes},
			{"action", action, r.Action.String()}, {"log_status", status, r.LogStatus.String()}, {"direction", dir, r.Enrich.Direction},
			{"community_id", cid, string(r.Enrich.CommunityID())}, {"service", service, r.Enrich.Service},
			{"src_class", srcClass, r.Enrich.SrcClass}, {"dst_class", dstClass, r.Enrich.DstClass},
			{"src_country", srcCountry, sg.CountryISOCode}, {"dst_country", dstCountry, dg.CountryISOCode},
			{"src_city", srcCity, sg.CityName}, {"dst_city", dstCity, dg.CityName}, {"src_as", srcAS, sg.ASNumber}, {"dst_as", dstAS, dg.ASNumber},
			{"src_as_org", srcOrg, sg.ASOrganization}, {"dst_as_org", dstOrg, dg.ASOrganization},
			{"bucket", bucket, "flows"}, {"object_key", key, keyOf[id]}, {"line", int(line), r.Line},
		}
		for _, ck := range checks {
			if ck.got != ck.want {
				t.Fatalf("event_id %s (line %d) %s = %v, want %v", id, r.Line, ck.field, ck.got, ck.want)
			}
		}
		delete(want, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) != 0 || n != gc.Objects*gc.Records {
		t.Fatalf("%d rows read, %d records never found; want %d rows", n, len(want), gc.Objects*gc.Records)
	}
	var geoRows uint64
	if err := c.QueryRow(ctx, "SELECT countIf(src_country != '' OR dst_country != '') FROM "+db+".flows").Scan(&geoRows); err != nil || geoRows == 0 {
		t.Errorf("no row has a country (%v): the GeoIP columns are not filled", err)
	}

	// The rollups count what flows holds, by every dimension.
	for _, rollup := range []string{"flows_1m", "flows_1h"} {
		var b, p, f uint64
		if err := c.QueryRow(ctx, "SELECT sum(bytes), sum(packets), sum(flows) FROM "+db+"."+rollup).Scan(&b, &p, &f); err != nil {
			t.Fatal(err)
		}
		if b != sumBytes || p != sumPackets || int(f) != gc.Objects*gc.Records {
			t.Errorf("%s: bytes %d packets %d flows %d; want %d, %d, %d", rollup, b, p, f, sumBytes, sumPackets, gc.Objects*gc.Records)
		}
		var diff uint64
		q := fmt.Sprintf(`SELECT count() FROM (
			SELECT interface_id, log_status, action, direction, service, src_country, dst_as, sum(bytes) AS b, sum(flows) AS f FROM %[1]s.%[2]s GROUP BY ALL
		) AS r FULL OUTER JOIN (
			SELECT interface_id, log_status, action, direction, service, src_country, dst_as, sum(bytes) AS b, count() AS f FROM %[1]s.flows GROUP BY ALL
		) AS w USING (interface_id, log_status, action, direction, service, src_country, dst_as) WHERE r.b != w.b OR r.f != w.f`, db, rollup)
		if err := c.QueryRow(ctx, q).Scan(&diff); err != nil {
			t.Fatal(err)
		}
		if diff != 0 {
			t.Errorf("%s: %d groups differ from the sums over flows", rollup, diff)
		}
		var gaps uint64
		if err := c.QueryRow(ctx, "SELECT sum(flows) FROM "+db+"."+rollup+" WHERE log_status IN ('NODATA', 'SKIPDATA')").Scan(&gaps); err != nil {
			t.Fatal(err)
		}
		if int(gaps) != nodata+skipdata {
			t.Errorf("%s: %d NODATA/SKIPDATA windows, want %d", rollup, gaps, nodata+skipdata)
		}
	}

	// The README's example queries run on this schema (the data is older
	// than their time ranges: they must run, not find).
	qs := readmeQueries(t)
	if len(qs) != 5 {
		t.Errorf("README has %d example queries, want 5", len(qs))
	}
	for _, q := range qs {
		rows, err := c.Query(ctx, strings.ReplaceAll(q, "flowlog.", db+"."))
		if err != nil {
			t.Errorf("README query fails: %v\n%s", err, q)
			continue
		}
		rows.Close()
	}
}

// readmeQueries returns the example queries of the README's ClickHouse
// section, one statement each.
func readmeQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "<!-- clickhouse-queries -->\n```sql\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README: no clickhouse-queries block")
	}
	var qs []string
	for _, q := range strings.Split(block, ";") {
		var lines []string
		for _, l := range strings.Split(q, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
			qs = append(qs, q)
		}
	}
	return qs
}

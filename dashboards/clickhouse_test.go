package dashboards

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flowlog/flowlog/dashboards/build"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	chsink "github.com/flowlog/flowlog/exporter/sink/clickhouse"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

// flow is one delivered record as the independent computation sees it.
type flow struct {
	iface, action, status, service, country, direction, key string
	src, dst                                                string
	sport, dport                                            uint16
	proto                                                   uint8
	start, end                                              int64
	bytes, packets                                          uint64
	as                                                      uint32
}

// chData is a ClickHouse database the sink wrote from generated objects
// of two flow logs, and the records it holds.
type chData struct {
	conn     driver.Conn
	db       string
	flows    []flow
	from, to time.Time
}

func newCHData(t *testing.T) *chData {
	t.Helper()
	ch := testserver.StartClickHouse(t)
	e := sinktest.FullEnrichment(t)
	cfg := chsink.DefaultConfig()
	cfg.Protocol, cfg.Compression = "http", "gzip"
	cfg.Addresses = []string{ch.Addr()}
	cfg.User, cfg.Password = ch.User, config.Secret(ch.Password)
	cfg.Database = "dash"
	cfg.Flush = 100 * time.Millisecond
	cfg.Retention = chsink.Retention{} // generated records are from January: no TTL
	s, err := chsink.New(cfg, sink.Deps{Enrich: &e})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	d := &chData{db: cfg.Database}
	for i, name := range []string{"web", "db"} {
		gc := gen.DefaultConfig()
		gc.Name, gc.Seed, gc.Objects, gc.Records = name, uint64(7+i), 3, 2000
		objs := sinktest.Objects(t, e, gc, 500)
		for _, r := range sinktest.DeliverAll(t, s, objs, time.Minute) {
			if r.Status() != sink.Delivered {
				t.Fatalf("delivery: %+v", r)
			}
		}
		for _, o := range objs {
			for _, b := range o.Batches {
				for i := range b.Records {
					d.flows = append(d.flows, flowOf(&b.Records[i], o.Obj.Key))
				}
			}
		}
		if i == 0 {
			d.from = gc.Start.Add(-time.Hour)
			d.to = gc.Start.Add(time.Duration(gc.Objects)*gc.Interval + time.Hour)
		}
	}
	// A port scan and a host sweep, for the scans panel: the generator's
	// rejected flows come from peers that mostly talk normally.
	scan := scanObject(t, e, d.from.Add(time.Hour+100*time.Second))
	for _, r := range sinktest.DeliverAll(t, s, []*sinktest.Object{scan}, time.Minute) {
		if r.Status() != sink.Delivered {
			t.Fatalf("delivery: %+v", r)
		}
	}
	for _, b := range scan.Batches {
		for i := range b.Records {
			d.flows = append(d.flows, flowOf(&b.Records[i], scan.Obj.Key))
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	d.conn, err = clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr()}, Protocol: clickhouse.HTTP,
		Auth: clickhouse.Auth{Username: ch.User, Password: ch.Password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.conn.Close() })
	// The rollups are SummingMergeTree: rows of a key add up at merges, and
	// the panels sum them anyway.
	return d
}

// scanObject is an object of known content: 198.51.100.7 probing 30 ports
// of one host (2 answered), 203.0.113.9 sweeping port 22 of 15 hosts, all
// rejected.
func scanObject(t *testing.T, e enrich.Config, at time.Time) *sinktest.Object {
	t.Helper()
	var text strings.Builder
	text.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	line := func(src, dst string, port int, action string) {
		fmt.Fprintf(&text, "2 12345678 eni-scanned %s %s 40000 %d 6 1 60 %d %d %s OK\n", src, dst, port, at.Unix(), at.Unix()+1, action)
	}
	for p := 1; p <= 30; p++ {
		action := "REJECT"
		if p == 22 || p == 25 {
			action = "ACCEPT"
		}
		line("198.51.100.7", "10.17.0.200", p, action)
	}
	for h := 1; h <= 15; h++ {
		line("203.0.113.9", fmt.Sprintf("10.17.1.%d", h), 22, "REJECT")
	}
	enc, fill := sinktest.Encoders(t, e)
	obj := &sink.Object{Source: "s3://flows", Bucket: "flows", Key: "logs/scan.log", ETag: `"scan"`, Time: time.Now(), Size: 1}
	return sinktest.Cut(t, obj, []byte(text.String()), enc, fill, 100)
}

func flowOf(r *sink.Record, key string) flow {
	f := flow{iface: string(r.InterfaceID), action: r.Action.String(), status: r.LogStatus.String(),
		service: r.Enrich.Service, direction: r.Enrich.Direction, key: key,
		sport: r.SrcPort, dport: r.DstPort, proto: r.Protocol, start: r.Start, end: r.End,
		bytes: r.Bytes, packets: r.Packets}
	if r.SrcAddr.IsValid() {
		f.src = r.SrcAddr.String()
	} else {
		f.src = "::"
	}
	if r.DstAddr.IsValid() {
		f.dst = r.DstAddr.String()
	} else {
		f.dst = "::"
	}
	if g := r.Enrich.Src; g != nil {
		f.country, f.as = g.CountryISOCode, g.ASNumber
	}
	return f
}

// expand does what Grafana and the ClickHouse plugin do to a panel's SQL
// before it reaches the server: variables replaced (multi-value ones as
// quoted lists, "All" as '__all'), then the plugin's macros.
func expand(sql string, vars map[string][]string, from, to time.Time, interval time.Duration) string {
	sql = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}`).ReplaceAllStringFunc(sql, func(m string) string {
		parts := regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}`).FindStringSubmatch(m)
		vals, ok := vars[parts[1]]
		if !ok {
			return m
		}
		if parts[2] == "singlequote" {
			q := make([]string, len(vals))
			for i, v := range vals {
				q[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
			}
			return strings.Join(q, ",")
		}
		return strings.Join(vals, ",")
	})
	dt := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	sql = regexp.MustCompile(`\$__timeFilter\((\w+)\)`).ReplaceAllString(sql, "$1 >= "+dt(from)+" AND $1 <= "+dt(to))
	sql = regexp.MustCompile(`\$__timeInterval\((\w+)\)`).ReplaceAllString(sql,
		fmt.Sprintf("toStartOfInterval(toDateTime($1), INTERVAL %d second)", int(interval.Seconds())))
	return sql
}

// query runs sql and returns its rows, numbers as int64 or float64,
// addresses and strings as strings, times as unix seconds.
func (d *chData) query(t *testing.T, sql string) ([]map[string]any, error) {
	t.Helper()
	rows, err := d.conn.Query(context.Background(), sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := rows.ColumnTypes()
	var out []map[string]any
	for rows.Next() {
		ptrs := make([]any, len(cols))
		for i, c := range cols {
			ptrs[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := map[string]any{}
		for i, c := range cols {
			row[c.Name()] = normalize(reflect.ValueOf(ptrs[i]).Elem().Interface())
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

func normalize(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.Unix()
	case net.IP:
		return x.String()
	case string, float64:
		return x
	case float32:
		return float64(x)
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanUint():
		return int64(rv.Uint())
	case rv.CanInt():
		return rv.Int()
	}
	return fmt.Sprint(v)
}

// chPanel is a panel of the ClickHouse dashboard and its one query.
type chPanel struct{ title, sql string }

func clickHousePanels(t *testing.T) ([]chPanel, []string) {
	t.Helper()
	g := readGrafana(t, grafanaDashboards(t)["flowlog-clickhouse.json"])
	var out []chPanel
	for _, p := range g.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) != 1 {
			t.Fatalf("panel %q: %d queries, want 1", p.Title, len(p.Targets))
		}
		out = append(out, chPanel{p.Title, p.Targets[0].RawSQL})
	}
	var varQueries []string
	for _, v := range g.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			varQueries = append(varQueries, q)
		}
	}
	return out, varQueries
}

// TestClickHousePanelsIntegration runs every panel's query of the
// ClickHouse dashboard, macros expanded, on the real ClickHouse engine over
// what the sink wrote, and compares each with the same figure computed in
// Go from the delivered records.
func TestClickHousePanelsIntegration(t *testing.T) {
	d := newCHData(t)
	panels, varQueries := clickHousePanels(t)
	all := []string{build.AllValue}
	vars := map[string][]string{"database": {d.db}, "rollup": {"flows_1m"}, "scan_min": {"10"},
		"account": all, "interface": all, "action": all, "direction": all}
	const interval = 10 * time.Minute
	run := func(sql string, vars map[string][]string) []map[string]any {
		t.Helper()
		rows, err := d.query(t, expand(sql, vars, d.from, d.to, interval))
		if err != nil {
			t.Fatalf("%v\n%s", err, expand(sql, vars, d.from, d.to, interval))
		}
		return rows
	}
	ok := func(f flow) bool { return f.status == "OK" }
	rejected := func(f flow) bool { return f.action == "REJECT" }

	checks := map[string]func(t *testing.T, rows []map[string]any){
		"Bytes":          func(t *testing.T, rows []map[string]any) { want1(t, rows, "value", sum(d.flows, ok, bytesOf)) },
		"Packets":        func(t *testing.T, rows []map[string]any) { want1(t, rows, "value", sum(d.flows, ok, packetsOf)) },
		"Flows":          func(t *testing.T, rows []map[string]any) { want1(t, rows, "value", sum(d.flows, ok, one)) },
		"Rejected flows": func(t *testing.T, rows []map[string]any) { want1(t, rows, "value", sum(d.flows, rejected, one)) },
		"Bytes by action": func(t *testing.T, rows []map[string]any) {
			wantSeries(t, rows, "action", "value", d.flows, ok, func(f flow) string { return f.action }, bytesOf, interval)
		},
		"Packets by action": func(t *testing.T, rows []map[string]any) {
			wantSeries(t, rows, "action", "value", d.flows, ok, func(f flow) string { return f.action }, packetsOf, interval)
		},
		"Flows by action": func(t *testing.T, rows []map[string]any) {
			wantSeries(t, rows, "action", "value", d.flows, ok, func(f flow) string { return f.action }, one, interval)
		},
		"Top sources": func(t *testing.T, rows []map[string]any) {
			wantTop(t, rows, []string{"source"}, "bytes", group(d.flows, ok, func(f flow) string { return f.src }, bytesOf))
		},
		"Top destinations": func(t *testing.T, rows []map[string]any) {
			wantTop(t, rows, []string{"destination"}, "bytes", group(d.flows, ok, func(f flow) string { return f.dst }, bytesOf))
		},
		"Top pairs": func(t *testing.T, rows []map[string]any) {
			wantTop(t, rows, []string{"source", "destination"}, "bytes", group(d.flows, ok, func(f flow) string { return f.src + " " + f.dst }, bytesOf))
		},
		"Top destination ports": func(t *testing.T, rows []map[string]any) {
			// The rollup keeps a port below 1024 or of a known service.
			wantTop(t, rows, []string{"port", "protocol"}, "flows", group(d.flows, func(f flow) bool { return ok(f) && (f.dport < 1024 || f.service != "") && f.dport != 0 },
				func(f flow) string { return fmt.Sprint(f.dport, " ", f.proto) }, one))
		},
		"Top services": func(t *testing.T, rows []map[string]any) {
			wantTop(t, rows, []string{"service"}, "flows", group(d.flows, func(f flow) bool { return ok(f) && f.service != "" }, func(f flow) string { return f.service }, one))
		},
		"Rejected flows by protocol": func(t *testing.T, rows []map[string]any) {
			wantSeries(t, rows, "protocol", "flows", d.flows, rejected, func(f flow) string { return fmt.Sprint(f.proto) }, one, interval)
		},
		"Top rejected sources": func(t *testing.T, rows []map[string]any) {
			wantTop(t, rows, []string{"source"}, "flows", group(d.flows, rejected, func(f flow) string { return f.src }, one))
		},
		"Top rejected ports": func(t *testing.T, rows []map[string]any) {
			want := group(d.flows, rejected, func(f flow) string { return fmt.Sprint(f.dport, " ", f.proto) }, one)
			wantTop(t, rows, []string{"port", "protocol"}, "flows", want)
			if want["23 6"] == 0 || rowFor(rows, "port", int64(23))["flows"] != int64(want["23 6"]) {
				t.Errorf("rejected flows to port 23: %v, want %d", rowFor(rows, "port", int64(23)), want["23 6"])
			}
		},
		"Possible scans": func(t *testing.T, rows []map[string]any) {
			want := scans(d.flows, 10)
			var got []string
			for _, r := range rows {
				got = append(got, r["source"].(string))
			}
			slices.Sort(got)
			if !slices.Contains(want, "198.51.100.7") || !slices.Contains(want, "203.0.113.9") || !slices.Equal(got, want) {
				t.Errorf("possible scans %v, want %v", got, want)
			}
		},
		"Traffic by source country": func(t *testing.T, rows []map[string]any) {
			want := group(d.flows, func(f flow) bool { return ok(f) && f.country != "" }, func(f flow) string { return f.country }, bytesOf)
			got := map[string]uint64{}
			for _, r := range rows {
				got[r["country"].(string)] = uint64(r["bytes"].(int64))
			}
			if len(want) < 3 || !maps.Equal(got, want) {
				t.Errorf("bytes by country %v, want %v", got, want)
			}
		},
		"Top source AS": func(t *testing.T, rows []map[string]any) {
			wantTop(t, rows, []string{"as_number"}, "bytes", group(d.flows, func(f flow) bool { return ok(f) && f.as != 0 }, func(f flow) string { return fmt.Sprint(f.as) }, bytesOf))
		},
		"Bytes by interface": func(t *testing.T, rows []map[string]any) {
			wantSeries(t, rows, "interface_id", "bytes", d.flows, ok, func(f flow) string { return f.iface }, bytesOf, interval)
		},
		"SKIPDATA and NODATA windows by interface": func(t *testing.T, rows []map[string]any) {
			ifaces := group(d.flows, func(f flow) bool { return f.status != "OK" }, func(f flow) string { return f.iface }, one)
			if len(ifaces) != 2 || len(rows) != 2 {
				t.Errorf("%d rows for interfaces %v, want the two generated flow logs'", len(rows), ifaces)
			}
			for iface := range ifaces {
				r := rowFor(rows, "interface_id", iface)
				for status, col := range map[string]string{"SKIPDATA": "skipdata_windows", "NODATA": "nodata_windows"} {
					want := len(group(d.flows, func(f flow) bool { return f.iface == iface && f.status == status },
						func(f flow) string { return fmt.Sprint(f.start, f.end) }, one))
					if want == 0 || r[col] != int64(want) {
						t.Errorf("%s %s: %v, want %d", iface, col, r[col], want)
					}
				}
			}
		},
		"Windows without data": func(t *testing.T, rows []map[string]any) {
			want := group(d.flows, func(f flow) bool { return f.status != "OK" },
				func(f flow) string { return fmt.Sprint(f.iface, f.status, f.start, f.end, f.key) }, one)
			if len(rows) != min(len(want), 200) || len(want) == 0 {
				t.Errorf("%d windows, want %d", len(rows), len(want))
			}
		},
		"Flows (latest first)": func(t *testing.T, rows []map[string]any) {
			var latest int64
			for _, f := range d.flows {
				if ok(f) {
					latest = max(latest, f.end)
				}
			}
			if len(rows) != 500 || rows[0]["flow_end"] != latest {
				t.Errorf("%d rows, first ending at %v; want 500, the first at %d", len(rows), rows[0]["flow_end"], latest)
			}
		},
	}
	for _, p := range panels {
		t.Run(p.title, func(t *testing.T) {
			check, found := checks[p.title]
			if !found {
				t.Fatalf("panel %q has no check: every panel's query is compared with the records", p.title)
			}
			check(t, run(p.sql, vars))
		})
	}
	for title := range checks {
		if !slices.ContainsFunc(panels, func(p chPanel) bool { return p.title == title }) {
			t.Errorf("check %q matches no panel", title)
		}
	}

	// The hourly rollup gives the same totals.
	hourly := maps.Clone(vars)
	hourly["rollup"] = []string{"flows_1h"}
	for _, p := range panels {
		if p.title == "Bytes" {
			want1(t, run(p.sql, hourly), "value", sum(d.flows, ok, bytesOf))
		}
	}

	// Variables narrowing: one interface, rejected flows only, a direction.
	iface := d.flows[0].iface
	narrow := maps.Clone(vars)
	narrow["interface"], narrow["action"], narrow["direction"] = []string{iface}, []string{"REJECT"}, []string{"inbound", "ingress"}
	match := func(f flow) bool {
		return f.iface == iface && f.action == "REJECT" && f.status == "OK" && (f.direction == "inbound" || f.direction == "ingress")
	}
	for _, p := range panels {
		rows := run(p.sql, narrow)
		switch p.title {
		case "Flows":
			want1(t, rows, "value", sum(d.flows, match, one))
		case "Top rejected sources":
			wantTop(t, rows, []string{"source"}, "flows", group(d.flows, match, func(f flow) string { return f.src }, one))
		}
	}

	// The variables' own queries run and list what is there.
	for _, q := range varQueries {
		rows := run(q, vars)
		if len(rows) == 0 {
			t.Errorf("variable query lists nothing: %s", q)
		}
	}
}

func bytesOf(f flow) uint64   { return f.bytes }
func packetsOf(f flow) uint64 { return f.packets }
func one(flow) uint64         { return 1 }

func sum(fs []flow, keep func(flow) bool, v func(flow) uint64) uint64 {
	var n uint64
	for _, f := range fs {
		if keep(f) {
			n += v(f)
		}
	}
	return n
}

func group(fs []flow, keep func(flow) bool, key func(flow) string, v func(flow) uint64) map[string]uint64 {
	out := map[string]uint64{}
	for _, f := range fs {
		if keep(f) {
			out[key(f)] += v(f)
		}
	}
	return out
}

// scans lists the sources that reached at least n ports or hosts, more
// than half of their flows rejected: the dashboard's rule.
func scans(fs []flow, n int) []string {
	ports, hosts := map[string]map[uint16]bool{}, map[string]map[string]bool{}
	total, rej := map[string]int{}, map[string]int{}
	for _, f := range fs {
		if f.status != "OK" {
			continue
		}
		if ports[f.src] == nil {
			ports[f.src], hosts[f.src] = map[uint16]bool{}, map[string]bool{}
		}
		ports[f.src][f.dport] = true
		hosts[f.src][f.dst] = true
		total[f.src]++
		if f.action == "REJECT" {
			rej[f.src]++
		}
	}
	var out []string
	for src := range total {
		if (len(ports[src]) >= n || len(hosts[src]) >= n) && float64(rej[src])/float64(total[src]) > 0.5 {
			out = append(out, src)
		}
	}
	slices.Sort(out)
	return out
}

func want1(t *testing.T, rows []map[string]any, col string, want uint64) {
	t.Helper()
	if len(rows) != 1 || rows[0][col] != int64(want) || want == 0 {
		t.Errorf("%s = %v, want %d", col, rows, want)
	}
}

// wantSeries compares a time series query (t, key, value) with the
// records grouped by their end time's interval and key.
func wantSeries(t *testing.T, rows []map[string]any, keyCol, valCol string, fs []flow, keep func(flow) bool, key func(flow) string, v func(flow) uint64, interval time.Duration) {
	t.Helper()
	step := int64(interval.Seconds())
	want := group(fs, keep, func(f flow) string { return fmt.Sprint(f.end/step*step, " ", key(f)) }, v)
	got := map[string]uint64{}
	last := int64(0)
	for _, r := range rows {
		ts := r["t"].(int64)
		if ts < last {
			t.Errorf("series not ordered by time: %d after %d", ts, last)
		}
		last = ts
		got[fmt.Sprint(ts, " ", r[keyCol])] += uint64(r[valCol].(int64))
	}
	if len(want) < 2 || !maps.Equal(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
}

// wantTop compares a top-N table with the expected values by key: the
// values in order, and the keys of the rows whose value is not tied.
func wantTop(t *testing.T, rows []map[string]any, keyCols []string, valCol string, want map[string]uint64) {
	t.Helper()
	type kv struct {
		k string
		v uint64
	}
	var exp []kv
	for k, v := range want {
		exp = append(exp, kv{k, v})
	}
	slices.SortFunc(exp, func(a, b kv) int { return cmp.Compare(b.v, a.v) })
	if len(rows) == 0 || len(rows) != min(len(exp), 20) {
		t.Fatalf("%d rows, want %d", len(rows), min(len(exp), 20))
	}
	for i, r := range rows {
		var key []string
		for _, c := range keyCols {
			key = append(key, fmt.Sprint(r[c]))
		}
		k := strings.Join(key, " ")
		if got := uint64(r[valCol].(int64)); got != exp[i].v || want[k] != got {
			t.Errorf("row %d: %s = %d (expected %d for it), want %s = %d", i, k, got, want[k], exp[i].k, exp[i].v)
		}
	}
}

func rowFor(rows []map[string]any, col string, v any) map[string]any {
	for _, r := range rows {
		if r[col] == v {
			return r
		}
	}
	return nil
}

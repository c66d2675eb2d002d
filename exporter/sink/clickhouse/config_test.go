package clickhouse

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestParseURL(t *testing.T) {
	f := func(u string, want func(c *Config)) {
		t.Helper()
		got, err := ParseURL(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		w := DefaultConfig()
		want(&w)
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", u, diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	f("clickhouse://db1", func(c *Config) { c.Addresses = []string{"db1:9000"} })
	f("clickhouse://ingest@db1:9001/flows", func(c *Config) { c.Addresses, c.User, c.Database = []string{"db1:9001"}, "ingest", "flows" })
	f("clickhouse://u:p%40ss@db1,db2:9440/x?secure=true", func(c *Config) {
		c.Addresses, c.User, c.Password, c.Database, c.TLS.Enabled = []string{"db1:9440", "db2:9440"}, "u", config.Secret("p@ss"), "x", true
	})
	f("clickhouse://[::1]?protocol=http&compression=gzip&cluster=main", func(c *Config) {
		c.Addresses, c.Protocol, c.Compression, c.Cluster = []string{"[::1]:8123"}, "http", "gzip", "main"
	})
	f("clickhouse://h?protocol=http&secure=1", func(c *Config) { c.Addresses, c.Protocol, c.TLS.Enabled = []string{"h:8443"}, "http", true })
	for _, bad := range []string{"clickhouse://", "clickhouse:db", "http://h", "clickhouse://h?nope=1", "clickhouse://h?secure=maybe"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	f := func(change func(c *Config), want string) {
		t.Helper()
		c := DefaultConfig()
		change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one naming %q", err, want)
		}
	}
	f(func(c *Config) { c.Protocol = "grpc" }, "protocol")
	f(func(c *Config) { c.Database = "a;DROP" }, "database")
	f(func(c *Config) { c.Cluster = "a b" }, "cluster")
	f(func(c *Config) { c.Addresses = []string{"host"} }, "addresses[0]")
	f(func(c *Config) { c.Compression = "gzip" }, "compression: gzip is for protocol http")
	f(func(c *Config) { c.Retention.Flows = 36 * time.Hour }, "retention.flows")
	f(func(c *Config) { c.BatchRows = 0 }, "batch_rows")
	f(func(c *Config) { c.TLS.CertFile = "c.pem" }, "tls")
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":         `'plain'`,
		"it's":          `'it\'s'`,
		`back\slash`:    `'back\\slash'`,
		"new\nline\x00": `'new\x0aline\x00'`,
		"日本/x'); DROP":  `'日本/x\'); DROP'`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestDDL compares the generated DDL with golden files: the default
// schema, and cluster mode (ON CLUSTER, Replicated engines, Distributed
// tables), which cannot run here.
func TestDDL(t *testing.T) {
	full := enrich.DefaultConfig()
	full.GeoIP = enrich.GeoIP{City: "c.mmdb", ASN: "a.mmdb"}
	full.Interfaces = "i.csv"
	cluster := DefaultConfig()
	cluster.Cluster = "flows_cluster"
	cluster.Retention.Flows = 400 * day
	for name, s := range map[string]*Schema{
		"default.sql": NewSchema(DefaultConfig(), new(enrich.DefaultConfig())),
		"cluster.sql": NewSchema(cluster, &full),
	} {
		got := strings.Join(s.DDL(), ";\n\n") + ";\n"
		path := filepath.Join("testdata", name)
		if *update {
			os.MkdirAll("testdata", 0o755)
			os.WriteFile(path, []byte(got), 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), got); diff != "" {
			t.Errorf("%s (-want +got; -update rewrites):\n%s", name, diff)
		}
	}
	s := NewSchema(cluster, &full)
	all := strings.Join(s.DDL(), "\n")
	for _, want := range []string{"ON CLUSTER flows_cluster", "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/flowlog/flows_local', '{replica}')",
		"ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flowlog/flows_1m_local', '{replica}', (bytes, packets, flows))",
		"ENGINE = Distributed(flows_cluster, flowlog, flows_local, rand())", "TO flowlog.flows_1m_local", "FROM flowlog.flows_local",
		"PARTITION BY toYYYYMM(flow_end)"} {
		if !strings.Contains(all, want) {
			t.Errorf("cluster DDL lacks %q", want)
		}
	}
	if strings.Contains(all, "non_replicated_deduplication_window") {
		t.Error("cluster DDL sets the window of non-replicated tables")
	}
}

// TestHostileKeysIntegration delivers objects whose keys hold quotes,
// backslashes, line ends and SQL, twice: the duplicate check quotes them
// right, so the second delivery inserts nothing.
func TestHostileKeysIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	db := testDB(t)
	e := enrich.DefaultConfig()
	s := newSink(t, testConfig(ch, db), &e)
	ctx := context.Background()
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 4, 300
	objs := sinktest.Objects(t, e, gc, 1000)
	for i, k := range []string{"a'b/x.log.gz", `c\'d\\/x.log.gz`, "e\nf\r\x00\xff\xfe/x.log.gz", "日本/'); DROP TABLE flows; --.log.gz"} {
		objs[i].Obj.Key = k
	}
	deliverAll(t, s, objs)
	var dups int
	for _, o := range objs {
		r := <-sinktest.Deliver(t, ctx, s, o)
		if r.Status() != sink.Delivered {
			t.Fatalf("%q: %v (%v)", o.Obj.Key, r.Status(), r.Err)
		}
		dups += r.Duplicates
	}
	s.Close(ctx)
	var n, keys uint64
	if err := client(t, ch).QueryRow(ctx, "SELECT count(), uniqExact(object_key) FROM "+db+".flows").Scan(&n, &keys); err != nil {
		t.Fatal(err)
	}
	if n != 1200 || keys != 4 || dups != 1200 {
		t.Errorf("%d rows of %d keys, %d duplicates reported; want 1200 rows of 4 keys, 1200 duplicates", n, keys, dups)
	}
}

// TestManyObjectsIntegration gathers 2,000 small objects with long keys
// into inserts: the duplicate check asks for their keys in parts (one list
// would pass the server's 256 KiB query limit), and a second delivery of
// them all inserts nothing.
func TestManyObjectsIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	db := testDB(t)
	e := enrich.DefaultConfig()
	cfg := testConfig(ch, db)
	cfg.Flush = 2 * time.Second
	s := newSink(t, cfg, &e)
	ctx := context.Background()
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 2000, 3
	gc.Header = false
	objs := sinktest.Objects(t, e, gc, 1000)
	for i, o := range objs {
		o.Obj.Key = fmt.Sprintf("AWSLogs/123456789012/vpcflowlogs/eu-central-1/2026/01/01/%s/%0200d.log.gz", strings.Repeat("x", 50), i)
	}
	for round := range 2 {
		var acks []<-chan sink.Result
		for _, o := range objs {
			acks = append(acks, sinktest.Deliver(t, ctx, s, o))
		}
		dups := 0
		for _, a := range acks {
			r := ackWithin(t, a, time.Minute)
			if r.Status() != sink.Delivered {
				t.Fatalf("round %d: %v (%v)", round, r.Status(), r.Err)
			}
			dups += r.Duplicates
		}
		if want := round * 6000; dups != want {
			t.Errorf("round %d: %d duplicates reported, want %d", round, dups, want)
		}
	}
	s.Close(ctx)
	var n uint64
	if err := client(t, ch).QueryRow(ctx, "SELECT count() FROM "+db+".flows").Scan(&n); err != nil || n != 6000 {
		t.Errorf("%d rows (%v), want 6000", n, err)
	}
}

package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/goleak"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var dbSeq atomic.Int64

// testDB returns a database name of its own for a test.
func testDB(t *testing.T) string {
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t%d_%s", dbSeq.Add(1), name)
}

// testConfig is the sink's configuration for the test server: HTTP with
// gzip, the only compression that gets through it.
func testConfig(ch *testserver.ClickHouse, db string) Config {
	c := DefaultConfig()
	c.Protocol, c.Compression = "http", "gzip"
	c.Addresses = []string{ch.Addr()}
	c.User, c.Password = ch.User, config.Secret(ch.Password)
	c.Database = db
	c.Flush = 100 * time.Millisecond
	c.Timeout = 30 * time.Second
	c.RetryFor = 5 * time.Second
	// Generated records are from years ago: a TTL would drop them at once.
	c.Retention = Retention{}
	return c
}

// client is a plain connection to the test server, for the tests' own queries.
func client(t *testing.T, ch *testserver.ClickHouse) driver.Conn {
	t.Helper()
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr()}, Protocol: clickhouse.HTTP,
		Auth: clickhouse.Auth{Username: ch.User, Password: ch.Password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newSink(t *testing.T, cfg Config, e *enrich.Config) *Sink {
	t.Helper()
	s, err := New(cfg, sink.Deps{Enrich: e})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchemaIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	db := testDB(t)
	ctx := context.Background()
	e := enrich.DefaultConfig()
	e.GeoIP = enrich.GeoIP{City: "city.mmdb", ASN: "asn.mmdb"}
	e.Interfaces = "interfaces.yaml"
	s := newSink(t, testConfig(ch, db), &e)
	defer s.Close(ctx)
	steps, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1+3+2 {
		t.Errorf("%d steps on an empty server, want 6 (database, 3 tables, 2 views)", len(steps))
	}
	again, err := s.PlanMigration(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second plan: %v, %v; want nothing to do", again, err)
	}
	var n uint64
	c := client(t, ch)
	if err := c.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = '"+db+"' AND table = 'flows'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if int(n) != len(flowColumns) {
		t.Errorf("flows has %d columns, want every one of %d (all enrichment on)", n, len(flowColumns))
	}
}

func TestConformanceIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	db := testDB(t)
	cfg := testConfig(ch, db)
	c := client(t, ch)
	ctx := context.Background()
	first := true
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) sink.Sink {
			s := newSink(t, cfg, nil)
			if first {
				first = false
				if _, err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				// A constraint a user might add: the server refuses the rows
				// that break it.
				if err := c.Exec(ctx, "ALTER TABLE "+db+".flows ADD CONSTRAINT sane_bytes CHECK bytes < 1000000000000000"); err != nil {
					t.Fatal(err)
				}
			}
			return s
		},
		Read: func(t *testing.T) map[string]int {
			rows, err := c.Query(ctx, "SELECT event_id, count() FROM "+db+".flows GROUP BY event_id")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			got := map[string]int{}
			for rows.Next() {
				var id string
				var n uint64
				if err := rows.Scan(&id, &n); err != nil {
					t.Fatal(err)
				}
				got[id] = int(n)
			}
			return got
		},
		AbortLeavesNothing: true,
		Poison:             func(r *sink.Record) { r.Bytes = 1 << 62 },
		AckWithin:          30 * time.Second,
	})
}

package clickhouse

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

// TestMigrationIntegration starts from the schema of a plainer
// configuration with rows in it, then turns GeoIP, ASN and interfaces on
// and changes retentions: columns, dimensions and TTLs are added and
// changed, views recreated, rows kept; a second run changes nothing.
func TestMigrationIntegration(t *testing.T) {
	ch := testserver.StartClickHouse(t)
	db := testDB(t)
	ctx := context.Background()
	c := client(t, ch)
	count := func(table string) uint64 {
		t.Helper()
		var n uint64
		if err := c.QueryRow(ctx, "SELECT count() FROM "+db+"."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	plain := enrich.DefaultConfig()
	cfg := testConfig(ch, db)
	cfg.Retention = Retention{Flows: 30 * day, Minute: 7 * day, Hour: 365 * day}
	old := newSink(t, cfg, &plain)
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records, gc.Start = 2, 500, time.Now().Add(-2*time.Hour).Truncate(time.Minute)
	deliverAll(t, old, sinktest.Objects(t, plain, gc, 1000))
	old.Close(ctx)
	if n := count("flows"); n != 1000 {
		t.Fatalf("%d rows before the migration, want 1000", n)
	}

	full := sinktest.FullEnrichment(t)
	cfg.Retention.Flows, cfg.Retention.Minute = 60*day, 14*day
	s := newSink(t, cfg, &full)
	defer s.Close(ctx)
	steps, err := s.PlanMigration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var whys []string
	for _, st := range steps {
		whys = append(whys, st.Why)
	}
	plan := strings.Join(whys, "\n")
	for _, want := range []string{"table flows lacks column src_country", "table flows lacks column interface_name",
		"table flows keeps rows 60 days now", "table flows_1m keeps rows 14 days now", "table flows_1m lacks column dst_as",
		"view flows_1h_mv selects other columns"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "flows_1h keeps rows") {
		t.Errorf("plan changes a TTL that did not change:\n%s", plan)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if again, err := s.PlanMigration(ctx); err != nil || len(again) != 0 {
		t.Fatalf("after the migration: %v, %v; want nothing to do", again, err)
	}
	if n := count("flows"); n != 1000 {
		t.Errorf("%d rows after the migration, want the 1000 from before", n)
	}
	var engine, sorting string
	if err := c.QueryRow(ctx, "SELECT engine_full, sorting_key FROM system.tables WHERE database = '"+db+"' AND name = 'flows_1m'").Scan(&engine, &sorting); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(engine, "toIntervalDay(14)") || !strings.HasSuffix(sorting, "src_country, dst_country, src_as, dst_as") {
		t.Errorf("flows_1m after the migration: %s / sorting key %s", engine, sorting)
	}
	// The migrated schema takes rows with the new columns.
	gc.Seed, gc.Name = 2, "after"
	deliverAll(t, s, sinktest.Objects(t, full, gc, 1000))
	var withCountry, rolled uint64
	if err := c.QueryRow(ctx, "SELECT countIf(src_country != '' OR dst_country != '') FROM "+db+".flows").Scan(&withCountry); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SELECT sum(flows) FROM "+db+".flows_1h").Scan(&rolled); err != nil {
		t.Fatal(err)
	}
	if withCountry == 0 || rolled != 2000 {
		t.Errorf("after the migration: %d rows with a country, %d flows rolled up (want > 0 and 2000)", withCountry, rolled)
	}

	// Changes flowlog refuses: a column of another type, a table it did not make.
	if err := c.Exec(ctx, "ALTER TABLE "+db+".flows MODIFY COLUMN src_port UInt32"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PlanMigration(ctx); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "flows column src_port is UInt32") {
		t.Errorf("a column of another type: %v", err)
	}
	other := testDB(t)
	if err := c.Exec(ctx, "CREATE DATABASE "+other); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, "CREATE TABLE "+other+".flows (a UInt8) ENGINE = MergeTree ORDER BY a"); err != nil {
		t.Fatal(err)
	}
	cfg.Database = other
	s2 := newSink(t, cfg, &full)
	defer s2.Close(ctx)
	if _, err := s2.Migrate(ctx); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "flowlog did not create it") {
		t.Errorf("a table flowlog did not make: %v", err)
	}
}

package clickhouse

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/flowlog/flowlog/exporter/enrich"
)

// schemaVersion is written into every table's comment; a later flowlog
// that changes the layout raises it and migrates from what it reads.
const schemaVersion = 1

// Schema is what the sink keeps in ClickHouse, computed from the
// configuration: the flows table, two rollups fed by materialized views,
// and in cluster mode the Distributed tables in front of them.
type Schema struct {
	DB      string
	Cluster string
	Flows   Table   // where records go; the rollups read it
	Rollups []Table // per minute, per hour
	Views   []View
	Fronts  []Table // cluster mode: a Distributed table in front of each table

	cols []column // the columns of Flows, with how records fill them
}

// Table is a table flowlog creates.
type Table struct {
	Name      string // the table queries and inserts name (Distributed in cluster mode)
	Local     string // the MergeTree table (Name outside cluster mode)
	Columns   []ColumnDef
	Engine    string
	Partition string
	OrderBy   []string // sorting key: expressions or columns
	TTL       string   // "" keeps rows forever
	TTLDays   int
	Indexes   []Index
	Settings  string
	rollup    bool // its ORDER BY may gain the dimensions added later
}

// ColumnDef is a column of a Table.
type ColumnDef struct{ Name, Type, Codec string }

// Index is a data-skipping index.
type Index struct{ Name, Expr, Type string }

// View is a materialized view from flows into a rollup.
type View struct {
	Name, From, To string
	Select         string
}

// NewSchema computes the schema of cfg for the enrichment e.
func NewSchema(cfg Config, e *enrich.Config) *Schema {
	s := &Schema{DB: cfg.Database, Cluster: cfg.Cluster, cols: columnsFor(e)}
	local := func(name string) string {
		if s.Cluster != "" {
			return name + "_local"
		}
		return name
	}
	flows := Table{Name: "flows", Local: local("flows"), Engine: s.engine("flows", "MergeTree"),
		Partition: partition("flow_end", cfg.Retention.Flows),
		OrderBy:   []string{"toStartOfHour(flow_end)", "account_id", "interface_id", "src_addr", "dst_addr"},
		Indexes: []Index{
			{"src_addr_idx", "src_addr", "bloom_filter(0.01) GRANULARITY 4"},
			{"dst_addr_idx", "dst_addr", "bloom_filter(0.01) GRANULARITY 4"},
			{"object_key_idx", "object_key", "bloom_filter(0.01) GRANULARITY 4"},
		}}
	flows.setTTL("flow_end", cfg.Retention.Flows)
	for _, c := range s.cols {
		flows.Columns = append(flows.Columns, ColumnDef{c.name, c.typ, c.codec})
	}
	s.Flows = flows

	// Rollup dimensions: what the dashboards group and filter by. Addresses
	// and ports stay out (their cardinality is the flows table's);
	// the destination port is kept for well-known services only.
	dims := []ColumnDef{{"account_id", lowCard, ""}, {"interface_id", lowCard, ""}, {"action", lowCard, ""},
		{"log_status", lowCard, ""}, {"protocol", "UInt8", ""}, {"direction", lowCard, ""}, {"service_port", "UInt16", ""}}
	portExpr := "if(dst_port < 1024, dst_port, 0)"
	if e.Services {
		dims = append(dims, ColumnDef{"service", lowCard, ""})
		portExpr = "if(dst_port < 1024 OR service != '', dst_port, 0)"
	}
	if hasCity(e) {
		dims = append(dims, ColumnDef{"src_country", lowCard, ""}, ColumnDef{"dst_country", lowCard, ""})
	}
	if hasASN(e) {
		dims = append(dims, ColumnDef{"src_as", "UInt32", ""}, ColumnDef{"dst_as", "UInt32", ""})
	}
	for _, r := range []struct {
		name, bucket string
		keep         time.Duration
	}{{"flows_1m", "toStartOfMinute", cfg.Retention.Minute}, {"flows_1h", "toStartOfHour", cfg.Retention.Hour}} {
		t := Table{Name: r.name, Local: local(r.name), Engine: s.engine(r.name, "SummingMergeTree((bytes, packets, flows))"),
			Partition: partition("time", r.keep), OrderBy: []string{"time"}, rollup: true}
		t.setTTL("time", r.keep)
		t.Columns = append(t.Columns, ColumnDef{"time", "DateTime", timeCdc})
		var sel, group []string
		sel = append(sel, r.bucket+"(flow_end) AS time")
		group = append(group, "time")
		for _, d := range dims {
			t.Columns = append(t.Columns, d)
			t.OrderBy = append(t.OrderBy, d.Name)
			if d.Name == "service_port" {
				sel = append(sel, portExpr+" AS service_port")
			} else {
				sel = append(sel, d.Name)
			}
			group = append(group, d.Name)
		}
		t.Columns = append(t.Columns, ColumnDef{"bytes", "UInt64", countCdc}, ColumnDef{"packets", "UInt64", countCdc},
			ColumnDef{"flows", "UInt64", countCdc})
		sel = append(sel, "sum(bytes) AS bytes", "sum(packets) AS packets", "count() AS flows")
		s.Rollups = append(s.Rollups, t)
		s.Views = append(s.Views, View{Name: r.name + "_mv", From: flows.Local, To: t.Local,
			Select: "SELECT " + strings.Join(sel, ", ") + " FROM " + s.DB + "." + flows.Local + " GROUP BY " + strings.Join(group, ", ")})
	}
	if s.Cluster != "" {
		for _, t := range append([]Table{s.Flows}, s.Rollups...) {
			s.Fronts = append(s.Fronts, Table{Name: t.Name, Local: t.Name, Columns: t.Columns,
				Engine: fmt.Sprintf("Distributed(%s, %s, %s, rand())", s.Cluster, s.DB, t.Local)})
		}
	}
	return s
}

// engine is the table engine: Replicated in cluster mode, with the usual
// {shard} and {replica} macros.
func (s *Schema) engine(name, engine string) string {
	if s.Cluster == "" {
		return engine
	}
	base, args, _ := strings.Cut(engine, "(")
	path := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s_local', '{replica}'", s.DB, name)
	if args = strings.TrimSuffix(args, ")"); args != "" {
		path += ", " + args
	}
	return "Replicated" + base + "(" + path + ")"
}

// partition is by day, or by month for tables kept longer than 90 days
// (fewer, larger parts; dropping a month at a time is fine then).
func partition(col string, keep time.Duration) string {
	if keep == 0 || keep > 90*day {
		return "toYYYYMM(" + col + ")"
	}
	return "toDate(" + col + ")"
}

func (t *Table) setTTL(col string, keep time.Duration) {
	t.TTLDays = int(keep / day)
	if t.TTLDays > 0 {
		t.TTL = fmt.Sprintf("%s + toIntervalDay(%d)", col, t.TTLDays)
	}
}

// layoutHash names what cannot change without rebuilding the table: engine,
// partitioning, and (for flows) the sorting key.
func (t *Table) layoutHash() string {
	key := t.Engine + "|" + t.Partition
	if !t.rollup {
		key += "|" + strings.Join(t.OrderBy, ",")
	}
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:6])
}

// comment is what flowlog writes on each table to recognise it later.
func (t *Table) comment() string {
	return fmt.Sprintf("flowlog schema %d; ttl %dd; layout %s", schemaVersion, t.TTLDays, t.layoutHash())
}

func (v *View) comment() string {
	h := sha256.Sum256([]byte(v.To + "|" + v.Select))
	return fmt.Sprintf("flowlog schema %d; view %s", schemaVersion, hex.EncodeToString(h[:6]))
}

func (s *Schema) onCluster() string {
	if s.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + s.Cluster
}

func (s *Schema) createDatabase() string {
	return "CREATE DATABASE IF NOT EXISTS " + s.DB + s.onCluster()
}

func (s *Schema) createTable(t *Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s%s\n(\n", s.DB, t.Local, s.onCluster())
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("    " + c.def())
	}
	for _, ix := range t.Indexes {
		fmt.Fprintf(&b, ",\n    INDEX %s %s TYPE %s", ix.Name, ix.Expr, ix.Type)
	}
	fmt.Fprintf(&b, "\n)\nENGINE = %s", t.Engine)
	if !strings.HasPrefix(t.Engine, "Distributed") {
		fmt.Fprintf(&b, "\nPARTITION BY %s\nORDER BY (%s)", t.Partition, strings.Join(t.OrderBy, ", "))
		if t.TTL != "" {
			b.WriteString("\nTTL " + t.TTL)
		}
		settings := "ttl_only_drop_parts = 1"
		if s.Cluster == "" {
			// Inserts carry a deduplication token; a table that is not
			// replicated remembers the last tokens only with this window.
			settings += ", non_replicated_deduplication_window = 1000"
		}
		b.WriteString("\nSETTINGS " + settings)
	}
	fmt.Fprintf(&b, "\nCOMMENT '%s'", t.comment())
	return b.String()
}

func (s *Schema) createView(v *View) string {
	return fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s%s TO %s.%s\nAS %s\nCOMMENT '%s'",
		s.DB, v.Name, s.onCluster(), s.DB, v.To, v.Select, v.comment())
}

func (c ColumnDef) def() string {
	d := c.Name + " " + c.Type
	if c.Codec != "" {
		d += " CODEC(" + c.Codec + ")"
	}
	return d
}

// DDL returns every statement that creates the schema on an empty server,
// in order.
func (s *Schema) DDL() []string {
	out := []string{s.createDatabase()}
	for _, t := range append([]Table{s.Flows}, s.Rollups...) {
		out = append(out, s.createTable(&t))
	}
	for _, t := range s.Fronts {
		out = append(out, s.createTable(&t))
	}
	for _, v := range s.Views {
		out = append(out, s.createView(&v))
	}
	return out
}

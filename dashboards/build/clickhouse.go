//lint:file-ignore SA1019 the classic dashboard model (dashboard, not dashboardv2) is what /api/dashboards/db and file provisioning take on every Grafana version in use; the issue asks for its strict decoder

package build

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The ClickHouse dashboard reads the tables the ClickHouse sink creates:
// the rollups (flows_1m, flows_1h) for totals over time, where every
// dimension but addresses is kept, and flows for addresses, scans and
// drill-down. ${database} and ${rollup} are variables, so a sink writing
// elsewhere needs no edited copy.

// chFilter is the WHERE clause every panel shares: the time range of the
// column t and the account, interface, action and direction variables.
// The variables hold quoted values; "All" holds '__all'.
func chFilter(t string) string {
	parts := []string{"$__timeFilter(" + t + ")"}
	for _, v := range []struct{ name, col string }{
		{"account", "account_id"}, {"interface", "interface_id"}, {"action", "action"}, {"direction", "direction"},
	} {
		q := "${" + v.name + ":singlequote}"
		parts = append(parts, "('"+AllValue+"' IN ("+q+") OR "+v.col+" IN ("+q+"))")
	}
	return "WHERE " + strings.Join(parts, "\n  AND ")
}

// addr shows an address column as people write it: IPv4 without the
// ::ffff: the IPv6 column stores it with.
func addr(col string) string {
	return "replaceRegexpOne(toString(" + col + "), '^::ffff:', '')"
}

const (
	rollupTable = "${database}.${rollup}"
	flowsTable  = "${database}.flows"
)

// ClickHouse is the flows dashboard over the ClickHouse sink's tables.
func ClickHouse() (dashboard.Dashboard, error) {
	b := flowsDashboard(ClickHouseUID, "ClickHouse", "clickhouse").
		WithVariable(datasourceVar(ClickHousePlugin, "flowlog-clickhouse", "ClickHouse")).
		WithVariable(dashboard.NewTextBoxVariableBuilder("database").Label("Database").DefaultValue(dashboard.StringOrMap{String: cog.ToPtr("flowlog")}).
			Description("The ClickHouse sink's database (its 'database' setting).")).
		WithVariable(dashboard.NewCustomVariableBuilder("rollup").Label("Rollup").Values(dashboard.StringOrMap{String: cog.ToPtr("flows_1m,flows_1h")}).
			Current(dashboard.VariableOption{Text: text("flows_1m"), Value: text("flows_1m")}).
			Description("flows_1m keeps 7 days by default; choose flows_1h for longer ranges.")).
		WithVariable(chVar("account", "Account", "account_id")).
		WithVariable(chVar("interface", "Interface", "interface_id")).
		WithVariable(chVar("action", "Action", "action")).
		WithVariable(chVar("direction", "Direction", "direction")).
		WithVariable(dashboard.NewCustomVariableBuilder("scan_min").Label("Scan: distinct ports or hosts").
			Values(dashboard.StringOrMap{String: cog.ToPtr("10,20,50,100")}).
			Current(dashboard.VariableOption{Text: text("10"), Value: text("10")}).
			Description("A source is listed as a possible scan when it reached at least this many destination ports or hosts, most of them rejected."))

	b.WithRow(dashboard.NewRowBuilder("Traffic"))
	for _, s := range []struct{ title, expr, unit string }{
		{"Bytes", "sum(bytes)", "decbytes"},
		{"Packets", "sum(packets)", "short"},
		{"Flows", "sum(flows)", "short"},
		{"Rejected flows", "sumIf(flows, action = 'REJECT')", "short"},
	} {
		b.WithPanel(stat.NewPanelBuilder().Title(s.title).Datasource(ds(ClickHousePlugin)).Unit(s.unit).Height(4).Span(6).
			GraphMode(common.BigValueGraphModeNone).ReduceOptions(lastValue()).Orientation(common.VizOrientationAuto).
			WithTarget(sqlTable("SELECT " + s.expr + " AS value\nFROM " + rollupTable + "\n" + chFilter("time") + "\n  AND log_status = 'OK'")))
	}
	for _, s := range []struct{ title, expr, unit string }{
		{"Bytes by action", "sum(bytes)", "decbytes"},
		{"Packets by action", "sum(packets)", "short"},
		{"Flows by action", "sum(flows)", "short"},
	} {
		b.WithPanel(timeseries.NewPanelBuilder().Title(s.title).Datasource(ds(ClickHousePlugin)).Unit(s.unit).Height(8).Span(8).
			WithTarget(sqlTimeSeries("SELECT $__timeInterval(time) AS t, action, " + s.expr + " AS value\nFROM " + rollupTable + "\n" +
				chFilter("time") + "\n  AND log_status = 'OK'\nGROUP BY t, action\nORDER BY t")))
	}

	b.WithRow(dashboard.NewRowBuilder("Top talkers"))
	for _, s := range []struct{ title, cols, group string }{
		{"Top sources", addr("src_addr") + " AS source", "source"},
		{"Top destinations", addr("dst_addr") + " AS destination", "destination"},
		{"Top pairs", addr("src_addr") + " AS source, " + addr("dst_addr") + " AS destination", "source, destination"},
	} {
		b.WithPanel(sqlTablePanel(s.title, 8, "SELECT "+s.cols+", sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows\nFROM "+flowsTable+"\n"+
			chFilter("flow_end")+"\n  AND log_status = 'OK'\nGROUP BY "+s.group+"\nORDER BY bytes DESC\nLIMIT 20"))
	}
	b.WithPanel(sqlTablePanel("Top destination ports", 12, "SELECT service_port AS port, protocol, sum(flows) AS flows, sum(bytes) AS bytes\nFROM "+rollupTable+"\n"+
		chFilter("time")+"\n  AND log_status = 'OK' AND service_port != 0\nGROUP BY port, protocol\nORDER BY flows DESC\nLIMIT 20"))
	b.WithPanel(sqlTablePanel("Top services", 12, "SELECT service, sum(flows) AS flows, sum(bytes) AS bytes\nFROM "+rollupTable+"\n"+
		chFilter("time")+"\n  AND log_status = 'OK' AND service != ''\nGROUP BY service\nORDER BY flows DESC\nLIMIT 20"))

	b.WithRow(dashboard.NewRowBuilder("Rejected flows"))
	b.WithPanel(timeseries.NewPanelBuilder().Title("Rejected flows by protocol").Datasource(ds(ClickHousePlugin)).Unit("short").Height(8).Span(24).
		WithTarget(sqlTimeSeries("SELECT $__timeInterval(time) AS t, toString(protocol) AS protocol, sum(flows) AS flows\nFROM " + rollupTable + "\n" +
			chFilter("time") + "\n  AND action = 'REJECT'\nGROUP BY t, protocol\nORDER BY t")))
	b.WithPanel(sqlTablePanel("Top rejected sources", 8, "SELECT "+addr("src_addr")+" AS source, count() AS flows, uniqExact(dst_port) AS ports, uniqExact(dst_addr) AS hosts\nFROM "+flowsTable+"\n"+
		chFilter("flow_end")+"\n  AND action = 'REJECT'\nGROUP BY source\nORDER BY flows DESC\nLIMIT 20"))
	b.WithPanel(sqlTablePanel("Top rejected ports", 8, "SELECT dst_port AS port, protocol, count() AS flows, uniqExact(src_addr) AS sources\nFROM "+flowsTable+"\n"+
		chFilter("flow_end")+"\n  AND action = 'REJECT'\nGROUP BY port, protocol\nORDER BY flows DESC\nLIMIT 20"))
	b.WithPanel(sqlTablePanel("Possible scans", 8, "SELECT "+addr("src_addr")+" AS source, uniqExact(dst_port) AS ports, uniqExact(dst_addr) AS hosts,\n"+
		"  count() AS flows, round(countIf(action = 'REJECT') / count(), 2) AS rejected_share\nFROM "+flowsTable+"\n"+
		chFilter("flow_end")+"\n  AND log_status = 'OK'\nGROUP BY source\nHAVING (ports >= ${scan_min} OR hosts >= ${scan_min}) AND rejected_share > 0.5\nORDER BY ports + hosts DESC\nLIMIT 50"))

	b.WithRow(dashboard.NewRowBuilder("Countries and AS (needs GeoIP enrichment)"))
	b.WithPanel(countryMap(ClickHousePlugin, "country", "bytes").
		WithTarget(sqlTable("SELECT src_country AS country, sum(bytes) AS bytes, sum(flows) AS flows\nFROM " + rollupTable + "\n" +
			chFilter("time") + "\n  AND log_status = 'OK' AND src_country != ''\nGROUP BY country\nORDER BY bytes DESC")))
	b.WithPanel(sqlTablePanel("Top source AS", 12, "SELECT src_as AS as_number, any(src_as_org) AS organization, sum(bytes) AS bytes, count() AS flows,\n"+
		"  countIf(action = 'REJECT') AS rejected\nFROM "+flowsTable+"\n"+
		chFilter("flow_end")+"\n  AND log_status = 'OK' AND src_as != 0\nGROUP BY as_number\nORDER BY bytes DESC\nLIMIT 20"))

	b.WithRow(dashboard.NewRowBuilder("Interfaces and data quality"))
	b.WithPanel(timeseries.NewPanelBuilder().Title("Bytes by interface").Datasource(ds(ClickHousePlugin)).Unit("decbytes").Height(8).Span(12).
		WithTarget(sqlTimeSeries("SELECT $__timeInterval(time) AS t, interface_id, sum(bytes) AS bytes\nFROM " + rollupTable + "\n" +
			chFilter("time") + "\n  AND log_status = 'OK'\nGROUP BY t, interface_id\nORDER BY t")))
	b.WithPanel(sqlTablePanel("SKIPDATA and NODATA windows by interface", 12, "SELECT interface_id,\n"+
		"  uniqExactIf((flow_start, flow_end), log_status = 'SKIPDATA') AS skipdata_windows,\n"+
		"  uniqExactIf((flow_start, flow_end), log_status = 'NODATA') AS nodata_windows,\n"+
		"  maxIf(flow_end, log_status = 'SKIPDATA') AS last_skipdata\nFROM "+flowsTable+"\n"+
		chFilter("flow_end")+"\n  AND log_status IN ('SKIPDATA', 'NODATA')\nGROUP BY interface_id\nORDER BY skipdata_windows DESC, nodata_windows DESC"))
	b.WithPanel(sqlTablePanel("Windows without data", 24, "SELECT DISTINCT interface_id, log_status, flow_start, flow_end, object_key\nFROM "+flowsTable+"\n"+
		chFilter("flow_end")+"\n  AND log_status IN ('SKIPDATA', 'NODATA')\nORDER BY flow_start DESC, interface_id\nLIMIT 200"))
	b.WithPanel(sqlTablePanel("Flows (latest first)", 24, "SELECT flow_end, interface_id, "+addr("src_addr")+" AS source, src_port, "+addr("dst_addr")+" AS destination, dst_port,\n"+
		"  protocol, action, packets, bytes, direction, object_key, line\nFROM "+flowsTable+"\n"+
		chFilter("flow_end")+"\n  AND log_status = 'OK'\nORDER BY flow_end DESC\nLIMIT 500"))
	return b.Build()
}

// chVar is a multi-value filter variable over a rollup column, "All"
// selected.
func chVar(name, label, col string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(ds(ClickHousePlugin)).
		Query(dashboard.StringOrMap{String: cog.ToPtr("SELECT DISTINCT " + col + " FROM " + rollupTable + " WHERE $__timeFilter(time) ORDER BY " + col)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Multi(true).IncludeAll(true).AllValue(AllValue).Current(allOption())
}

// bytesTable is a table panel of one SQL query, w columns wide.
func sqlTablePanel(title string, w uint32, sql string) *table.PanelBuilder {
	return table.NewPanelBuilder().Title(title).Datasource(ds(ClickHousePlugin)).Height(9).Span(w).
		Footer(noFooter()).
		WithTarget(sqlTable(sql))
}

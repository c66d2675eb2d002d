//lint:file-ignore SA1019 the classic dashboard model (dashboard, not dashboardv2) is what /api/dashboards/db and file provisioning take on every Grafana version in use; the issue asks for its strict decoder

package build

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/loki"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The Loki dashboard reads what the Loki sink pushes: streams labelled job,
// account_id, interface_id, action and log_status; a logfmt line with
// srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start and
// end; structured metadata with direction, service, countries, AS and the
// object key. Metric panels count lines or unwrap bytes from the line.

// lokiSel is the stream selector of the dashboard's variables, with more
// matchers appended (each starting with ", ").
func lokiSel(more string) string {
	return `{job="$job", account_id=~"$account", interface_id=~"$interface", action=~"$action"` + more + `}`
}

// lokiBytes sums the bytes of the selected flows over rng, grouped by by.
func lokiBytes(by, sel, filter, rng string) string {
	return "sum by (" + by + ") (sum_over_time(" + sel + filter + ` | logfmt | unwrap bytes | __error__="" [` + rng + "]))"
}

func lokiRange(expr string) *loki.DataqueryBuilder {
	return loki.NewDataqueryBuilder().Expr(expr).QueryType("range").Datasource(ds(LokiPlugin)).RefId("A")
}

func lokiInstant(expr string) *loki.DataqueryBuilder {
	return loki.NewDataqueryBuilder().Expr(expr).QueryType("instant").Datasource(ds(LokiPlugin)).RefId("A")
}

// Loki is the flows dashboard over the Loki sink's streams.
func Loki() (dashboard.Dashboard, error) {
	dirFilter := ` | direction=~"$direction"`
	ok := `, log_status="OK"`
	b := flowsDashboard(LokiUID, "Loki", "loki").
		WithVariable(datasourceVar(LokiPlugin, "flowlog-loki", "Loki")).
		WithVariable(dashboard.NewTextBoxVariableBuilder("job").Label("Job").DefaultValue(dashboard.StringOrMap{String: cog.ToPtr("flowlog")}).
			Description("The Loki sink's job label (its 'job' setting).")).
		WithVariable(lokiVar("account", "Account", "account_id")).
		WithVariable(lokiVar("interface", "Interface", "interface_id")).
		WithVariable(lokiVar("action", "Action", "action")).
		WithVariable(dashboard.NewCustomVariableBuilder("direction").Label("Direction").
			Values(dashboard.StringOrMap{String: cog.ToPtr("ingress,egress,inbound,outbound,internal,external")}).
			Multi(true).IncludeAll(true).AllValue(".*").Current(allOption())).
		WithVariable(dashboard.NewCustomVariableBuilder("scan_min").Label("Scan: distinct rejected ports").
			Values(dashboard.StringOrMap{String: cog.ToPtr("10,20,50,100")}).
			Current(dashboard.VariableOption{Text: text("10"), Value: text("10")}))

	b.WithRow(dashboard.NewRowBuilder("Traffic"))
	for _, s := range []struct{ title, expr, unit string }{
		{"Bytes", lokiBytes("job", lokiSel(ok), dirFilter, "$__range"), "decbytes"},
		{"Packets", `sum by (job) (sum_over_time(` + lokiSel(ok) + dirFilter + ` | logfmt | unwrap packets | __error__="" [$__range]))`, "short"},
		{"Flows", `sum by (job) (count_over_time(` + lokiSel(ok) + dirFilter + ` [$__range]))`, "short"},
		{"Rejected flows", `sum by (job) (count_over_time(` + lokiSel(`, action="REJECT"`) + dirFilter + ` [$__range]))`, "short"},
	} {
		b.WithPanel(stat.NewPanelBuilder().Title(s.title).Datasource(ds(LokiPlugin)).Unit(s.unit).Height(4).Span(6).
			GraphMode(common.BigValueGraphModeNone).ReduceOptions(lastValue()).Orientation(common.VizOrientationAuto).
			WithTarget(lokiInstant(s.expr)))
	}
	for _, s := range []struct{ title, expr, unit string }{
		{"Bytes by action", lokiBytes("action", lokiSel(ok), dirFilter, "$__interval"), "decbytes"},
		{"Packets by action", `sum by (action) (sum_over_time(` + lokiSel(ok) + dirFilter + ` | logfmt | unwrap packets | __error__="" [$__interval]))`, "short"},
		{"Flows by action", `sum by (action) (count_over_time(` + lokiSel(ok) + dirFilter + ` [$__interval]))`, "short"},
	} {
		b.WithPanel(timeseries.NewPanelBuilder().Title(s.title).Datasource(ds(LokiPlugin)).Unit(s.unit).Height(8).Span(8).
			WithTarget(lokiRange(s.expr).LegendFormat("{{action}}")))
	}

	b.WithRow(dashboard.NewRowBuilder("Top talkers"))
	for _, s := range []struct{ title, by string }{
		{"Top sources", "srcaddr"}, {"Top destinations", "dstaddr"}, {"Top pairs", "srcaddr, dstaddr"},
	} {
		b.WithPanel(lokiTable(s.title, 8, "topk(20, "+lokiBytes(s.by, lokiSel(ok), dirFilter, "$__range")+")"))
	}
	b.WithPanel(lokiTable("Top destination ports", 12,
		`topk(20, sum by (dstport, protocol) (count_over_time(`+lokiSel(ok)+dirFilter+` | logfmt | dstport!="-" [$__range])))`))
	b.WithPanel(lokiTable("Top services", 12,
		`topk(20, sum by (service) (count_over_time(`+lokiSel(ok)+dirFilter+` | service!="" [$__range])))`))

	b.WithRow(dashboard.NewRowBuilder("Rejected flows"))
	b.WithPanel(timeseries.NewPanelBuilder().Title("Rejected flows by protocol").Datasource(ds(LokiPlugin)).Unit("short").Height(8).Span(24).
		WithTarget(lokiRange(`sum by (protocol) (count_over_time(` + lokiSel(`, action="REJECT"`) + dirFilter + ` | logfmt [$__interval]))`).LegendFormat("{{protocol}}")))
	b.WithPanel(lokiTable("Top rejected sources", 8,
		`topk(20, sum by (srcaddr) (count_over_time(`+lokiSel(`, action="REJECT"`)+dirFilter+` | logfmt [$__range])))`))
	b.WithPanel(lokiTable("Top rejected ports", 8,
		`topk(20, sum by (dstport, protocol) (count_over_time(`+lokiSel(`, action="REJECT"`)+dirFilter+` | logfmt [$__range])))`))
	b.WithPanel(lokiTable("Possible scans", 8,
		`count by (srcaddr) (sum by (srcaddr, dstport) (count_over_time(`+lokiSel(`, action="REJECT"`)+dirFilter+` | logfmt [$__range]))) >= $scan_min`))

	b.WithRow(dashboard.NewRowBuilder("Countries and AS (needs GeoIP enrichment)"))
	b.WithPanel(countryMap(LokiPlugin, "src_country", "Value").
		WithTransformation(labelsToRows()).
		WithTarget(lokiInstant(lokiBytes("src_country", lokiSel(ok), dirFilter+` | src_country!=""`, "$__range"))))
	b.WithPanel(lokiTable("Top source AS", 12, "topk(20, "+lokiBytes("src_as", lokiSel(ok), dirFilter+` | src_as!=""`, "$__range")+")"))

	b.WithRow(dashboard.NewRowBuilder("Interfaces and data quality"))
	b.WithPanel(timeseries.NewPanelBuilder().Title("Bytes by interface").Datasource(ds(LokiPlugin)).Unit("decbytes").Height(8).Span(12).
		WithTarget(lokiRange(lokiBytes("interface_id", lokiSel(ok), dirFilter, "$__interval")).LegendFormat("{{interface_id}}")))
	b.WithPanel(timeseries.NewPanelBuilder().Title("SKIPDATA and NODATA records by interface").Datasource(ds(LokiPlugin)).Unit("short").Height(8).Span(12).
		WithTarget(lokiRange(`sum by (interface_id, log_status) (count_over_time({job="$job", account_id=~"$account", interface_id=~"$interface", log_status=~"SKIPDATA|NODATA"} [$__interval]))`).
			LegendFormat("{{interface_id}} {{log_status}}")))
	b.WithPanel(logs.NewPanelBuilder().Title("Flows").Datasource(ds(LokiPlugin)).Height(12).Span(24).
		ShowTime(true).WrapLogMessage(false).EnableLogDetails(true).SortOrder(common.LogsSortOrderDescending).
		WithTarget(lokiRange(lokiSel("") + dirFilter).MaxLines(1000)))
	return b.Build()
}

// lokiVar is a multi-value filter variable over a stream label, "All"
// selected.
func lokiVar(name, label, lbl string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(ds(LokiPlugin)).
		Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values({job="$job"}, ` + lbl + `)`)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Multi(true).IncludeAll(true).AllValue(".*").Current(allOption())
}

// lokiTable is a table of an instant metric query: one row per series, its
// labels as columns.
func lokiTable(title string, w uint32, expr string) *table.PanelBuilder {
	return table.NewPanelBuilder().Title(title).Datasource(ds(LokiPlugin)).Height(9).Span(w).
		Footer(noFooter()).
		WithTransformation(labelsToRows()).
		WithTarget(lokiInstant(expr))
}

// labelsToRows turns one frame per series into one row per series with its
// labels as fields.
func labelsToRows() dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{Id: "reduce", Options: map[string]any{
		"mode": "seriesToRows", "reducers": []string{"lastNotNull"}, "labelsToFields": true}}
}

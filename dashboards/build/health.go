//lint:file-ignore SA1019 the classic dashboard model (dashboard, not dashboardv2) is what /api/dashboards/db and file provisioning take on every Grafana version in use; the issue asks for its strict decoder

package build

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The health dashboard reads the Prometheus metrics of flowlog's collector
// and exporter (their ops listener's /metrics).

const inst = `instance=~"$instance"`

// promTarget is one PromQL query with its legend.
type promTarget struct{ expr, legend string }

func promQuery(t promTarget, refID string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(t.expr).LegendFormat(t.legend).Range().Datasource(ds(PrometheusPlugin)).RefId(refID)
}

// promPanel is a time series panel of one or more queries.
func promPanel(title, unit string, w uint32, targets ...promTarget) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Datasource(ds(PrometheusPlugin)).Unit(unit).Height(8).Span(w)
	for i, t := range targets {
		p.WithTarget(promQuery(t, string(rune('A'+i))))
	}
	return p
}

// Health is the dashboard of flowlog's own metrics.
func Health() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder("flowlog — health").
		Uid(HealthUID).
		Description("flowlog's collector and exporter: lag, objects done, failed and damaged, records rejected, sinks, spool and kernel drops.").
		Tags([]string{"flowlog", "flow logs"}).
		Editable().
		Time("now-6h", "now").
		Refresh("1m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(datasourceVar(PrometheusPlugin, "flowlog-prometheus", "Prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("instance").Label("Instance").Datasource(ds(PrometheusPlugin)).
			Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values({__name__=~"flowlog_(exporter|collector)_.+"}, instance)`)}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Multi(true).IncludeAll(true).AllValue(".*").Current(allOption()))

	b.WithRow(dashboard.NewRowBuilder("Exporter"))
	b.WithPanel(statPanel("Lag").Datasource(ds(PrometheusPlugin)).Unit("s").Height(4).Span(6).
		GraphMode(common.BigValueGraphModeArea).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
			{Color: "green"}, {Value: cog.ToPtr(1800.0), Color: "orange"}, {Value: cog.ToPtr(3600.0), Color: "red"}})).
		WithTarget(promQuery(promTarget{`max(flowlog_exporter_lag_seconds{` + inst + `})`, "lag"}, "A")))
	b.WithPanel(statPanel("Objects in flight").Datasource(ds(PrometheusPlugin)).Unit("short").Height(4).Span(6).
		WithTarget(promQuery(promTarget{`sum(flowlog_exporter_objects_in_flight{` + inst + `})`, "objects"}, "A")))
	b.WithPanel(statPanel("Objects damaged (range)").Datasource(ds(PrometheusPlugin)).Unit("short").Height(4).Span(6).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
			{Color: "green"}, {Value: cog.ToPtr(1.0), Color: "red"}})).
		WithTarget(promQuery(promTarget{`sum(increase(flowlog_exporter_objects_damaged_total{` + inst + `}[$__range]))`, "damaged"}, "A")))
	b.WithPanel(statPanel("Sinks up").Datasource(ds(PrometheusPlugin)).Unit("short").Height(4).Span(6).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
			{Color: "red"}, {Value: cog.ToPtr(1.0), Color: "green"}})).
		WithTarget(promQuery(promTarget{`min by (instance) (flowlog_clickhouse_up{` + inst + `})`, "clickhouse {{instance}}"}, "A")).
		WithTarget(promQuery(promTarget{`min by (instance) (flowlog_loki_up{` + inst + `})`, "loki {{instance}}"}, "B")).
		WithTarget(promQuery(promTarget{`min by (instance) (flowlog_elasticsearch_up{` + inst + `})`, "elasticsearch {{instance}}"}, "C")))
	b.WithPanel(promPanel("Lag", "s", 12,
		promTarget{`max by (instance) (flowlog_exporter_lag_seconds{` + inst + `})`, "{{instance}}"}))
	b.WithPanel(promPanel("Objects", "ops", 12,
		promTarget{`sum(rate(flowlog_exporter_objects_done_total{` + inst + `}[$__rate_interval]))`, "done"},
		promTarget{`sum(rate(flowlog_exporter_objects_failed_total{` + inst + `}[$__rate_interval]))`, "failed (retried)"},
		promTarget{`sum(rate(flowlog_exporter_objects_damaged_total{` + inst + `}[$__rate_interval]))`, "damaged"},
		promTarget{`sum(rate(flowlog_exporter_list_errors_total{` + inst + `}[$__rate_interval]))`, "listing errors"}))
	b.WithPanel(promPanel("Records", "short", 12,
		promTarget{`sum(rate(flowlog_exporter_records_in_total{` + inst + `}[$__rate_interval]))`, "parsed"},
		promTarget{`sum by (sink) (rate(flowlog_exporter_records_out_total{` + inst + `}[$__rate_interval]))`, "delivered to {{sink}}"},
		promTarget{`sum by (sink) (rate(flowlog_exporter_records_duplicate_total{` + inst + `}[$__rate_interval]))`, "already in {{sink}}"}))
	b.WithPanel(promPanel("Records rejected", "short", 12,
		promTarget{`sum(rate(flowlog_exporter_records_rejected_total{` + inst + `}[$__rate_interval]))`, "lines that did not parse"},
		promTarget{`sum by (sink) (rate(flowlog_exporter_records_sink_rejected_total{` + inst + `}[$__rate_interval]))`, "refused by {{sink}}"}))
	b.WithPanel(promPanel("In flight", "short", 12,
		promTarget{`sum(flowlog_exporter_records_in_flight{` + inst + `})`, "records"},
		promTarget{`sum(flowlog_exporter_objects_in_flight{` + inst + `})`, "objects"}))
	b.WithPanel(promPanel("Bytes read", "Bps", 12,
		promTarget{`sum(rate(flowlog_exporter_bytes_total{` + inst + `}[$__rate_interval]))`, "stored bytes of objects"},
		promTarget{`sum(flowlog_exporter_bytes_in_flight{` + inst + `})`, "record text in flight"}))

	b.WithRow(dashboard.NewRowBuilder("Collector"))
	b.WithPanel(promPanel("Packets", "pps", 12,
		promTarget{`sum by (flow_log) (rate(flowlog_collector_packets_total{` + inst + `}[$__rate_interval]))`, "{{flow_log}}"}))
	b.WithPanel(promPanel("Bytes", "Bps", 12,
		promTarget{`sum by (flow_log) (rate(flowlog_collector_bytes_total{` + inst + `}[$__rate_interval]))`, "{{flow_log}}"}))
	b.WithPanel(promPanel("Kernel drops and lost packets", "pps", 12,
		promTarget{`sum by (flow_log) (rate(flowlog_collector_kernel_drops_total{` + inst + `}[$__rate_interval]))`, "kernel drops {{flow_log}}"},
		promTarget{`sum by (flow_log) (rate(flowlog_collector_lost_packets_total{` + inst + `}[$__rate_interval]))`, "flow table full {{flow_log}}"},
		promTarget{`sum by (flow_log) (rate(flowlog_collector_decode_errors_total{` + inst + `}[$__rate_interval]))`, "undecodable {{flow_log}}"}))
	b.WithPanel(promPanel("Windows", "short", 12,
		promTarget{`sum by (flow_log) (increase(flowlog_collector_windows_written_total{` + inst + `}[$__rate_interval]))`, "written {{flow_log}}"},
		promTarget{`sum by (flow_log) (increase(flowlog_collector_windows_failed_total{` + inst + `}[$__rate_interval]))`, "failed {{flow_log}}"},
		promTarget{`sum by (flow_log) (increase(flowlog_collector_skipdata_windows_total{` + inst + `}[$__rate_interval]))`, "SKIPDATA {{flow_log}}"}))
	b.WithPanel(promPanel("Spool", "decbytes", 12,
		promTarget{`sum by (instance) (flowlog_collector_spool_bytes{` + inst + `})`, "{{instance}}"}))
	b.WithPanel(promPanel("Oldest object in the spool", "s", 12,
		promTarget{`max by (instance) (flowlog_collector_spool_oldest_age_seconds{` + inst + `})`, "{{instance}}"}))
	b.WithPanel(promPanel("Uploads", "short", 24,
		promTarget{`sum by (flow_log) (increase(flowlog_collector_uploads_total{` + inst + `}[$__rate_interval]))`, "uploaded {{flow_log}}"},
		promTarget{`sum by (flow_log) (increase(flowlog_collector_upload_retries_total{` + inst + `}[$__rate_interval]))`, "retried {{flow_log}}"},
		promTarget{`sum by (flow_log) (increase(flowlog_collector_upload_refused_total{` + inst + `}[$__rate_interval]))`, "refused {{flow_log}}"}))
	return b.Build()
}

// statPanel is a stat panel showing the last value of its queries.
func statPanel(title string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).ReduceOptions(lastValue()).Orientation(common.VizOrientationAuto)
}

// Package build makes the dashboards flowlog ships: the Grafana dashboards
// with grafana-foundation-sdk's builders, the Kibana saved objects, and the
// provisioning files. The files under dashboards/ are its output, committed
// and embedded in the binary; a test in package dashboards fails when they
// differ from what Build makes ("go generate ./dashboards" writes them).
package build

//lint:file-ignore SA1019 the classic dashboard model (dashboard, not dashboardv2) is what /api/dashboards/db and file provisioning take on every Grafana version in use; the issue asks for its strict decoder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/geomap"
)

// The Grafana datasource plugins the dashboards use.
const (
	ClickHousePlugin = "grafana-clickhouse-datasource"
	LokiPlugin       = "loki"
	PrometheusPlugin = "prometheus"
)

// The dashboards' UIDs: install and provisioning keep them, so a second
// install replaces the first instead of adding a copy.
const (
	ClickHouseUID = "flowlog-clickhouse"
	LokiUID       = "flowlog-loki"
	HealthUID     = "flowlog-health"
)

// AllValue is what a filter variable holds when "All" is selected. SQL
// panels test for it ('__all' IN (…) OR column IN (…)) instead of relying on
// the plugin rewriting the query; LogQL panels use a regex matching all.
const AllValue = "__all"

// Files returns every file of dashboards/, by its path there.
func Files() (map[string][]byte, error) {
	files := map[string][]byte{}
	for name, build := range map[string]func() (dashboard.Dashboard, error){
		"grafana/flowlog-clickhouse.json": ClickHouse,
		"grafana/flowlog-loki.json":       Loki,
		"grafana/flowlog-health.json":     Health,
	} {
		d, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		numberPanels(&d)
		b, err := marshal(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files[name] = b
	}
	for name, text := range provisioning {
		files[name] = []byte(text)
	}
	k, err := kibanaFiles()
	if err != nil {
		return nil, err
	}
	for name, b := range k {
		files[name] = b
	}
	return files, nil
}

// marshal is JSON as people read it in a repository: indented, with a
// final newline, and <, > and & left alone (SQL is full of them).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ds is the reference panels and queries use: the dashboard's datasource
// variable, so one dashboard serves any datasource of the plugin.
func ds(plugin string) common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr(plugin), Uid: cog.ToPtr("${datasource}")}
}

// flowsDashboard starts the flows dashboard of a sink: its title, uid,
// tags and the settings both flows dashboards share.
func flowsDashboard(uid, sinkName, tag string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder("flowlog — flows ("+sinkName+")").
		Uid(uid).
		Description("Flow logs delivered by flowlog's "+sinkName+" sink: traffic, top talkers, rejected flows, possible scans, countries and AS, interfaces and data quality.").
		Tags([]string{"flowlog", "flow logs", tag}).
		Editable().
		Time("now-6h", "now").
		Refresh("5m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair)
}

// datasourceVar is the variable choosing the datasource, defaulting to the
// one the provisioning file creates.
func datasourceVar(plugin, uid, label string) *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").Label(label).Type(plugin).
		Current(dashboard.VariableOption{Text: text(uid), Value: text(uid)})
}

func text(s string) dashboard.StringOrArrayOfString {
	return dashboard.StringOrArrayOfString{String: cog.ToPtr(s)}
}

// allOption is the "All" selection of a multi-value variable.
func allOption() dashboard.VariableOption {
	return dashboard.VariableOption{Selected: cog.ToPtr(true), Text: dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
		Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}}}
}

// sqlQuery is a query of the ClickHouse plugin in its SQL editor. The SDK
// has no type for the plugin; the fields are those of its CHSqlQuery.
type sqlQuery struct {
	RefID      string               `json:"refId"`
	Datasource common.DataSourceRef `json:"datasource"`
	EditorType string               `json:"editorType"`
	QueryType  string               `json:"queryType"`
	Format     int                  `json:"format"` // 0 time series, 1 table
	RawSQL     string               `json:"rawSql"`
}

func (sqlQuery) ImplementsDataqueryVariant() {}
func (sqlQuery) DataqueryType() string       { return ClickHousePlugin }
func (sqlQuery) Validate() error             { return nil }
func (q sqlQuery) Equals(o variants.Dataquery) bool {
	other, ok := o.(sqlQuery)
	return ok && reflect.DeepEqual(q, other)
}

// Build makes sqlQuery its own builder.
func (q sqlQuery) Build() (variants.Dataquery, error) { return q, nil }

func sqlTimeSeries(sql string) sqlQuery {
	return sqlQuery{RefID: "A", Datasource: ds(ClickHousePlugin), EditorType: "sql", QueryType: "timeSeries", Format: 0, RawSQL: sql}
}

func sqlTable(sql string) sqlQuery {
	return sqlQuery{RefID: "A", Datasource: ds(ClickHousePlugin), EditorType: "sql", QueryType: "table", Format: 1, RawSQL: sql}
}

// built is a value standing for its own builder, where the SDK wants a
// builder of a plain struct.
type built[T any] struct{ v T }

func (b built[T]) Build() (T, error) { return b.v, nil }

// lastValue reduces a series to its last value, as a stat panel shows it.
func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)
}

// numberPanels gives every panel and row a unique id, in order: Grafana
// links, shares and remembers panels by id.
func numberPanels(d *dashboard.Dashboard) {
	var id uint32
	for _, p := range d.Panels {
		id++
		switch {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(id)
		case p.RowPanel != nil:
			p.RowPanel.Id = id
			for i := range p.RowPanel.Panels {
				id++
				p.RowPanel.Panels[i].Id = cog.ToPtr(id)
			}
		}
	}
}

// noFooter is a table without a totals row (the schema wants its reducer
// named even when hidden).
func noFooter() built[common.TableFooterOptions] {
	return built[common.TableFooterOptions]{common.TableFooterOptions{Show: false, Reducer: []string{"sum"}}}
}

// countryMap is the geomap of traffic by source country: a marker per
// country (looked up by its ISO code in field country) sized by field size.
func countryMap(plugin, country, size string) *geomap.PanelBuilder {
	return geomap.NewPanelBuilder().Title("Traffic by source country").Datasource(ds(plugin)).Unit("decbytes").Height(10).Span(12).
		View(geomap.NewMapViewConfigBuilder().Id("zero")).
		Basemap(built[common.MapLayerOptions]{common.MapLayerOptions{Type: "default", Name: "Basemap"}}).
		Layers([]cog.Builder[common.MapLayerOptions]{built[common.MapLayerOptions]{common.MapLayerOptions{Type: "markers", Name: "Countries",
			Location: &common.FrameGeometrySource{Mode: common.FrameGeometrySourceModeLookup, Lookup: cog.ToPtr(country),
				Gazetteer: cog.ToPtr("public/gazetteer/countries.json")},
			Config: map[string]any{"showLegend": true, "style": map[string]any{"size": map[string]any{"field": size, "min": 4, "max": 30, "fixed": 5}}}}}})
}

package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/flowlog/flowlog/exporter/sink/elasticsearch"
)

// The Kibana saved objects: a data view, Lens visualizations with the
// panels of the Grafana dashboards, a saved search of rejected flows and a
// dashboard, once for each target of the Elasticsearch sink. The two
// targets name the flow log's own columns differently (flowlog.* or
// aws.vpcflow.*) and spell event.action differently; the rest is ECS.

// KibanaTarget is one target of the Elasticsearch sink as the saved
// objects see it.
type KibanaTarget struct {
	File      string // under dashboards/
	Prefix    string // of every saved object's id
	Title     string // of the dashboard
	Pattern   string // the data view's index pattern
	Interface string // the interface id field
	Status    string // the log status field
	Rejected  string // KQL selecting rejected flows
	// Types are the types of the fields the target's documents have that
	// our template does not map (Elastic's AWS integration maps them).
	Types map[string]string
}

// KibanaTargets are the Elasticsearch sink's targets.
var KibanaTargets = []KibanaTarget{
	{File: "kibana/flowlog.ndjson", Prefix: "flowlog", Title: "flowlog — flows (Elasticsearch)",
		Pattern: "logs-flowlog.flows-*", Interface: "flowlog.interface_id", Status: "flowlog.log_status",
		Rejected: "event.action : reject"},
	{File: "kibana/flowlog-elastic-aws.ndjson", Prefix: "flowlog-aws", Title: "flowlog — flows (Elastic AWS integration)",
		Pattern: "logs-aws.vpcflow-*", Interface: "aws.vpcflow.interface_id", Status: "aws.vpcflow.log_status",
		Rejected: "aws.vpcflow.action : REJECT",
		// The integration's fields (packages/aws/docs/vpcflow.md).
		Types: map[string]string{"aws.vpcflow.interface_id": "keyword", "aws.vpcflow.log_status": "keyword",
			"aws.vpcflow.action": "keyword", "aws.vpcflow.account_id": "keyword", "cloud.provider": "keyword"}},
}

// The saved objects' versions: Kibana migrates objects of an older version
// on import, so these are those of 8.8, the oldest Kibana the sink
// supports with Lens as written here.
const (
	coreMigration = "8.8.0"
)

var typeMigration = map[string]string{"index-pattern": "8.0.0", "lens": "8.9.0", "search": "8.0.0", "dashboard": "8.9.0"}

// savedObject is one line of a saved-objects NDJSON file.
type savedObject struct {
	Attributes           map[string]any `json:"attributes"`
	CoreMigrationVersion string         `json:"coreMigrationVersion"`
	ID                   string         `json:"id"`
	Managed              bool           `json:"managed"`
	References           []reference    `json:"references"`
	Type                 string         `json:"type"`
	TypeMigrationVersion string         `json:"typeMigrationVersion"`
}

type reference struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// lensCol is a column of a Lens layer.
type lensCol struct {
	op, field, label string
	size             int      // terms: how many
	order            string   // terms: the metric column ordering them
	secondary        []string // terms: more fields (pairs)
}

func dateHist() lensCol {
	return lensCol{op: "date_histogram", field: "@timestamp", label: "@timestamp"}
}
func terms(field, label string, size int, order string, more ...string) lensCol {
	return lensCol{op: "terms", field: field, label: label, size: size, order: order, secondary: more}
}
func sumOf(field, label string) lensCol { return lensCol{op: "sum", field: field, label: label} }
func countOf(label string) lensCol      { return lensCol{op: "count", field: "___records___", label: label} }
func uniqueOf(field, label string) lensCol {
	return lensCol{op: "unique_count", field: field, label: label}
}

// lensPanel is a Lens visualization: a metric, a bar chart over time (x
// set), or a table.
type lensPanel struct {
	id, title string
	kind      string // metric, xy, table
	query     string // KQL
	x         *lensCol
	split     *lensCol // xy: one series per value
	rows      []lensCol
	metrics   []lensCol
	w, h      int
}

// kibanaPanels are the Lens panels for target k.
func kibanaPanels(k KibanaTarget) []lensPanel {
	x := dateHist()
	bytes, flows := sumOf("network.bytes", "Bytes"), countOf("Flows")
	ok := k.Status + " : OK"
	rejected := k.Rejected
	action := terms("event.action", "Action", 3, "m0")
	if k.Types != nil {
		action = terms("aws.vpcflow.action", "Action", 3, "m0")
	}
	return []lensPanel{
		{id: "bytes", title: "Bytes", kind: "metric", query: ok, metrics: []lensCol{bytes}, w: 12, h: 6},
		{id: "packets", title: "Packets", kind: "metric", query: ok, metrics: []lensCol{sumOf("network.packets", "Packets")}, w: 12, h: 6},
		{id: "flows", title: "Flows", kind: "metric", query: ok, metrics: []lensCol{flows}, w: 12, h: 6},
		{id: "rejected", title: "Rejected flows", kind: "metric", query: rejected, metrics: []lensCol{flows}, w: 12, h: 6},
		{id: "bytes-by-action", title: "Bytes by action", kind: "xy", query: ok, x: &x, split: &action, metrics: []lensCol{bytes}, w: 16, h: 12},
		{id: "packets-by-action", title: "Packets by action", kind: "xy", query: ok, x: &x, split: &action, metrics: []lensCol{sumOf("network.packets", "Packets")}, w: 16, h: 12},
		{id: "flows-by-action", title: "Flows by action", kind: "xy", query: ok, x: &x, split: &action, metrics: []lensCol{flows}, w: 16, h: 12},
		{id: "top-sources", title: "Top sources", kind: "table", query: ok, rows: []lensCol{terms("source.ip", "Source", 20, "m0")},
			metrics: []lensCol{bytes, sumOf("network.packets", "Packets"), flows}, w: 16, h: 14},
		{id: "top-destinations", title: "Top destinations", kind: "table", query: ok, rows: []lensCol{terms("destination.ip", "Destination", 20, "m0")},
			metrics: []lensCol{bytes, sumOf("network.packets", "Packets"), flows}, w: 16, h: 14},
		{id: "top-pairs", title: "Top pairs", kind: "table", query: ok, rows: []lensCol{terms("source.ip", "Source → destination", 20, "m0", "destination.ip")},
			metrics: []lensCol{bytes, flows}, w: 16, h: 14},
		{id: "top-ports", title: "Top destination ports", kind: "table", query: ok,
			rows:    []lensCol{terms("destination.port", "Port", 20, "m0", "network.transport")},
			metrics: []lensCol{flows, bytes}, w: 24, h: 14},
		{id: "top-services", title: "Top services", kind: "table", query: ok, rows: []lensCol{terms("network.protocol", "Service", 20, "m0")},
			metrics: []lensCol{flows, bytes}, w: 24, h: 14},
		{id: "rejected-by-protocol", title: "Rejected flows by protocol", kind: "xy", query: rejected, x: &x,
			split: ptr(terms("network.transport", "Protocol", 5, "m0")), metrics: []lensCol{flows}, w: 48, h: 12},
		{id: "top-rejected-sources", title: "Top rejected sources", kind: "table", query: rejected, rows: []lensCol{terms("source.ip", "Source", 20, "m0")},
			metrics: []lensCol{flows, uniqueOf("destination.port", "Ports"), uniqueOf("destination.ip", "Hosts")}, w: 16, h: 14},
		{id: "top-rejected-ports", title: "Top rejected ports", kind: "table", query: rejected,
			rows:    []lensCol{terms("destination.port", "Port", 20, "m0", "network.transport")},
			metrics: []lensCol{flows, uniqueOf("source.ip", "Sources")}, w: 16, h: 14},
		{id: "possible-scans", title: "Possible scans (sources of rejected flows by distinct ports)", kind: "table", query: rejected,
			rows:    []lensCol{terms("source.ip", "Source", 20, "m0")},
			metrics: []lensCol{uniqueOf("destination.port", "Ports"), uniqueOf("destination.ip", "Hosts"), flows}, w: 16, h: 14},
		{id: "countries", title: "Traffic by source country", kind: "table", query: ok + " and source.geo.country_iso_code : *",
			rows:    []lensCol{terms("source.geo.country_iso_code", "Country", 30, "m0")},
			metrics: []lensCol{bytes, flows}, w: 24, h: 14},
		{id: "top-as", title: "Top source AS", kind: "table", query: ok + " and source.as.number : *",
			rows:    []lensCol{terms("source.as.number", "AS", 20, "m0", "source.as.organization.name")},
			metrics: []lensCol{bytes, flows}, w: 24, h: 14},
		{id: "bytes-by-interface", title: "Bytes by interface", kind: "xy", query: ok, x: &x,
			split: ptr(terms(k.Interface, "Interface", 10, "m0")), metrics: []lensCol{bytes}, w: 24, h: 12},
		{id: "windows-without-data", title: "SKIPDATA and NODATA records by interface", kind: "table",
			query:   k.Status + " : (SKIPDATA or NODATA)",
			rows:    []lensCol{terms(k.Interface, "Interface", 50, "m0"), terms(k.Status, "Status", 2, "m0")},
			metrics: []lensCol{countOf("Records")}, w: 24, h: 12},
	}
}

func ptr[T any](v T) *T { return &v }

// kibanaFiles makes the NDJSON file of each target.
func kibanaFiles() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, k := range KibanaTargets {
		objs, err := KibanaObjects(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.File, err)
		}
		var buf bytes.Buffer
		for _, o := range objs {
			b, err := json.Marshal(o)
			if err != nil {
				return nil, err
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
		out[k.File] = buf.Bytes()
	}
	return out, nil
}

// KibanaObjects returns the saved objects of target k: the data view
// first (the others refer to it), the dashboard last.
func KibanaObjects(k KibanaTarget) ([]savedObject, error) {
	types := map[string]string{}
	for _, f := range elasticsearch.Fields() {
		types[f.Name] = f.Type
	}
	for name, typ := range k.Types {
		types[name] = typ
	}
	view := k.Prefix + "-data-view"
	objs := []savedObject{{Type: "index-pattern", ID: view, Attributes: map[string]any{
		"title": k.Pattern, "name": k.Title, "timeFieldName": "@timestamp", "allowNoIndex": true,
	}, References: []reference{}}}

	var panels []map[string]any
	var refs []reference
	x, y, rowH := 0, 0, 0
	place := func(id, typ string, w, h int) {
		if x+w > 48 {
			x, y, rowH = 0, y+rowH, 0
		}
		i := strconv.Itoa(len(panels) + 1)
		panels = append(panels, map[string]any{"version": coreMigration, "type": typ, "panelIndex": i,
			"gridData": map[string]any{"x": x, "y": y, "w": w, "h": h, "i": i}, "embeddableConfig": map[string]any{"enhancements": map[string]any{}},
			"panelRefName": "panel_" + i})
		refs = append(refs, reference{ID: id, Name: i + ":panel_" + i, Type: typ})
		x += w
		rowH = max(rowH, h)
	}
	for _, p := range kibanaPanels(k) {
		o, err := lensObject(k, view, p, types)
		if err != nil {
			return nil, fmt.Errorf("panel %q: %w", p.title, err)
		}
		objs = append(objs, o)
		place(o.ID, "lens", p.w, p.h)
	}

	search := savedObject{Type: "search", ID: k.Prefix + "-rejected-flows", Attributes: map[string]any{
		"title":       "flowlog — rejected flows",
		"description": "Flows refused by a security group, network ACL or firewall, latest first.",
		"columns":     []string{"source.ip", "source.port", "destination.ip", "destination.port", "network.transport", k.Interface, "network.bytes"},
		"sort":        [][]string{{"@timestamp", "desc"}},
		"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": mustJSON(map[string]any{
			"query": map[string]any{"query": k.Rejected, "language": "kuery"}, "filter": []any{},
			"indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"})},
	}, References: []reference{{ID: view, Name: "kibanaSavedObjectMeta.searchSourceJSON.index", Type: "index-pattern"}}}
	objs = append(objs, search)
	place(search.ID, "search", 48, 15)

	objs = append(objs, savedObject{Type: "dashboard", ID: k.Prefix + "-dashboard", Attributes: map[string]any{
		"title":       k.Title,
		"description": "Flow logs delivered by flowlog: traffic, top talkers, rejected flows, possible scans, countries and AS, interfaces and data quality.",
		"panelsJSON":  mustJSON(panels),
		"optionsJSON": mustJSON(map[string]any{"useMargins": true, "syncColors": false, "syncCursor": true, "syncTooltips": false, "hidePanelTitles": false}),
		"timeRestore": true, "timeFrom": "now-24h", "timeTo": "now",
		"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": mustJSON(map[string]any{
			"query": map[string]any{"query": "", "language": "kuery"}, "filter": []any{}})},
	}, References: refs})

	for i := range objs {
		objs[i].CoreMigrationVersion = coreMigration
		objs[i].TypeMigrationVersion = typeMigration[objs[i].Type]
	}
	return objs, nil
}

// lensObject is the saved object of a Lens panel.
func lensObject(k KibanaTarget, view string, p lensPanel, types map[string]string) (savedObject, error) {
	cols := map[string]any{}
	var order []string
	add := func(id string, c lensCol, bucketed bool) error {
		col := map[string]any{"label": c.label, "customLabel": true, "operationType": c.op, "sourceField": c.field, "isBucketed": bucketed}
		switch c.op {
		case "date_histogram":
			col["dataType"], col["scale"] = "date", "interval"
			col["params"] = map[string]any{"interval": "auto", "includeEmptyRows": true, "dropPartials": false}
		case "terms":
			dt, err := dataType(types, c.field)
			if err != nil {
				return err
			}
			params := map[string]any{"size": c.size, "orderBy": map[string]any{"type": "column", "columnId": c.order},
				"orderDirection": "desc", "otherBucket": false, "missingBucket": false, "parentFormat": map[string]any{"id": "terms"}}
			if len(c.secondary) > 0 {
				for _, f := range c.secondary {
					if _, err := dataType(types, f); err != nil {
						return err
					}
				}
				params["secondaryFields"] = c.secondary
				params["parentFormat"] = map[string]any{"id": "multi_terms"}
			}
			col["dataType"], col["scale"], col["params"] = dt, "ordinal", params
		case "count":
			col["dataType"], col["scale"], col["params"] = "number", "ratio", map[string]any{"emptyAsNull": false}
		case "sum", "unique_count":
			if _, err := dataType(types, c.field); err != nil {
				return err
			}
			col["dataType"], col["scale"], col["params"] = "number", "ratio", map[string]any{"emptyAsNull": true}
		default:
			return fmt.Errorf("operation %s", c.op)
		}
		cols[id] = col
		order = append(order, id)
		return nil
	}
	var rowIDs []string
	for i, c := range p.rows {
		id := "r" + strconv.Itoa(i)
		rowIDs = append(rowIDs, id)
		if err := add(id, c, true); err != nil {
			return savedObject{}, err
		}
	}
	if p.split != nil {
		if err := add("s0", *p.split, true); err != nil {
			return savedObject{}, err
		}
	}
	if p.x != nil {
		if err := add("x", *p.x, true); err != nil {
			return savedObject{}, err
		}
	}
	var metricIDs []string
	for i, c := range p.metrics {
		id := "m" + strconv.Itoa(i)
		metricIDs = append(metricIDs, id)
		if err := add(id, c, false); err != nil {
			return savedObject{}, err
		}
	}

	var viz map[string]any
	var vizType string
	switch p.kind {
	case "metric":
		vizType = "lnsMetric"
		viz = map[string]any{"layerId": "layer1", "layerType": "data", "metricAccessor": "m0"}
	case "xy":
		vizType = "lnsXY"
		layer := map[string]any{"layerId": "layer1", "layerType": "data", "seriesType": "bar_stacked", "xAccessor": "x", "accessors": metricIDs}
		if p.split != nil {
			layer["splitAccessor"] = "s0"
		}
		viz = map[string]any{"preferredSeriesType": "bar_stacked", "legend": map[string]any{"isVisible": true, "position": "right"},
			"valueLabels": "hide", "layers": []any{layer}}
	case "table":
		vizType = "lnsDatatable"
		var vc []any
		for _, id := range append(rowIDs, metricIDs...) {
			vc = append(vc, map[string]any{"columnId": id})
		}
		viz = map[string]any{"layerId": "layer1", "layerType": "data", "columns": vc}
	default:
		return savedObject{}, fmt.Errorf("kind %s", p.kind)
	}
	return savedObject{Type: "lens", ID: k.Prefix + "-" + p.id, Attributes: map[string]any{
		"title": p.title, "description": "", "visualizationType": vizType,
		"state": map[string]any{
			"datasourceStates": map[string]any{"formBased": map[string]any{"layers": map[string]any{
				"layer1": map[string]any{"columns": cols, "columnOrder": order, "incompleteColumns": map[string]any{}}}}},
			"visualization":      viz,
			"query":              map[string]any{"query": p.query, "language": "kuery"},
			"filters":            []any{},
			"internalReferences": []any{},
			"adHocDataViews":     map[string]any{},
		},
	}, References: []reference{{ID: view, Name: "indexpattern-datasource-layer-layer1", Type: "index-pattern"}}}, nil
}

// dataType is Lens' data type of a field, from its Elasticsearch type.
func dataType(types map[string]string, field string) (string, error) {
	switch types[field] {
	case "keyword", "constant_keyword":
		return "string", nil
	case "ip":
		return "ip", nil
	case "long", "integer", "short", "byte", "double", "float":
		return "number", nil
	case "date":
		return "date", nil
	case "":
		return "", fmt.Errorf("field %s is not in the index template", field)
	}
	return "", fmt.Errorf("field %s: type %s cannot be aggregated by Lens here", field, types[field])
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

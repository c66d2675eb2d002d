//lint:file-ignore SA1019 the classic dashboard model (dashboard, not dashboardv2) is what /api/dashboards/db and file provisioning take on every Grafana version in use; the issue asks for its strict decoder

package dashboards

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// grafanaDashboards returns the shipped Grafana dashboards by file name.
func grafanaDashboards(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := fs.Glob(Files(), "grafana/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 {
		t.Fatalf("want 3 Grafana dashboards, found %v", names)
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, err := fs.ReadFile(Files(), n)
		if err != nil {
			t.Fatal(err)
		}
		out[path.Base(n)] = b
	}
	return out
}

// TestGrafanaStrict decodes every dashboard with the foundation SDK's strict
// decoder: unknown keys and wrongly typed values of the dashboard, its
// panels' options and field configs, and its Loki and Prometheus queries are
// errors. On success it returns an empty, non-nil cog.BuildErrors.
func TestGrafanaStrict(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for name, b := range grafanaDashboards(t) {
		var d dashboard.Dashboard
		err := d.UnmarshalJSONStrict(b)
		var be cog.BuildErrors
		if !errors.As(err, &be) || len(be) != 0 {
			t.Errorf("%s: strict decoding: %v", name, err)
			continue
		}
		if d.Uid == nil || !strings.HasPrefix(*d.Uid, "flowlog-") || d.Title == nil {
			t.Errorf("%s: want a flowlog-* uid and a title", name)
		}
	}
	// The decoder itself catches what it should: a misspelt option.
	var d dashboard.Dashboard
	bad := `{"title":"x","panels":[{"type":"timeseries","title":"p","options":{"legendd":{}}}]}`
	var be cog.BuildErrors
	if err := d.UnmarshalJSONStrict([]byte(bad)); errors.As(err, &be) && len(be) == 0 {
		t.Error("the strict decoder accepted an unknown panel option")
	}
}

// panel is what the structure checks read of a panel.
type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		RawSQL     string `json:"rawSql"`
		QueryType  string `json:"queryType"`
		Format     *int   `json:"format"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

type grafanaFile struct {
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			AllValue   string `json:"allValue"`
			IncludeAll bool   `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
}

func readGrafana(t *testing.T, b []byte) grafanaFile {
	t.Helper()
	var g grafanaFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGrafanaStructure checks what the decoder does not: unique panel ids,
// panels inside the 24-column grid, every query on the dashboard's
// datasource variable with the plugin of its dashboard, and every variable
// a query uses defined.
func TestGrafanaStructure(t *testing.T) {
	plugin := map[string]string{
		"flowlog-clickhouse.json": "grafana-clickhouse-datasource",
		"flowlog-loki.json":       "loki",
		"flowlog-health.json":     "prometheus",
	}
	for name, b := range grafanaDashboards(t) {
		g := readGrafana(t, b)
		vars := map[string]bool{}
		for _, v := range g.Templating.List {
			vars[v.Name] = true
		}
		ids := map[int]bool{}
		queries := 0
		for _, p := range g.Panels {
			if p.ID == 0 || ids[p.ID] {
				t.Errorf("%s: panel %q: id %d missing or used twice", name, p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("%s: panel %q: grid position %+v outside the 24 columns", name, p.Title, p.GridPos)
			}
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.Type != plugin[name] || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q: datasource %+v, want %s on ${datasource}", name, p.Title, p.Datasource, plugin[name])
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", name, p.Title)
			}
			for _, q := range p.Targets {
				queries++
				if q.Datasource.Type != plugin[name] || q.Datasource.UID != "${datasource}" {
					t.Errorf("%s: panel %q: query %s on %+v", name, p.Title, q.RefID, q.Datasource)
				}
				text := q.Expr + q.RawSQL
				if text == "" {
					t.Errorf("%s: panel %q: query %s is empty", name, p.Title, q.RefID)
				}
				for _, v := range variablesIn(text) {
					if !vars[v] && !strings.HasPrefix(v, "__") {
						t.Errorf("%s: panel %q: query uses ${%s}, which the dashboard does not define", name, p.Title, v)
					}
				}
			}
		}
		if queries < 10 {
			t.Errorf("%s: only %d queries", name, queries)
		}
	}
}

// variablesIn returns the names of the Grafana variables text uses: $name,
// ${name} and ${name:format}.
func variablesIn(text string) []string {
	var out []string
	for i := 0; i < len(text); i++ {
		if text[i] != '$' {
			continue
		}
		j := i + 1
		braced := j < len(text) && text[j] == '{'
		if braced {
			j++
		}
		k := j
		for k < len(text) && (text[k] == '_' || text[k] >= 'a' && text[k] <= 'z' || text[k] >= 'A' && text[k] <= 'Z' || text[k] >= '0' && text[k] <= '9') {
			k++
		}
		if k > j {
			out = append(out, text[j:k])
		}
		i = k - 1
	}
	return out
}

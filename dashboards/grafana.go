package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Grafana installs the dashboards through Grafana's HTTP API.
type Grafana struct {
	c *client
}

// NewGrafana returns a client of the Grafana at rawURL (its root URL,
// with the sub-path if Grafana is served under one).
func NewGrafana(rawURL string, auth Auth, hc *http.Client) (*Grafana, error) {
	c, err := newClient(rawURL, auth, hc)
	if err != nil {
		return nil, fmt.Errorf("grafana: %w", err)
	}
	return &Grafana{c: c}, nil
}

// Change is what install did to one dashboard or saved-objects file.
type Change struct {
	Name   string // the dashboard's title or the file
	Action string // "created", "updated", "unchanged"
	Note   string // e.g. which datasource it uses
}

// grafanaPlugins maps each dashboard file to the datasource plugin its
// datasource variable chooses.
var grafanaPlugins = map[string]string{
	"flowlog-clickhouse.json": "grafana-clickhouse-datasource",
	"flowlog-loki.json":       "loki",
	"flowlog-health.json":     "prometheus",
}

var folderUIDRe = regexp.MustCompile(`[^a-z0-9_-]+`)

// Install puts the three dashboards into folder (created when missing).
// datasources are UIDs of datasources to use, at most one per plugin;
// a dashboard whose plugin has none given uses the first datasource of its
// plugin Grafana lists, else keeps the provisioning file's UID. A dashboard
// already there with the same content and folder is left alone.
func (g *Grafana) Install(ctx context.Context, folder string, datasources []string) ([]Change, error) {
	if folder == "" {
		folder = "flowlog"
	}
	folderUID := strings.Trim(folderUIDRe.ReplaceAllString(strings.ToLower(folder), "-"), "-")
	if folderUID == "" || len(folderUID) > 40 {
		return nil, fmt.Errorf("grafana: folder %q: want a name with letters or digits, at most 40", folder)
	}
	chosen, notes, err := g.chooseDatasources(ctx, datasources)
	if err != nil {
		return nil, err
	}
	if folderUID, err = g.ensureFolder(ctx, folderUID, folder); err != nil {
		return nil, err
	}
	names, _ := fs.Glob(files, "grafana/*.json")
	var changes []Change
	for _, name := range names {
		raw, _ := fs.ReadFile(files, name)
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			return changes, fmt.Errorf("%s: %w", name, err)
		}
		base := path.Base(name)
		plugin := grafanaPlugins[base]
		if uid := chosen[plugin]; uid != "" {
			setDatasource(d, uid)
		}
		uid, _ := d["uid"].(string)
		title, _ := d["title"].(string)
		ch := Change{Name: title, Note: notes[plugin]}
		var cur struct {
			Dashboard map[string]any `json:"dashboard"`
			Meta      struct {
				FolderUID string `json:"folderUid"`
			} `json:"meta"`
		}
		err := g.c.do(ctx, http.MethodGet, "/api/dashboards/uid/"+url.PathEscape(uid), nil, "", &cur)
		switch {
		case isStatus(err, http.StatusNotFound):
			ch.Action = "created"
		case err != nil:
			return changes, fmt.Errorf("grafana: %w", err)
		case cur.Meta.FolderUID == folderUID && sameDashboard(cur.Dashboard, d):
			ch.Action = "unchanged"
			changes = append(changes, ch)
			continue
		default:
			ch.Action = "updated"
		}
		d["id"] = nil
		body := map[string]any{"dashboard": d, "folderUid": folderUID, "overwrite": true, "message": "installed by flowlog dashboards install"}
		var ans struct {
			Status string `json:"status"`
			UID    string `json:"uid"`
		}
		if err := g.c.do(ctx, http.MethodPost, "/api/dashboards/db", body, "", &ans); err != nil {
			return changes, fmt.Errorf("grafana: %s: %w", title, err)
		}
		if ans.Status != "success" || ans.UID != uid {
			return changes, fmt.Errorf("grafana: %s: saving answered status %q, uid %q (want success, %s)", title, ans.Status, ans.UID, uid)
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// sameDashboard compares a stored dashboard with ours, leaving out what
// Grafana sets itself on saving.
func sameDashboard(stored, ours map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			if k != "id" && k != "version" {
				out[k] = v
			}
		}
		return out
	}
	return reflect.DeepEqual(strip(stored), strip(ours))
}

// setDatasource makes uid the current value of the datasource variable.
func setDatasource(d map[string]any, uid string) {
	tpl, _ := d["templating"].(map[string]any)
	list, _ := tpl["list"].([]any)
	for _, v := range list {
		if v, ok := v.(map[string]any); ok && v["name"] == "datasource" {
			v["current"] = map[string]any{"text": uid, "value": uid}
		}
	}
}

type grafanaDatasource struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// chooseDatasources maps each plugin to the datasource UID its dashboard
// will use, with a note saying why.
func (g *Grafana) chooseDatasources(ctx context.Context, given []string) (map[string]string, map[string]string, error) {
	chosen, notes := map[string]string{}, map[string]string{}
	for _, uid := range given {
		var ds grafanaDatasource
		if err := g.c.do(ctx, http.MethodGet, "/api/datasources/uid/"+url.PathEscape(uid), nil, "", &ds); err != nil {
			if isStatus(err, http.StatusNotFound) {
				return nil, nil, fmt.Errorf("grafana: --datasource %s: Grafana has no datasource with that uid", uid)
			}
			return nil, nil, fmt.Errorf("grafana: --datasource %s: %w", uid, err)
		}
		if !slices.Contains([]string{"grafana-clickhouse-datasource", "loki", "prometheus"}, ds.Type) {
			return nil, nil, fmt.Errorf("grafana: --datasource %s is a %s datasource; the dashboards use grafana-clickhouse-datasource, loki and prometheus", uid, ds.Type)
		}
		if prev := chosen[ds.Type]; prev != "" {
			return nil, nil, fmt.Errorf("grafana: --datasource %s and %s are both %s datasources: give one", prev, uid, ds.Type)
		}
		chosen[ds.Type], notes[ds.Type] = uid, "datasource "+ds.Name+" ("+uid+")"
	}
	var all []grafanaDatasource
	err := g.c.do(ctx, http.MethodGet, "/api/datasources", nil, "", &all)
	if err != nil && !isStatus(err, http.StatusForbidden) {
		return nil, nil, fmt.Errorf("grafana: %w", err)
	}
	for _, plugin := range []string{"grafana-clickhouse-datasource", "loki", "prometheus"} {
		if chosen[plugin] != "" {
			continue
		}
		for _, ds := range all {
			if ds.Type == plugin {
				chosen[plugin], notes[plugin] = ds.UID, "datasource "+ds.Name+" ("+ds.UID+"), the first "+plugin
				break
			}
		}
		if chosen[plugin] == "" {
			notes[plugin] = "no " + plugin + " datasource found: add one (see dashboards/grafana/provisioning) and choose it in the dashboard"
		}
	}
	return chosen, notes, nil
}

// ensureFolder returns the uid of the folder titled title: the one
// Grafana has (by uid, else by title), or a new one with uid.
func (g *Grafana) ensureFolder(ctx context.Context, uid, title string) (string, error) {
	err := g.c.do(ctx, http.MethodGet, "/api/folders/"+url.PathEscape(uid), nil, "", nil)
	if err == nil {
		return uid, nil
	}
	if !isStatus(err, http.StatusNotFound) {
		return "", fmt.Errorf("grafana: folder %s: %w", title, err)
	}
	var folders []struct{ UID, Title string }
	if err := g.c.do(ctx, http.MethodGet, "/api/folders?limit=1000", nil, "", &folders); err != nil {
		return "", fmt.Errorf("grafana: listing folders: %w", err)
	}
	for _, f := range folders {
		if f.Title == title && f.UID != "" {
			return f.UID, nil
		}
	}
	if err := g.c.do(ctx, http.MethodPost, "/api/folders", map[string]any{"uid": uid, "title": title}, "", nil); err != nil {
		return "", fmt.Errorf("grafana: creating folder %s: %w", title, err)
	}
	return uid, nil
}

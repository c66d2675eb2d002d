package dashboards

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeGrafana speaks the parts of Grafana's HTTP API install uses, and
// fails the test on a request of another shape.
type fakeGrafana struct {
	t           *testing.T
	mu          sync.Mutex
	token       string
	datasources []grafanaDatasource
	folders     map[string]string         // uid → title
	dashboards  map[string]map[string]any // uid → {dashboard, meta}
	saves       int
	nextID      int
}

func newFakeGrafana(t *testing.T) (*fakeGrafana, *httptest.Server) {
	g := &fakeGrafana{t: t, token: "glsa_test", folders: map[string]string{}, dashboards: map[string]map[string]any{},
		datasources: []grafanaDatasource{
			{UID: "ch1", Name: "ClickHouse prod", Type: "grafana-clickhouse-datasource"},
			{UID: "lk1", Name: "Loki", Type: "loki"},
			{UID: "lk2", Name: "Loki 2", Type: "loki"},
			{UID: "prom2", Name: "Prometheus", Type: "prometheus"},
			{UID: "es1", Name: "Elasticsearch", Type: "elasticsearch"},
		}}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *fakeGrafana) reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (g *fakeGrafana) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		g.reply(w, 401, map[string]any{"message": "invalid API key"})
		return
	}
	p := r.URL.Path
	switch {
	case r.Method == "GET" && p == "/api/datasources":
		g.reply(w, 200, g.datasources)
	case r.Method == "GET" && strings.HasPrefix(p, "/api/datasources/uid/"):
		for _, d := range g.datasources {
			if d.UID == strings.TrimPrefix(p, "/api/datasources/uid/") {
				g.reply(w, 200, d)
				return
			}
		}
		g.reply(w, 404, map[string]any{"message": "Data source not found"})
	case r.Method == "GET" && p == "/api/folders":
		var list []map[string]string
		for uid, title := range g.folders {
			list = append(list, map[string]string{"uid": uid, "title": title})
		}
		g.reply(w, 200, list)
	case r.Method == "GET" && strings.HasPrefix(p, "/api/folders/"):
		uid := strings.TrimPrefix(p, "/api/folders/")
		if title, ok := g.folders[uid]; ok {
			g.reply(w, 200, map[string]any{"uid": uid, "title": title})
			return
		}
		g.reply(w, 404, map[string]any{"message": "folder not found"})
	case r.Method == "POST" && p == "/api/folders":
		var f struct{ UID, Title string }
		if !g.decode(w, r, &f) || f.UID == "" || f.Title == "" {
			g.t.Errorf("POST /api/folders: %+v", f)
			return
		}
		for _, title := range g.folders {
			if title == f.Title {
				g.reply(w, 409, map[string]any{"message": "a folder with the same name already exists"})
				return
			}
		}
		g.folders[f.UID] = f.Title
		g.reply(w, 200, map[string]any{"uid": f.UID, "title": f.Title})
	case r.Method == "GET" && strings.HasPrefix(p, "/api/dashboards/uid/"):
		if d, ok := g.dashboards[strings.TrimPrefix(p, "/api/dashboards/uid/")]; ok {
			g.reply(w, 200, d)
			return
		}
		g.reply(w, 404, map[string]any{"message": "Dashboard not found"})
	case r.Method == "POST" && p == "/api/dashboards/db":
		var body struct {
			Dashboard map[string]any `json:"dashboard"`
			FolderUID string         `json:"folderUid"`
			Overwrite bool           `json:"overwrite"`
			Message   string         `json:"message"`
		}
		if !g.decode(w, r, &body) {
			return
		}
		uid, _ := body.Dashboard["uid"].(string)
		if uid == "" || body.Dashboard["title"] == nil || body.Dashboard["panels"] == nil || !body.Overwrite {
			g.t.Errorf("POST /api/dashboards/db without uid, title, panels or overwrite")
		}
		if id, has := body.Dashboard["id"]; !has || id != nil {
			g.t.Errorf("POST /api/dashboards/db: dashboard id %v, want null (Grafana's ids differ between instances)", id)
		}
		if _, ok := g.folders[body.FolderUID]; !ok {
			g.reply(w, 400, map[string]any{"message": "folder not found"})
			return
		}
		g.saves++
		g.nextID++
		stored := map[string]any{}
		for k, v := range body.Dashboard {
			stored[k] = v
		}
		stored["id"], stored["version"] = g.nextID, g.saves
		g.dashboards[uid] = map[string]any{"dashboard": stored, "meta": map[string]any{"folderUid": body.FolderUID, "slug": "x"}}
		g.reply(w, 200, map[string]any{"status": "success", "uid": uid, "id": g.nextID, "version": g.saves})
	default:
		g.t.Errorf("unexpected %s %s", r.Method, p)
		g.reply(w, 404, map[string]any{"message": "not found"})
	}
}

func (g *fakeGrafana) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Header.Get("Content-Type") != "application/json" {
		g.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		g.t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
		g.reply(w, 400, map[string]any{"message": "bad json"})
		return false
	}
	return true
}

func (g *fakeGrafana) current(uid string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.dashboards[uid]["dashboard"].(map[string]any)
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		if v := v.(map[string]any); v["name"] == "datasource" {
			return fmt.Sprint(v["current"].(map[string]any)["value"])
		}
	}
	return ""
}

func actions(changes []Change) string {
	var s []string
	for _, c := range changes {
		s = append(s, c.Action)
	}
	return strings.Join(s, ",")
}

func TestGrafanaInstall(t *testing.T) {
	g, srv := newFakeGrafana(t)
	ctx := context.Background()
	gr, err := NewGrafana(srv.URL+"/", Auth{Token: g.token}, nil)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := gr.Install(ctx, "Flow logs", []string{"lk2"})
	if err != nil {
		t.Fatal(err)
	}
	if actions(changes) != "created,created,created" || g.folders["flow-logs"] != "Flow logs" || g.saves != 3 {
		t.Fatalf("first install: %+v, folders %v, %d saves", changes, g.folders, g.saves)
	}
	for uid, want := range map[string]string{"flowlog-clickhouse": "ch1", "flowlog-loki": "lk2", "flowlog-health": "prom2"} {
		if got := g.current(uid); got != want {
			t.Errorf("%s uses datasource %s, want %s", uid, got, want)
		}
	}
	// Again: nothing changes.
	changes, err = gr.Install(ctx, "Flow logs", []string{"lk2"})
	if err != nil || actions(changes) != "unchanged,unchanged,unchanged" || g.saves != 3 {
		t.Fatalf("second install: %+v, %v, %d saves", changes, err, g.saves)
	}
	// Another datasource: only its dashboard is saved again.
	changes, err = gr.Install(ctx, "Flow logs", []string{"lk1"})
	if err != nil || g.saves != 4 || g.current("flowlog-loki") != "lk1" {
		t.Fatalf("new datasource: %+v, %v, %d saves", changes, err, g.saves)
	}
	// A folder of the same title but another uid is used, not duplicated.
	g.folders["abc123"] = "SOC"
	if _, err := gr.Install(ctx, "SOC", nil); err != nil {
		t.Fatal(err)
	}
	if g.dashboards["flowlog-loki"]["meta"].(map[string]any)["folderUid"] != "abc123" || len(g.folders) != 2 {
		t.Errorf("dashboards not moved into the existing folder SOC: %v", g.folders)
	}

	for _, c := range []struct {
		name        string
		auth        Auth
		datasources []string
		want        string
	}{
		{"wrong token", Auth{Token: "nope"}, nil, "401 Unauthorized: {\"message\":\"invalid API key\"}"},
		{"unknown datasource", Auth{Token: g.token}, []string{"nope"}, "--datasource nope: Grafana has no datasource with that uid"},
		{"datasource of another plugin", Auth{Token: g.token}, []string{"es1"}, "is a elasticsearch datasource"},
		{"two of a plugin", Auth{Token: g.token}, []string{"lk1", "lk2"}, "both loki datasources"},
	} {
		gr, _ := NewGrafana(srv.URL, c.auth, nil)
		if _, err := gr.Install(ctx, "flowlog", c.datasources); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := NewGrafana("http://admin:secret@grafana:3000", Auth{}, nil); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("credentials in the URL: %v", err)
	}
}

// TestHostileAnswers: answers that are huge, not JSON or not the shape
// expected end install with an error naming the request.
func TestHostileAnswers(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"huge": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("["))
			chunk := bytes.Repeat([]byte(`{"uid":"x","type":"loki"},`), 4096)
			for range 500 { // 50 MB
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		"not JSON": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>proxy login</html>")) },
		"error page": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			w.Write([]byte("\x00\xff" + strings.Repeat("e", 5000)))
		},
	} {
		srv := httptest.NewServer(h)
		gr, _ := NewGrafana(srv.URL, Auth{}, nil)
		_, err := gr.Install(context.Background(), "flowlog", nil)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "GET /api/datasources") || len(err.Error()) > 600 {
			t.Errorf("%s: %.700v", name, err)
		}
	}
}

// fakeKibana speaks the saved-objects API install uses. Like Kibana, it
// migrates what it imports: stored objects differ from the file's.
type fakeKibana struct {
	t       *testing.T
	mu      sync.Mutex
	objects map[string]map[string]any // space/type/id → object
	imports int
}

func newFakeKibana(t *testing.T) (*fakeKibana, *httptest.Server) {
	k := &fakeKibana{t: t, objects: map[string]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(k.serve))
	t.Cleanup(srv.Close)
	return k, srv
}

func (k *fakeKibana) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("Authorization") != "ApiKey a2V5OnNlY3JldA==" {
		reply(401, map[string]any{"statusCode": 401, "error": "Unauthorized", "message": "unable to authenticate"})
		return
	}
	if r.Method == "POST" && r.Header.Get("kbn-xsrf") == "" {
		reply(400, map[string]any{"statusCode": 400, "message": "Request must contain a kbn-xsrf header."})
		return
	}
	space, p := "default", r.URL.Path
	if strings.HasPrefix(p, "/s/") {
		rest := strings.TrimPrefix(p, "/s/")
		space, p, _ = strings.Cut(rest, "/")
		p = "/" + p
	}
	switch {
	case r.Method == "POST" && p == "/api/saved_objects/_bulk_get":
		var want []idType
		if err := json.NewDecoder(r.Body).Decode(&want); err != nil {
			k.t.Errorf("_bulk_get: %v", err)
		}
		var out []any
		for _, o := range want {
			if s, ok := k.objects[space+"/"+o.Type+"/"+o.ID]; ok {
				out = append(out, s)
			} else {
				out = append(out, map[string]any{"id": o.ID, "type": o.Type, "error": map[string]any{"statusCode": 404, "error": "Not Found"}})
			}
		}
		reply(200, map[string]any{"saved_objects": out})
	case r.Method == "POST" && p == "/api/saved_objects/_import":
		if r.URL.Query().Get("overwrite") != "true" {
			k.t.Errorf("_import without overwrite=true: %s", r.URL.RawQuery)
		}
		f, hdr, err := r.FormFile("file")
		if err != nil || !strings.HasSuffix(hdr.Filename, ".ndjson") {
			k.t.Errorf("_import: form file: %v", err)
			reply(400, map[string]any{"message": "no file"})
			return
		}
		data, _ := io.ReadAll(f)
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var o map[string]any
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				k.t.Errorf("_import: line %d: %v", n+1, err)
				continue
			}
			o["typeMigrationVersion"] = "10.2.0" // what Kibana does on import
			o["attributes"].(map[string]any)["migrated"] = true
			k.objects[space+"/"+o["type"].(string)+"/"+o["id"].(string)] = o
			n++
		}
		k.imports++
		reply(200, map[string]any{"success": true, "successCount": n, "successResults": []any{}})
	default:
		k.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		reply(404, map[string]any{"message": "not found"})
	}
}

func TestKibanaInstall(t *testing.T) {
	k, srv := newFakeKibana(t)
	ctx := context.Background()
	kb, err := NewKibana(srv.URL, "soc", Auth{APIKey: "a2V5OnNlY3JldA=="}, nil)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := kb.Install(ctx, nil)
	if err != nil || actions(changes) != "created,created" || k.imports != 2 {
		t.Fatalf("first install: %+v, %v, %d imports", changes, err, k.imports)
	}
	n := len(k.objects)
	if n < 40 || k.objects["soc/dashboard/flowlog-dashboard"] == nil || k.objects["soc/index-pattern/flowlog-aws-data-view"] == nil {
		t.Fatalf("%d objects stored, not in space soc", n)
	}
	changes, err = kb.Install(ctx, nil)
	if err != nil || actions(changes) != "unchanged,unchanged" || k.imports != 2 {
		t.Fatalf("second install: %+v, %v, %d imports", changes, err, k.imports)
	}
	delete(k.objects, "soc/lens/flowlog-top-sources")
	changes, err = kb.Install(ctx, []string{"kibana/flowlog.ndjson"})
	if err != nil || actions(changes) != "updated" || k.imports != 3 || len(k.objects) != n {
		t.Fatalf("after a deletion: %+v, %v, %d imports, %d objects", changes, err, k.imports, len(k.objects))
	}
	// Another space is another install.
	kd, _ := NewKibana(srv.URL+"/", "", Auth{APIKey: "a2V5OnNlY3JldA=="}, nil)
	if changes, err := kd.Install(ctx, nil); err != nil || actions(changes) != "created,created" {
		t.Fatalf("default space: %+v, %v", changes, err)
	}

	bad, _ := NewKibana(srv.URL, "", Auth{APIKey: "wrong"}, nil)
	if _, err := bad.Install(ctx, nil); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := NewKibana(srv.URL, "../x", Auth{}, nil); err == nil {
		t.Error("space ../x accepted")
	}
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowlog/flowlog/dashboards"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape runs flowlog with args until addr serves /metrics with want in
// it, and returns every metric family's name with its label names.
func scrape(t *testing.T, addr, want string, args ...string) map[string]map[string]bool {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, &stderr) }()
	defer func() {
		stop()
		<-done
	}()
	var text string
	for i := 0; i < 200 && !strings.Contains(text, want); i++ {
		time.Sleep(50 * time.Millisecond)
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			text = string(b)
		}
	}
	if !strings.Contains(text, want) {
		t.Fatalf("%s never served %s:\n%s", args[0], want, stderr.String())
	}
	out := map[string]map[string]bool{}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? `)
	labelName := regexp.MustCompile(`(\w+)="`)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		m := sample.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_sum"), "_count")
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for _, l := range labelName.FindAllStringSubmatch(m[3], -1) {
			out[name][l[1]] = true
		}
	}
	return out
}

// TestHealthDashboardMetricsIntegration runs the collector (capturing on
// lo) and the exporter (with every sink that has metrics) and checks that
// every metric the health dashboard queries is one they serve, grouped and
// labelled by labels it has.
func TestHealthDashboardMetricsIntegration(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("the collector captures on lo: needs root")
	}
	dir := t.TempDir()
	caddr, eaddr := freeAddr(t), freeAddr(t)
	ccfg := filepath.Join(dir, "collector.yaml")
	os.WriteFile(ccfg, []byte("listen: "+caddr+"\nspool: {dir: "+dir+"/spool}\nflow_logs:\n"+
		"  - {name: lo-test, interface: lo, rotation: 1h, target: {url: "+dir+"/out}}\n"), 0o600)
	metrics := scrape(t, caddr, "flowlog_collector_packets_total", "collect", "-c", ccfg)

	bucket := genSettled(t, dir, 1, 10)
	closed := freeAddr(t) // sinks that cannot be reached still serve their metrics
	exported := scrape(t, eaddr, "flowlog_exporter_objects_done_total", "export", "--source", bucket, "--listen", eaddr,
		"--checkpoint", filepath.Join(dir, "cp.json"), "--lookback", "87600h",
		"--sink", "file://"+filepath.Join(dir, "ndjson"), "--sink", "clickhouse://"+closed,
		"--sink", "loki+http://"+closed, "--sink", "es+http://"+closed)
	for k, v := range exported {
		metrics[k] = v
	}

	b, err := fs.ReadFile(dashboards.Files(), "grafana/flowlog-health.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr         string `json:"expr"`
				LegendFormat string `json:"legendFormat"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	scraped := map[string]bool{"instance": true, "job": true} // added by Prometheus
	metricRe := regexp.MustCompile(`\bflowlog_[a-z_]+`)
	byRe := regexp.MustCompile(`\bby \(([^)]*)\)`)
	legendRe := regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)
	n := 0
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			names := metricRe.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: no flowlog metric in %s", p.Title, q.Expr)
			}
			for _, name := range names {
				n++
				labels := metrics[name]
				if labels == nil {
					t.Errorf("panel %q: %s is not a metric flowlog serves", p.Title, name)
					continue
				}
				by := map[string]bool{}
				for _, m := range byRe.FindAllStringSubmatch(q.Expr, -1) {
					for _, l := range strings.Split(m[1], ",") {
						l = strings.TrimSpace(l)
						by[l] = true
						if !labels[l] && !scraped[l] {
							t.Errorf("panel %q: %s has no label %q to group by", p.Title, name, l)
						}
					}
				}
				for _, m := range legendRe.FindAllStringSubmatch(q.LegendFormat, -1) {
					if !by[m[1]] {
						t.Errorf("panel %q: legend {{%s}} is not a label the query keeps", p.Title, m[1])
					}
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d metric references checked", n)
	}
}

func TestDashboardsExport(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := flowlog(t, "", "dashboards", "export", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	n := 0
	err := fs.WalkDir(dashboards.Files(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		want, _ := fs.ReadFile(dashboards.Files(), name)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: not written as shipped (%v)", name, err)
		}
		if !strings.Contains(stdout, filepath.Join(dir, name)) {
			t.Errorf("%s not listed in the output", name)
		}
		return nil
	})
	if err != nil || n != 7 {
		t.Errorf("%d files shipped (%v), want 7", n, err)
	}
}

// TestDashboardsInstallCredentials: credentials come from the environment
// only, and reach the server as the API wants them.
func TestDashboardsInstallCredentials(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"invalid API key"}`))
	}))
	defer srv.Close()
	t.Setenv("FLOWLOG_GRAFANA_TOKEN", "glsa_from_env")
	t.Setenv("MY_KEY", "a2V5")
	for _, c := range []struct {
		args []string
		want string
		auth string
	}{
		{[]string{"--grafana", srv.URL}, "grafana: GET /api/datasources: 401 Unauthorized", "Bearer glsa_from_env"},
		{[]string{"--kibana", srv.URL, "--kibana-api-key", "${MY_KEY}"}, "kibana: POST /api/saved_objects/_bulk_get: 401", "ApiKey a2V5"},
		{[]string{"--grafana", srv.URL, "--grafana-token", "glsa_literal"}, "give the name of an environment variable", ""},
		{[]string{"--grafana", srv.URL, "--grafana-token", "${UNSET_VAR_FOR_TEST}"}, "environment variable UNSET_VAR_FOR_TEST is not set", ""},
		{[]string{"--kibana", srv.URL, "--target", "aws"}, "--target \"aws\"", ""},
		{[]string{"--grafana", "ftp://x"}, "want http(s)://", ""},
		{nil, "give --grafana URL, --kibana URL or both", ""},
	} {
		auth = nil
		_, stderr, code := flowlog(t, "", append([]string{"dashboards", "install"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "glsa_") {
			t.Errorf("%v: exit %d, %s; want 2 and %q", c.args, code, stderr, c.want)
		}
		if c.auth != "" && (len(auth) == 0 || auth[0] != c.auth) {
			t.Errorf("%v: sent Authorization %q, want %q", c.args, auth, c.auth)
		}
	}
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	bucket := genSettled(t, dir, 2, 500)
	page := filepath.Join(dir, "r.html")
	stdout, stderr, code := flowlog(t, "", "report", "--out", page, "--title", "Test <flows>", bucket)
	b, _ := os.ReadFile(page)
	if code != 0 || !strings.Contains(stdout, "2 files, 1000 records") ||
		!strings.Contains(string(b), "<title>Test &lt;flows&gt;</title>") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	os.WriteFile(filepath.Join(bucket, "bad.ndjson"), []byte("{\"flowlog\":{\"log_status\":\"??\"}}\n"), 0o644)
	_, stderr, code = flowlog(t, "", "report", "--out", page, bucket)
	if code != 1 || !strings.Contains(stderr, "bad.ndjson:1: log_status") {
		t.Errorf("a bad line: exit %d, %s", code, stderr)
	}
	for _, args := range [][]string{{"report", bucket}, {"report", "--out", page}, {"report", "--out", page, t.TempDir()}} {
		if _, _, code := flowlog(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

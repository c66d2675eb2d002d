package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
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

package ops

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlog_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	var healthy atomic.Bool
	s := &Server{Gatherer: reg, Health: func() error {
		if !healthy.Load() {
			return errors.New("collector not running")
		}
		return nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "flowlog_test_things_total 3") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != 503 || !strings.Contains(body, "collector not running") {
		t.Errorf("/healthz while unhealthy: %d %q", code, body)
	}
	healthy.Store(true)
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, base+p); code != 200 || body != "ok\n" {
			t.Errorf("%s: %d %q", p, code, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

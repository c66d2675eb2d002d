// Package ops serves what operators and orchestrators ask a daemon:
// Prometheus /metrics, /healthz (alive) and /readyz (doing its job).
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the operations HTTP endpoint.
type Server struct {
	Addr     string
	Gatherer prometheus.Gatherer
	Health   func() error // nil: always healthy
	Ready    func() error // nil: ready when healthy
	Logger   *slog.Logger
	// Routes are more handlers by ServeMux pattern ("GET /flowlogs").
	Routes map[string]http.Handler
}

// Run listens on s.Addr and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("metrics address %s: %w", s.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", check(s.Health))
	ready := s.Ready
	if ready == nil {
		ready = s.Health
	}
	mux.HandleFunc("GET /readyz", check(ready))
	for pattern, h := range s.Routes {
		mux.Handle(pattern, h)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if s.Logger != nil {
		s.Logger.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func check(f func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if f != nil {
			if err := f(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, err)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	}
}

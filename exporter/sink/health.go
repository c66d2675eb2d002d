package sink

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Health is what a sink knows of its far end, for /readyz (Readier) and an
// "up" gauge: the error of its last attempt to reach it, nil when it did.
type Health struct {
	mu  sync.Mutex
	err error
	up  prometheus.Gauge
}

// NewHealth returns a health that sets up to 1 or 0 with each attempt.
func NewHealth(up prometheus.Gauge) *Health { return &Health{up: up} }

// Set records how the last attempt went.
func (h *Health) Set(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	if err == nil {
		h.up.Set(1)
	} else {
		h.up.Set(0)
	}
}

// Err returns the last attempt's error.
func (h *Health) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

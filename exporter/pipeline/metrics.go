package pipeline

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/source"
)

type metrics struct {
	listed, done, failed, damaged, listErrors prometheus.Counter
	reconciled, ledgerErrors                  prometheus.Counter
	bytes, recordsIn, rejected                prometheus.Counter
	recordsOut, sinkRejected, duplicates      []prometheus.Counter // by sink, in Deps.Sinks order

	mu     sync.Mutex
	oldest time.Time // time of the oldest object not done at the last listing
}

func newMetrics(reg prometheus.Registerer, sinks []sink.Sink, flight *limiter) (*metrics, error) {
	m := &metrics{}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "flowlog", Subsystem: "exporter", Name: name, Help: help})
		return c
	}
	m.listed = counter("objects_listed_total", "Objects found by listings that were not done yet.")
	m.done = counter("objects_done_total", "Objects delivered to every sink and marked done.")
	m.failed = counter("objects_failed_total", "Object attempts that failed (a download, a sink): the object is tried again.")
	m.damaged = counter("objects_damaged_total", "Objects whose own bytes are bad (truncated, corrupt, too large): the records before the damage were delivered, the object is done.")
	m.listErrors = counter("list_errors_total", "Listings of the source that failed.")
	m.reconciled = counter("objects_reconciled_total", "Objects the reconciler delivered because no exporter had recorded them (their notification was lost or late).")
	m.ledgerErrors = counter("ledger_errors_total", "Failures to read or write the shared record of delivered objects (queue mode).")
	m.bytes = counter("bytes_total", "Stored bytes of the objects delivered.")
	m.recordsIn = counter("records_in_total", "Records parsed from delivered objects.")
	m.rejected = counter("records_rejected_total", "Lines that did not parse as records.")
	out := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "flowlog", Subsystem: "exporter",
		Name: "records_out_total", Help: "Records a sink confirmed."}, []string{"sink"})
	rej := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "flowlog", Subsystem: "exporter",
		Name: "records_sink_rejected_total", Help: "Records a sink refused for good (written to the dead letters)."}, []string{"sink"})
	dup := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "flowlog", Subsystem: "exporter",
		Name: "records_duplicate_total", Help: "Records a sink found already delivered (a redelivery) and counted as delivered."}, []string{"sink"})
	for _, s := range sinks {
		m.recordsOut = append(m.recordsOut, out.WithLabelValues(s.Name()))
		m.sinkRejected = append(m.sinkRejected, rej.WithLabelValues(s.Name()))
		m.duplicates = append(m.duplicates, dup.WithLabelValues(s.Name()))
	}
	gauge := func(name, help string, v func(o, r, b int64) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "flowlog", Subsystem: "exporter", Name: name, Help: help},
			func() float64 { return float64(v(flight.load())) })
	}
	inflight := []prometheus.Collector{
		gauge("objects_in_flight", "Objects handed to the sinks and not yet acknowledged by all.", func(o, _, _ int64) int64 { return o }),
		gauge("records_in_flight", "Records handed to the sinks and not yet acknowledged.", func(_, r, _ int64) int64 { return r }),
		gauge("bytes_in_flight", "Bytes of record text handed to the sinks and not yet acknowledged.", func(_, _, b int64) int64 { return b }),
	}
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "flowlog", Subsystem: "exporter", Name: "lag_seconds",
		Help: "Age of the oldest object not yet delivered, as of the last listing; 0 when all are done."}, m.lag)
	for _, c := range append([]prometheus.Collector{m.listed, m.done, m.failed, m.damaged, m.listErrors, m.reconciled, m.ledgerErrors, m.bytes, m.recordsIn, m.rejected, out, rej, dup, lag}, inflight...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) setLag(todo []source.Object) {
	var oldest time.Time
	for i := range todo {
		if t := todo[i].Time(); oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	m.mu.Lock()
	m.oldest = oldest
	m.mu.Unlock()
}

func (m *metrics) lag() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.oldest.IsZero() {
		return 0
	}
	return time.Since(m.oldest).Seconds()
}

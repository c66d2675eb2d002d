package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/collector/spool"
)

// metrics are the collector's Prometheus metrics, labelled by flow log.
type metrics struct {
	packets       *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	lost          *prometheus.CounterVec
	drops         *prometheus.CounterVec
	records       *prometheus.CounterVec
	windows       *prometheus.CounterVec
	windowsFailed *prometheus.CounterVec
	skipWindows   *prometheus.CounterVec
	decodeErrors  *prometheus.CounterVec
	uploads       *prometheus.CounterVec
	retries       *prometheus.CounterVec
	permanent     *prometheus.CounterVec
}

// flowLogMetrics are the metrics of one flow log, resolved once.
type flowLogMetrics struct {
	packets, bytes, lost, drops, records, windows, windowsFailed, skipWindows, decodeErrors, uploads, retries, permanent prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "flowlog", Subsystem: "collector", Name: name, Help: help,
		}, []string{"flow_log"})
	}
	m := &metrics{
		packets:       counter("packets_total", "Packets counted into flows."),
		bytes:         counter("bytes_total", "IP bytes counted into flows."),
		lost:          counter("lost_packets_total", "Packets of new flows that found the flow table full (their window is SKIPDATA)."),
		drops:         counter("kernel_drops_total", "Packets the kernel dropped before the capture read them (their window is SKIPDATA)."),
		records:       counter("records_total", "Flow records written into objects."),
		windows:       counter("windows_written_total", "Windows written as objects to the spool."),
		windowsFailed: counter("windows_failed_total", "Windows that could not be written to the spool (spool full or disk error)."),
		skipWindows:   counter("skipdata_windows_total", "Windows whose records carry SKIPDATA."),
		decodeErrors:  counter("decode_errors_total", "Frames whose IP header could not be read."),
		uploads:       counter("uploads_total", "Objects uploaded to the target and removed from the spool."),
		retries:       counter("upload_retries_total", "Failed upload attempts (the object stays in the spool and is retried)."),
		permanent:     counter("upload_refused_total", "Upload attempts refused for a reason retrying cannot cure (NoSuchBucket, AccessDenied, wrong keys, no credentials): fix the target."),
	}
	for _, c := range []prometheus.Collector{m.packets, m.bytes, m.lost, m.drops, m.records, m.windows,
		m.windowsFailed, m.skipWindows, m.decodeErrors, m.uploads, m.retries, m.permanent} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) forFlowLog(name string) flowLogMetrics {
	return flowLogMetrics{
		packets: m.packets.WithLabelValues(name), bytes: m.bytes.WithLabelValues(name),
		lost: m.lost.WithLabelValues(name), drops: m.drops.WithLabelValues(name),
		records: m.records.WithLabelValues(name), windows: m.windows.WithLabelValues(name),
		windowsFailed: m.windowsFailed.WithLabelValues(name), skipWindows: m.skipWindows.WithLabelValues(name),
		decodeErrors: m.decodeErrors.WithLabelValues(name),
		uploads:      m.uploads.WithLabelValues(name), retries: m.retries.WithLabelValues(name),
		permanent: m.permanent.WithLabelValues(name),
	}
}

// registerSpool exports the spool's size and the age of its oldest object.
func registerSpool(reg prometheus.Registerer, s *spool.Spool) error {
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "flowlog", Subsystem: "collector", Name: "spool_bytes",
		Help: "Bytes of objects waiting in the spool for upload.",
	}, func() float64 { return float64(s.Bytes()) })
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "flowlog", Subsystem: "collector", Name: "spool_oldest_age_seconds",
		Help: "Age of the oldest object waiting in the spool; 0 when empty.",
	}, func() float64 {
		t := s.Oldest()
		if t.IsZero() {
			return 0
		}
		return time.Since(t).Seconds()
	})
	for _, c := range []prometheus.Collector{size, age} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

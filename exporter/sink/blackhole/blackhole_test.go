package blackhole

import (
	"testing"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
)

func TestConformance(t *testing.T) {
	var sinks []*Sink
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) sink.Sink {
			s, err := New(DefaultConfig(), sink.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			sinks = append(sinks, s)
			return s
		},
		Count: func(t *testing.T) int64 {
			var n int64
			for _, s := range sinks {
				r, b := s.Counts()
				if r > 0 && b == 0 {
					t.Errorf("records counted without ECS bytes")
				}
				n += r
			}
			return n
		},
		AtLeastOnce: true,
	})
}

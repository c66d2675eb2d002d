package stdout

import (
	"bytes"
	"sync"
	"testing"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestConformance(t *testing.T) {
	var out syncBuffer
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) sink.Sink {
			s, err := New(Config{}, sink.Deps{Stdout: &out})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Read: func(t *testing.T) map[string]int {
			out.mu.Lock()
			defer out.mu.Unlock()
			ids := map[string]int{}
			sinktest.ReadNDJSON(t, out.b.Bytes(), ids)
			return ids
		},
		AtLeastOnce: true,
	})
}

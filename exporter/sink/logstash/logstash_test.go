package logstash

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-lumber/lj"
	lumberlog "github.com/elastic/go-lumber/log"
	server "github.com/elastic/go-lumber/server/v2"
	"go.uber.org/goleak"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
)

func TestMain(m *testing.M) {
	lumberlog.Logger = quiet{} // the test server's chatter
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
func (quiet) Println(...any)        {}
func (quiet) Print(...any)          {}

// beats is go-lumber's own Lumberjack v2 server, as Logstash's beats input
// answers: it keeps the events of each window it acknowledges.
type beats struct {
	srv  *server.Server
	addr string
	mu   sync.Mutex
	ids  map[string]int
	docs []map[string]any
	done chan struct{}
}

func startBeats(t *testing.T) *beats {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewWithListener(ln, server.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b := &beats{srv: srv, addr: ln.Addr().String(), ids: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for batch := range srv.ReceiveChan() {
			b.keep(batch)
			batch.ACK()
		}
	}()
	t.Cleanup(func() { srv.Close(); <-b.done })
	return b
}

func (b *beats) keep(batch *lj.Batch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range batch.Events {
		doc := e.(map[string]any)
		md, _ := doc["@metadata"].(map[string]any)
		id, _ := md["_id"].(string)
		b.ids[id]++
		b.docs = append(b.docs, doc)
	}
}

func (b *beats) held() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.ids {
		out[k] = v
	}
	return out
}

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, sink.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	b := startBeats(t)
	cfg := DefaultConfig()
	cfg.Hosts = []string{b.addr}
	sinktest.Run(t, sinktest.Harness{
		New:         func(t *testing.T) sink.Sink { return newSink(t, cfg) },
		Read:        func(t *testing.T) map[string]int { return b.held() },
		AtLeastOnce: true,
	})
}

// TestDocuments: every record arrives as its ECS document with Filebeat's
// @metadata and its event.id as @metadata._id; a dead first host is passed
// over.
func TestDocuments(t *testing.T) {
	b := startBeats(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	cfg := DefaultConfig()
	cfg.Hosts = []string{deadAddr, b.addr}
	s := newSink(t, cfg)
	defer s.Close(context.Background())
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 2, 1500
	objs := sinktest.Objects(t, enrich.DefaultConfig(), gc, 1000)
	for _, o := range objs {
		if r := <-sinktest.Deliver(t, context.Background(), s, o); r.Status() != sink.Delivered {
			t.Fatalf("%v (%v)", r.Status(), r.Err)
		}
	}
	if len(b.docs) != 3000 {
		t.Fatalf("%d documents, want 3000", len(b.docs))
	}
	for _, o := range objs {
		for i, id := range o.IDs {
			if b.ids[id] != 1 {
				t.Fatalf("line %d (event.id %s) arrived %d times", o.Lines[i], id, b.ids[id])
			}
		}
	}
	d := b.docs[0]
	md := d["@metadata"].(map[string]any)
	ev := d["event"].(map[string]any)
	if md["beat"] != "flowlog" || md["_id"] != ev["id"] || d["source"] == nil || d["@timestamp"] == nil {
		t.Errorf("document %v", d)
	}
}

// TestUnacknowledged: a Logstash that takes windows and never
// acknowledges them makes the window time out; it is sent again to the
// next host, and nothing is lost.
func TestUnacknowledged(t *testing.T) {
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer mute.Close()
	wg.Add(1)
	go func() { // reads everything, answers nothing
		defer wg.Done()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	b := startBeats(t)
	cfg := DefaultConfig()
	cfg.Hosts = []string{mute.Addr().String(), b.addr}
	cfg.Timeout, cfg.Connections = 300*time.Millisecond, 1
	s := newSink(t, cfg)
	defer s.Close(context.Background())
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 1, 500
	o := sinktest.Objects(t, enrich.DefaultConfig(), gc, 1000)[0]
	select {
	case r := <-sinktest.Deliver(t, context.Background(), s, o):
		if r.Status() != sink.Delivered {
			t.Fatalf("%v (%v)", r.Status(), r.Err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("not delivered through the host that acknowledges")
	}
	for _, id := range o.IDs {
		if b.held()[id] != 1 {
			t.Fatalf("event.id %s arrived %d times", id, b.held()[id])
		}
	}
}

func TestParseURL(t *testing.T) {
	c, err := ParseURL("logstash://ls1,ls2:5045?tls=true")
	if err != nil || len(c.Hosts) != 2 || c.Hosts[0] != "ls1:5044" || c.Hosts[1] != "ls2:5045" || !c.TLS.Enabled || c.Validate() != nil {
		t.Errorf("%+v, %v", c, err)
	}
	for _, bad := range []string{"logstash://", "http://ls", "logstash://ls?x=1"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

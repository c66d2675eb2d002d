package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowlog/flowlog/exporter/checkpoint"
	"github.com/flowlog/flowlog/exporter/queue"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/blackhole"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

// BenchmarkQueue measures one exporter (2 workers, ECS encoded, then
// discarded) delivering 40 objects of 2,500 records from MinIO: named by
// notifications in NATS JetStream, in an SQS queue (fauxqs), and found
// by a listing, for comparison. Every server runs on the same machine.
// It gives the cost of queue mode per object (fetch, heartbeats,
// acknowledgement) against the records' own.
// queueFixture is MinIO holding objects generated objects of records
// each, and the notifications naming them, as AWS shapes them.
type queueFixture struct {
	src     source.Source
	bodies  []string
	records int
}

func newQueueFixture(t testing.TB, objects, records int) *queueFixture {
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	gc := gen.DefaultConfig()
	gc.Name, gc.Objects, gc.Records = "web-1", objects, records
	g, err := gen.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	f := &queueFixture{src: source.NewBucket(m.Client(), "flows", "flowlogs"), records: objects * records}
	for i := range objects {
		key := "flowlogs/" + g.Key(i)
		body := g.Object(i)
		out, err := m.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("flows"), Key: aws.String(key),
			Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"eventName": "ObjectCreated:Put",
			"s3": map[string]any{"bucket": map[string]any{"name": "flows"},
				"object": map[string]any{"key": key, "size": len(body), "eTag": strings.Trim(aws.ToString(out.ETag), `"`)}}}}})
		f.bodies = append(f.bodies, string(n))
	}
	return f
}

// engine is a queue and a way to send it the fixture's notifications.
type engine struct {
	q      queue.Queue
	notify func(bodies []string)
}

func natsEngine(t testing.TB) engine {
	n := testserver.StartNATS(t)
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FLOWS", Subjects: []string{"flows"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	c := queue.Config{Type: "nats", URL: n.URL(), Stream: "FLOWS"}
	c.SetDefaults()
	q, err := queue.OpenNATS(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return engine{q: q, notify: func(bodies []string) {
		for _, body := range bodies {
			if _, err := js.Publish(ctx, "flows", []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}}
}

func sqsEngine(t testing.TB) engine {
	s := testserver.StartSQS(t)
	url, _ := s.CreateQueue("flows", map[string]string{"VisibilityTimeout": "60"})
	c := queue.Config{Type: "sqs", URL: url, Endpoint: s.Endpoint(), Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test"}
	c.SetDefaults()
	ctx := context.Background()
	q, err := queue.OpenSQS(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	client := s.Client()
	return engine{q: q, notify: func(bodies []string) {
		for _, body := range bodies {
			if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
				t.Fatal(err)
			}
		}
	}}
}

// waitRecords waits until the sink counted n records, for at most d.
func waitRecords(t testing.TB, sk *blackhole.Sink, n int, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; {
		if got, _ := sk.Counts(); got >= int64(n) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkQueue measures one exporter (2 workers, ECS encoded, then
// discarded) delivering 40 objects of 2,500 records from MinIO: named by
// notifications in NATS JetStream, in an SQS queue (fauxqs), and found
// by a listing, for comparison. Every server runs on the same machine.
// It gives the cost of queue mode per object (fetch, heartbeats,
// acknowledgement) against the records' own.
func BenchmarkQueue(b *testing.B) {
	const objects, records = 40, 2500
	f := newQueueFixture(b, objects, records)
	run := func(b *testing.B, e *engine) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			sk, _ := blackhole.New(blackhole.DefaultConfig(), sink.Deps{})
			p := benchPipeline(b, f.src, sk)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			if e != nil {
				e.notify(f.bodies)
			}
			b.StartTimer()
			if e == nil {
				todo, _, err := p.Plan(ctx, source.Range{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Deliver(ctx, todo, 0, nil); err != nil {
					b.Fatal(err)
				}
			} else {
				go func() { done <- p.RunQueue(ctx, e.q, QueueOptions{}) }()
				if !waitRecords(b, sk, f.records, time.Minute) {
					b.Fatal("not every record was delivered in a minute")
				}
			}
			b.StopTimer()
			cancel()
			if e != nil {
				<-done
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(f.records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(objects*b.N), "ms/object")
	}
	b.Run("listing", func(b *testing.B) { run(b, nil) })
	b.Run("nats", func(b *testing.B) { e := natsEngine(b); run(b, &e) })
	b.Run("sqs", func(b *testing.B) { e := sqsEngine(b); run(b, &e) })
}

// TestQueueRestartIntegration stops RunQueue while its fetch waits, sends
// notifications at that moment, and starts RunQueue again on the same
// queue: they are delivered within seconds, none waits out the engine's
// timeout (2 min, 60 s here) in a fetch the first run abandoned.
func TestQueueRestartIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO, nats-server and fauxqs")
	}
	f := newQueueFixture(t, 6, 100)
	for name, e := range map[string]engine{"nats": natsEngine(t), "sqs": sqsEngine(t)} {
		sk, _ := blackhole.New(blackhole.DefaultConfig(), sink.Deps{})
		start := func() (context.CancelFunc, chan error) {
			p := benchPipeline(t, f.src, sk)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.RunQueue(ctx, e.q, QueueOptions{}) }()
			return cancel, done
		}
		cancel, done := start()
		for round := range 3 {
			time.Sleep(300 * time.Millisecond) // a fetch is waiting
			cancel()
			e.notify(f.bodies[round*2 : round*2+2])
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			cancel, done = start()
			if !waitRecords(t, sk, (round+1)*200, 10*time.Second) {
				n, _ := sk.Counts()
				t.Fatalf("%s, round %d: %d records delivered in 10 s, want %d", name, round, n, (round+1)*200)
			}
		}
		cancel()
		<-done
	}
}

func benchPipeline(t testing.TB, src source.Source, sk sink.Sink) *Pipeline {
	cp, err := checkpoint.Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(DefaultConfig(), Deps{Source: src, Sinks: []sink.Sink{sk}, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	return p
}

// TestQueueLagIntegration: in queue mode the lag gauge is the age of the
// oldest object in flight (by its key's time), and 0 once all are done.
func TestQueueLagIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO and nats-server")
	}
	f := newQueueFixture(t, 2, 100) // keys of 2026-01-01
	e := natsEngine(t)
	bh, _ := blackhole.New(blackhole.DefaultConfig(), sink.Deps{})
	gate := make(chan struct{})
	p := benchPipeline(t, f.src, gateSink{bh, gate})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunQueue(ctx, e.q, QueueOptions{}) }()
	opened := false
	defer func() {
		if !opened {
			close(gate)
		}
		cancel()
		<-done
	}()
	e.notify(f.bodies)
	// The first key names its window's end, ten minutes after the start.
	old := time.Since(gen.DefaultStart).Seconds() - 3600
	for deadline := time.Now().Add(10 * time.Second); p.m.lag() < old; {
		if time.Now().After(deadline) {
			t.Fatalf("lag %.0f s while objects of %s are in flight, want at least %.0f", p.m.lag(), gen.DefaultStart, old)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(gate)
	opened = true
	if !waitRecords(t, bh, f.records, 10*time.Second) {
		t.Fatal("not delivered")
	}
	for deadline := time.Now().Add(5 * time.Second); p.m.lag() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("lag %.0f s with nothing in flight", p.m.lag())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

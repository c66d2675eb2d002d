package queue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowlog/flowlog/internal/objstore"
	"github.com/flowlog/flowlog/internal/testserver"
)

// testLedger checks what the reconcilers rely on: Record then Delivered,
// a rewritten object (new ETag) not delivered, one claim among many
// racing, and an old claim taken over.
func testLedger(t *testing.T, l Ledger, age func()) {
	ctx := context.Background()
	day := time.Date(2026, 11, 30, 23, 55, 0, 0, time.UTC)
	a := Entry{Bucket: "flows", Key: "logs/a b+c-1796083200.log.gz", ETag: `"e1"`, Time: day}
	b := Entry{Bucket: "flows", Key: "logs/b-1796083200.log.gz", ETag: `"e2"`, Time: day}
	if err := l.Record(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Another exporter sees the object's time a few minutes later, past
	// midnight: still found.
	later := a
	later.Time = day.Add(10 * time.Minute)
	rewritten := a
	rewritten.ETag = `"e9"`
	got, err := l.Delivered(ctx, []Entry{a, b, later, rewritten})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0] || got[1] || !got[2] || got[3] {
		t.Fatalf("delivered %v, want [true false true false]", got)
	}
	// Five reconcilers claim b at once: one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			ok, err := l.Claim(ctx, b, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d claims won, want 1", wins.Load())
	}
	// An old claim (its exporter died) is taken over, once.
	age()
	ok1, err1 := l.Claim(ctx, b, time.Second)
	ok2, err2 := l.Claim(ctx, b, time.Second)
	if err1 != nil || err2 != nil || !ok1 || ok2 {
		t.Fatalf("taking over an old claim: %v %v, %v %v; want true then false", ok1, err1, ok2, err2)
	}
}

func TestNATSLedgerIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	n := testserver.StartNATS(t)
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FLOWS", Subjects: []string{"flows"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	c := Config{Type: "nats", URL: n.URL(), Stream: "FLOWS", Consumer: "exp-1"}
	c.SetDefaults()
	q, err := OpenNATS(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	l, err := NATSLedger(ctx, q, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name() != "nats key-value flowlog_delivered_exp-1" {
		t.Errorf("name %q", l.Name())
	}
	testLedger(t, l, func() { time.Sleep(1100 * time.Millisecond) })
}

func TestS3LedgerIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	client, err := objstore.NewS3Client(context.Background(), objstore.S3Config{Endpoint: m.Endpoint(), Region: "us-east-1", PathStyle: true,
		AccessKeyID: m.AccessKey, SecretAccessKey: objstore.Secret(m.SecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	l := S3Ledger(client, "flows", ".flowlog/delivered")
	if l.Name() != "s3://flows/.flowlog/delivered/" {
		t.Errorf("name %q", l.Name())
	}
	testLedger(t, l, func() { time.Sleep(1100 * time.Millisecond) })
}

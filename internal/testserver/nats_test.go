package testserver

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestMinIONotifiesNATSIntegration: objects put into MinIO arrive as
// bucket notifications in a JetStream stream, as the NATS source will
// read them.
func TestMinIONotifiesNATSIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server and MinIO")
	}
	n := StartNATS(t)
	m, stream := NotifyingMinIO(t, n, "flows", "FLOWLOG", "flowlog.objects")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key := "logs/web 1+x-1767225600.log.gz"
	m.Put("flows", key, []byte("x"))
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "exporters", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	var ev struct {
		Records []struct {
			EventName string `json:"eventName"`
			S3        struct {
				Bucket struct{ Name string } `json:"bucket"`
				Object struct {
					Key  string `json:"key"`
					ETag string `json:"eTag"`
				} `json:"object"`
			} `json:"s3"`
		}
	}
	if err := json.Unmarshal(msg.Data(), &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("%v: %s", err, msg.Data())
	}
	got, _ := url.QueryUnescape(ev.Records[0].S3.Object.Key)
	if got != key || ev.Records[0].S3.Bucket.Name != "flows" || ev.Records[0].EventName != "s3:ObjectCreated:Put" {
		t.Errorf("notification %+v (key %q)", ev.Records[0], got)
	}
	msg.Ack()
}

package queue

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowlog/flowlog/internal/testserver"
)

func sqsConfig(s *testserver.SQS, url string) Config {
	c := Config{Type: "sqs", URL: url, Endpoint: s.Endpoint(), Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test"}
	c.SetDefaults()
	return c
}

func send(t *testing.T, s *testserver.SQS, url, body string) {
	t.Helper()
	if _, err := s.Client().SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
}

// fetchOne waits up to d for one message.
func fetchOne(t *testing.T, q Queue, d time.Duration) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for ctx.Err() == nil {
		msgs, err := q.Fetch(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 0 {
			return msgs[0]
		}
	}
	return nil
}

func depth(t *testing.T, s *testserver.SQS, url string) (visible, hidden int) {
	t.Helper()
	out, err := s.Client().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqsAttr{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	return atoi(out.Attributes["ApproximateNumberOfMessages"]), atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
}

// TestSQSIntegration runs the SQS queue against fauxqs: the queue's
// visibility timeout and redrive policy are read; a message being worked
// on stays hidden past its visibility timeout while InProgress is said;
// Retry shows it again after the delay with its receive count; Ack deletes
// it; Drop leaves it to the redrive policy (it reaches the dead-letter
// queue) or, without one, deletes it.
func TestSQSIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fauxqs")
	}
	s := testserver.StartSQS(t)
	ctx := context.Background()
	_, dlqARN := s.CreateQueue("flows-dlq", nil)
	url, _ := s.CreateQueue("flows", map[string]string{"VisibilityTimeout": "2",
		"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"3"}`})
	dlqURL, _ := s.CreateQueue("flows-dlq", nil)
	q, err := OpenSQS(ctx, sqsConfig(s, url))
	if err != nil {
		t.Fatal(err)
	}
	if q.HeartbeatEvery() != time.Second || q.MaxAttempts() != 3 {
		t.Fatalf("heartbeat %s, attempts %d: want 1s (half the queue's 2 s) and 3 (the redrive policy's)", q.HeartbeatEvery(), q.MaxAttempts())
	}

	// In progress past the visibility timeout: nobody else gets it.
	send(t, s, url, "one")
	m := fetchOne(t, q, 5*time.Second)
	if m == nil || string(m.Body()) != "one" || m.Attempt() != 1 {
		t.Fatalf("message %v", m)
	}
	for range 4 {
		time.Sleep(time.Second)
		if err := m.InProgress(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v, h := depth(t, s, url); v != 0 || h != 1 {
		t.Fatalf("after 4 s of heartbeats: %d visible, %d hidden; want it hidden", v, h)
	}
	// Retry: back after the delay, received a second time.
	if err := m.Retry(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	m = fetchOne(t, q, 5*time.Second)
	if m == nil || m.Attempt() != 2 {
		t.Fatalf("retried message %v", m)
	}
	if err := m.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if v, h := depth(t, s, url); v+h != 0 {
		t.Fatalf("acknowledged: %d visible, %d hidden; want none", v, h)
	}

	// Drop with a redrive policy: it comes back until its receive count is
	// spent, then SQS moves it to the dead-letter queue.
	send(t, s, url, "poison")
	for i := 1; ; i++ {
		m = fetchOne(t, q, 3*time.Second)
		if m == nil {
			break
		}
		if i > 3 {
			t.Fatalf("received %d times; the redrive policy allows 3", i)
		}
		if err := m.Drop(ctx, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := depth(t, s, dlqURL); v != 1 {
		t.Fatalf("%d messages in the dead-letter queue, want the poison one", v)
	}

	// Without a redrive policy Drop deletes; ack_wait overrides the
	// queue's visibility timeout.
	plain, _ := s.CreateQueue("plain", map[string]string{"VisibilityTimeout": "30"})
	c := sqsConfig(s, plain)
	c.AckWait = 10 * time.Second
	q2, err := OpenSQS(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if q2.HeartbeatEvery() != 5*time.Second || q2.MaxAttempts() != DefaultMaxDeliver {
		t.Fatalf("heartbeat %s, attempts %d", q2.HeartbeatEvery(), q2.MaxAttempts())
	}
	send(t, s, plain, "poison")
	if m = fetchOne(t, q2, 5*time.Second); m == nil {
		t.Fatal("no message")
	}
	if err := m.Drop(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if v, h := depth(t, s, plain); v+h != 0 {
		t.Fatalf("dropped without a redrive policy: %d visible, %d hidden; want deleted", v, h)
	}

	// A queue that does not exist is named in the error.
	if _, err := OpenSQS(ctx, sqsConfig(s, "http://sqs.us-east-1.localhost/000000000000/nope")); err == nil {
		t.Fatal("a missing queue opened")
	}
}

type sqsAttr = sqstypes.QueueAttributeName

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

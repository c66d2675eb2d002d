package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowlog/flowlog/internal/objstore"
)

// sqsWait is how long one receive waits for a message (long polling).
// A stopping exporter lets its receive end rather than abandoning it (the
// messages of an abandoned receive stay hidden for the visibility
// timeout), so it is short: an idle exporter asks about once a second.
const sqsWait = 1

type sqsQueue struct {
	client *sqs.Client
	url    string
	name   string
	// visibility is how long a received message stays hidden: the
	// configured ack_wait, else the queue's own.
	visibility time.Duration
	setVisible bool // ack_wait configured: asked for on every receive
	// redrive is the queue's maxReceiveCount, 0 without a redrive policy.
	redrive    int
	maxDeliver int
	log        *slog.Logger
}

// OpenSQS reads the queue's visibility timeout and redrive policy; many
// exporters may share the queue.
func OpenSQS(ctx context.Context, cfg Config) (Queue, error) {
	if err := cfg.Validate(); err != nil || cfg.Type != "sqs" {
		if err == nil {
			err = errors.New("type: not sqs")
		}
		return nil, err
	}
	region := cfg.Region
	if region == "" {
		region = sqsRegion(cfg.URL)
	}
	awsCfg, err := objstore.AWSConfig(ctx, objstore.S3Config{Region: region, AccessKeyID: cfg.AccessKeyID,
		SecretAccessKey: cfg.SecretAccessKey, SessionToken: cfg.SessionToken, RoleARN: cfg.RoleARN, ExternalID: cfg.ExternalID,
		Timeout: time.Duration(sqsWait+30) * time.Second})
	if err != nil {
		return nil, err
	}
	client := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	u, _ := url.Parse(cfg.URL)
	q := &sqsQueue{client: client, url: cfg.URL, name: "sqs://" + u.Host + u.Path, maxDeliver: cfg.MaxDeliver,
		log: slog.New(slog.DiscardHandler)}
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(cfg.URL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout, types.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		return nil, fmt.Errorf("%s: reading the queue's attributes: %w", q.name, err)
	}
	if err := q.attributes(out.Attributes, cfg.AckWait); err != nil {
		return nil, fmt.Errorf("%s: %w", q.name, err)
	}
	return q, nil
}

// attributes takes the queue's visibility timeout (unless ackWait is set)
// and its redrive policy's receive count.
func (q *sqsQueue) attributes(attrs map[string]string, ackWait time.Duration) error {
	q.visibility, q.setVisible = ackWait, ackWait != 0
	if !q.setVisible {
		s, err := strconv.Atoi(attrs[string(types.QueueAttributeNameVisibilityTimeout)])
		if err != nil || s < 1 {
			return fmt.Errorf("the queue's VisibilityTimeout %q: want at least 1 second, or set ack_wait", clip(attrs["VisibilityTimeout"]))
		}
		q.visibility = time.Duration(s) * time.Second
	}
	if p := attrs[string(types.QueueAttributeNameRedrivePolicy)]; p != "" {
		var rp struct {
			MaxReceiveCount json.RawMessage `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(p), &rp); err != nil {
			return fmt.Errorf("the queue's RedrivePolicy does not parse: %v", err)
		}
		n, err := strconv.Atoi(strings.Trim(string(rp.MaxReceiveCount), `"`)) // a number or a string
		if err != nil || n < 1 {
			return fmt.Errorf("the queue's RedrivePolicy maxReceiveCount %q: want a number", clip(string(rp.MaxReceiveCount)))
		}
		q.redrive = n
	}
	return nil
}

func (q *sqsQueue) Name() string                  { return q.name }
func (q *sqsQueue) HeartbeatEvery() time.Duration { return q.visibility / 2 }
func (q *sqsQueue) Close() error                  { return nil }

// MaxAttempts is the redrive policy's receive count when the queue has
// one: the message is then left to SQS, which moves it to the
// dead-letter queue.
func (q *sqsQueue) MaxAttempts() int {
	if q.redrive > 0 {
		return q.redrive
	}
	return q.maxDeliver
}

// Pending is how many messages wait in the queue, as SQS estimates.
func (q *sqsQueue) Pending(ctx context.Context) (int, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
}

func (q *sqsQueue) Fetch(ctx context.Context, limit int) ([]Message, error) {
	in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), MaxNumberOfMessages: int32(min(max(limit, 1), 10)),
		WaitTimeSeconds:             sqsWait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}}
	if q.setVisible {
		in.VisibilityTimeout = int32(q.visibility / time.Second)
	}
	out, err := q.client.ReceiveMessage(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil // the caller gave up waiting
		}
		return nil, err
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		if m.ReceiptHandle == nil {
			continue
		}
		n, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		msgs = append(msgs, &sqsMessage{q: q, body: []byte(aws.ToString(m.Body)), handle: m.ReceiptHandle, attempt: max(n, 1),
			id: aws.ToString(m.MessageId)})
	}
	return msgs, nil
}

type sqsMessage struct {
	q       *sqsQueue
	body    []byte
	handle  *string
	id      string
	attempt int
}

func (m *sqsMessage) Body() []byte { return m.body }
func (m *sqsMessage) Attempt() int { return m.attempt }

func (m *sqsMessage) Ack(ctx context.Context) error {
	_, err := m.q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(m.q.url), ReceiptHandle: m.handle})
	return err
}

// visible makes the message visible again after d.
func (m *sqsMessage) visible(ctx context.Context, d time.Duration) error {
	_, err := m.q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(m.q.url),
		ReceiptHandle: m.handle, VisibilityTimeout: int32(min(d, 12*time.Hour) / time.Second)})
	return err
}

func (m *sqsMessage) Retry(ctx context.Context, d time.Duration) error { return m.visible(ctx, d) }

// InProgress hides the message for another visibility timeout from now.
func (m *sqsMessage) InProgress(ctx context.Context) error { return m.visible(ctx, m.q.visibility) }

// Drop leaves the message to the queue's redrive policy when it has one
// (visible again at once, SQS moves it to the dead-letter queue once its
// receive count is spent); without one, it deletes it.
func (m *sqsMessage) Drop(ctx context.Context, reason string) error {
	if m.q.redrive > 0 {
		m.q.log.Warn("message left to the queue's redrive policy", "queue", m.q.name, "message_id", m.id,
			"receives", m.attempt, "max_receive_count", m.q.redrive, "reason", clip(reason))
		return m.visible(ctx, 0)
	}
	return m.Ack(ctx)
}

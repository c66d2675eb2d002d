package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowlog/flowlog/internal/tlsconfig"
)

// Message is one queue message: a notification naming objects.
type Message interface {
	Body() []byte
	// Ack removes the message: its objects are delivered.
	Ack(ctx context.Context) error
	// Retry hands the message back for another delivery after delay.
	Retry(ctx context.Context, delay time.Duration) error
	// Drop removes a message that can never be delivered (a poison one).
	Drop(ctx context.Context, reason string) error
	// InProgress tells the engine the message is still being worked on.
	InProgress(ctx context.Context) error
	// Attempt is how many times the message was delivered, this one
	// included.
	Attempt() int
}

// Queue is a queue engine's consumer shared by many exporters.
type Queue interface {
	Name() string
	// Fetch returns up to max messages, waiting a second or two for the
	// first; none and no error when there is nothing. A caller that is
	// stopping lets the fetch end (ctx not canceled) and hands back what
	// it got, so that no message waits out its engine's timeout.
	Fetch(ctx context.Context, max int) ([]Message, error)
	// HeartbeatEvery is how often InProgress is due on a message being
	// worked on: half the engine's acknowledgement wait.
	HeartbeatEvery() time.Duration
	// MaxAttempts is how many deliveries a failing message gets before
	// it is dropped into the dead letters.
	MaxAttempts() int
	Close() error
}

type natsQueue struct {
	cfg  Config
	nc   *nats.Conn
	cons jetstream.Consumer
}

// OpenNATS connects and creates (or takes over) the durable consumer.
func OpenNATS(ctx context.Context, cfg Config) (Queue, error) {
	if err := cfg.Validate(); err != nil || cfg.Type != "nats" {
		if err == nil {
			err = errors.New("type: not nats")
		}
		return nil, err
	}
	opts, err := natsOptions(cfg)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cc := jetstream.ConsumerConfig{Durable: cfg.Consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		MaxDeliver: cfg.MaxDeliver + 1, FilterSubject: cfg.Subject}
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats stream %s, consumer %s: %w", cfg.Stream, cfg.Consumer, err)
	}
	return &natsQueue{cfg: cfg, nc: nc, cons: cons}, nil
}

// natsOptions are the connection's: credentials (a .creds file, an NKey
// seed file, a token, or a user and password) and TLS.
func natsOptions(cfg Config) ([]nats.Option, error) {
	opts := []nats.Option{nats.Name("flowlog exporter"), nats.MaxReconnects(-1)}
	switch {
	case cfg.Creds != "":
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	case cfg.NKey != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey: %w", err)
		}
		opts = append(opts, o)
	case cfg.Token != "":
		opts = append(opts, nats.Token(string(cfg.Token)))
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, string(cfg.Password)))
	}
	if cfg.TLS != (tlsconfig.Config{}) {
		tc, err := cfg.TLS.Build()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

func (q *natsQueue) Name() string {
	return "nats://" + strings.TrimPrefix(q.nc.ConnectedUrlRedacted(), "nats://") + "/" + q.cfg.Stream + "/" + q.cfg.Consumer
}

func (q *natsQueue) HeartbeatEvery() time.Duration { return q.cfg.AckWait / 2 }
func (q *natsQueue) MaxAttempts() int              { return q.cfg.MaxDeliver }
func (q *natsQueue) Close() error                  { q.nc.Close(); return nil }

func (q *natsQueue) Fetch(ctx context.Context, max int) ([]Message, error) {
	batch, err := q.cons.Fetch(max, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		return nil, err
	}
	// The batch's channel closes when the batch is complete or expired; a
	// batch that never closes is not waited for. A message that arrives
	// after is not lost: unacknowledged, it comes again after the
	// consumer's wait.
	var out []Message
	msgs := batch.Messages()
	expire := time.NewTimer(2 * time.Second)
	defer expire.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && len(out) == 0 {
					return nil, err
				}
				return out, nil
			}
			out = append(out, natsMessage{m})
		case <-expire.C:
			return out, nil
		case <-ctx.Done():
			return out, nil
		}
	}
}

type natsMessage struct{ m jetstream.Msg }

func (n natsMessage) Body() []byte                                   { return n.m.Data() }
func (n natsMessage) Ack(ctx context.Context) error                  { return n.m.DoubleAck(ctx) }
func (n natsMessage) Retry(_ context.Context, d time.Duration) error { return n.m.NakWithDelay(d) }
func (n natsMessage) Drop(_ context.Context, reason string) error {
	return n.m.TermWithReason(reason)
}
func (n natsMessage) InProgress(context.Context) error { return n.m.InProgress() }
func (n natsMessage) Attempt() int {
	md, err := n.m.Metadata()
	if err != nil {
		return 1
	}
	return int(md.NumDelivered)
}

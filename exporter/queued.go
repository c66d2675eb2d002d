package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flowlog/flowlog/exporter/pipeline"
	"github.com/flowlog/flowlog/exporter/queue"
	"github.com/flowlog/flowlog/internal/objstore"
)

// OpenQueue connects to the queue of bucket notifications and, when the
// reconciler is on, to the ledger of delivered objects every exporter
// shares: the queue's key-value store for NATS, marker objects in the
// source bucket for SQS.
func (c *Config) OpenQueue(ctx context.Context, log *slog.Logger) (queue.Queue, pipeline.QueueOptions, error) {
	var opts pipeline.QueueOptions
	if c.Queue == nil {
		return nil, opts, errors.New("no queue: set queue: in the configuration")
	}
	qc := *c.Queue
	q, err := queue.Open(ctx, qc, log)
	if err != nil {
		return nil, opts, fmt.Errorf("queue: %w", err)
	}
	if qc.Reconcile == 0 {
		return q, opts, nil
	}
	opts.Reconcile, opts.ReconcileAfter = qc.Reconcile, qc.ReconcileAfter
	switch qc.Type {
	case "nats":
		// Entries outlive the look-back the reconciler reads.
		opts.Ledger, err = queue.NATSLedger(ctx, q, c.LookBack+24*time.Hour)
	case "sqs":
		src := c.AllSources()[0]
		loc, lerr := objstore.ParseLocation(src.URL)
		if lerr != nil {
			err = lerr
			break
		}
		client, cerr := objstore.NewS3Client(ctx, src.S3Config)
		if cerr != nil {
			err = cerr
			break
		}
		opts.Ledger = queue.S3Ledger(client, loc.Bucket, qc.LedgerPrefix)
	}
	if err != nil {
		q.Close()
		return nil, opts, fmt.Errorf("queue: the reconciler's ledger: %w", err)
	}
	return q, opts, nil
}

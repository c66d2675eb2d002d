package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go/jetstream"
)

// Entry is one version of an object, as the ledger keeps it.
type Entry struct {
	Bucket, Key, ETag string
	Time              time.Time // the object's time: from its key, else when it was written
}

// id names the version: a rewritten object (new ETag) is another.
func (e Entry) id() string {
	sum := sha256.Sum256([]byte(e.Bucket + "\x00" + e.Key + "\x00" + strings.Trim(e.ETag, `"`)))
	return hex.EncodeToString(sum[:16])
}

// Ledger records the objects delivered where every exporter sharing the
// queue can read it, so that a reconciler can find what no exporter
// delivered.
type Ledger interface {
	Name() string
	// Delivered reports, for each entry, whether an exporter recorded it.
	Delivered(ctx context.Context, es []Entry) ([]bool, error)
	// Record says every sink acknowledged every record of e.
	Record(ctx context.Context, e Entry) error
	// Claim takes e for the caller: false when another exporter claimed
	// it less than ttl ago. The reconcilers of several exporters claim an
	// object before delivering it, so that one of them does.
	Claim(ctx context.Context, e Entry, ttl time.Duration) (bool, error)
}

// natsLedger is a JetStream key-value bucket: a key per delivered object,
// expiring after the look-back (and a day) so it stays small.
type natsLedger struct {
	kv   jetstream.KeyValue
	name string
}

// ledgerBucketName is the key-value bucket of a consumer's ledger.
func ledgerBucketName(consumer string) string {
	var b strings.Builder
	b.WriteString("flowlog_delivered_")
	for _, r := range consumer {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// NATSLedger opens (or creates) the consumer's key-value bucket
// flowlog_delivered_CONSUMER on q's connection; entries expire after ttl.
func NATSLedger(ctx context.Context, q Queue, ttl time.Duration) (Ledger, error) {
	nq, ok := q.(*natsQueue)
	if !ok {
		return nil, errors.New("the NATS ledger needs a NATS queue")
	}
	js, err := jetstream.New(nq.nc)
	if err != nil {
		return nil, err
	}
	name := ledgerBucketName(nq.cfg.Consumer)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, TTL: ttl, History: 1,
		Description: "objects flowlog exporters delivered (for the reconciler)"})
	if err != nil {
		return nil, fmt.Errorf("nats key-value bucket %s: %w", name, err)
	}
	return &natsLedger{kv: kv, name: "nats key-value " + name}, nil
}

func (l *natsLedger) Name() string { return l.name }

func (l *natsLedger) Delivered(ctx context.Context, es []Entry) ([]bool, error) {
	out := make([]bool, len(es))
	for i, e := range es {
		_, err := l.kv.Get(ctx, e.id())
		switch {
		case err == nil:
			out[i] = true
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	return out, nil
}

func (l *natsLedger) Record(ctx context.Context, e Entry) error {
	if _, err := l.kv.Put(ctx, e.id(), markerBody(e)); err != nil {
		return fmt.Errorf("%s: %w", l.name, err)
	}
	return nil
}

func (l *natsLedger) Claim(ctx context.Context, e Entry, ttl time.Duration) (bool, error) {
	key := "claim." + e.id()
	_, err := l.kv.Create(ctx, key, markerBody(e))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, fmt.Errorf("%s: %w", l.name, err)
	}
	cur, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil // expired meanwhile: the next round takes it
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", l.name, err)
	}
	if time.Since(cur.Created()) < ttl {
		return false, nil
	}
	// An old claim: its exporter died. Taken over only if nobody else
	// did first (the revision is unchanged).
	if _, err := l.kv.Update(ctx, key, markerBody(e), cur.Revision()); err != nil {
		return false, nil
	}
	return true, nil
}

// markerBody says, for people, which object a key stands for.
func markerBody(e Entry) []byte {
	b, _ := json.Marshal(map[string]string{"bucket": e.Bucket, "key": e.Key, "etag": e.ETag,
		"delivered": time.Now().UTC().Format(time.RFC3339)})
	return b
}

// s3Ledger is a small marker object per delivered object, in the source
// bucket under prefix/yyyy/mm/dd/ by the object's time: a reconciler lists
// the days it looks at, and a lifecycle rule on the prefix expires them.
type s3Ledger struct {
	client *s3.Client
	bucket string
	prefix string
}

// S3Ledger keeps markers under prefix in bucket.
func S3Ledger(client *s3.Client, bucket, prefix string) Ledger {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &s3Ledger{client: client, bucket: bucket, prefix: prefix}
}

func (l *s3Ledger) Name() string { return "s3://" + l.bucket + "/" + l.prefix }

func (l *s3Ledger) day(t time.Time) string { return l.prefix + t.UTC().Format("2006/01/02") + "/" }

func (l *s3Ledger) Delivered(ctx context.Context, es []Entry) ([]bool, error) {
	// The object's time may be read from its key by one exporter and be
	// its write time for another: the days around it are listed too.
	days := map[string]bool{}
	for _, e := range es {
		for d := -1; d <= 1; d++ {
			days[l.day(e.Time.AddDate(0, 0, d))] = true
		}
	}
	have := map[string]bool{}
	for day := range days {
		p := s3.NewListObjectsV2Paginator(l.client, &s3.ListObjectsV2Input{Bucket: aws.String(l.bucket), Prefix: aws.String(day)})
		for pages := 0; p.HasMorePages(); pages++ {
			if pages > 100_000 {
				return nil, fmt.Errorf("%s: listing %s did not end", l.Name(), day)
			}
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: listing %s: %w", l.Name(), day, err)
			}
			for _, o := range page.Contents {
				have[strings.TrimPrefix(aws.ToString(o.Key), day)] = true
			}
		}
	}
	out := make([]bool, len(es))
	for i, e := range es {
		out[i] = have[e.id()]
	}
	return out, nil
}

// Claim puts a claim object under prefix/claims/ only if there is none
// (a conditional write, If-None-Match: *), or over one older than ttl only
// if it is unchanged (If-Match).
func (l *s3Ledger) Claim(ctx context.Context, e Entry, ttl time.Duration) (bool, error) {
	key := l.prefix + "claims/" + e.id()
	body := markerBody(e)
	put := func(ifMatch string) error {
		in := &s3.PutObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json")}
		if ifMatch == "" {
			in.IfNoneMatch = aws.String("*")
		} else {
			in.IfMatch = aws.String(ifMatch)
		}
		_, err := l.client.PutObject(ctx, in)
		return err
	}
	err := put("")
	if err == nil {
		return true, nil
	}
	if !preconditionFailed(err) {
		return false, fmt.Errorf("%s: claim: %w", l.Name(), err)
	}
	head, err := l.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(key)})
	if err != nil {
		return false, fmt.Errorf("%s: claim: %w", l.Name(), err)
	}
	if time.Since(aws.ToTime(head.LastModified)) < ttl {
		return false, nil
	}
	if err := put(aws.ToString(head.ETag)); err != nil {
		if preconditionFailed(err) {
			return false, nil
		}
		return false, fmt.Errorf("%s: claim: %w", l.Name(), err)
	}
	return true, nil
}

// preconditionFailed is a conditional write that found the object (412),
// or that raced another one (409).
func preconditionFailed(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode() == 412 || re.HTTPStatusCode() == 409
	}
	return false
}

func (l *s3Ledger) Record(ctx context.Context, e Entry) error {
	body := markerBody(e)
	_, err := l.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.day(e.Time) + e.id()),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json")})
	if err != nil {
		return fmt.Errorf("%s: %w", l.Name(), err)
	}
	return nil
}

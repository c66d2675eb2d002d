package source

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flowlog/flowlog/internal/objkey"
)

// Bucket is an S3-compatible bucket, read under one or more key prefixes.
type Bucket struct {
	client   *s3.Client
	bucket   string
	prefixes []string
}

// NewBucket returns the source of the objects under prefixes (none: the whole bucket).
func NewBucket(client *s3.Client, bucket string, prefixes ...string) *Bucket {
	if len(prefixes) == 0 {
		prefixes = []string{""}
	}
	return &Bucket{client: client, bucket: bucket, prefixes: prefixes}
}

// Name is s3://bucket; keys are full keys, so prefixes share one namespace.
func (b *Bucket) Name() string { return "s3://" + b.bucket }

// List lists every prefix and keeps the flow-log objects whose time is in r.
func (b *Bucket) List(ctx context.Context, r Range) ([]Object, error) {
	var out []Object
	seen := map[string]bool{}
	for _, prefix := range b.prefixes {
		if prefix != "" && !strings.HasSuffix(prefix, "/") { // a prefix is a folder
			prefix += "/"
		}
		p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list s3://%s/%s: %w", b.bucket, prefix, err)
			}
			for _, c := range page.Contents {
				key := aws.ToString(c.Key)
				info, ok := objkey.Parse(key)
				if !ok || seen[key] {
					continue
				}
				o := Object{Bucket: b.bucket, Key: key, ETag: aws.ToString(c.ETag), Size: aws.ToInt64(c.Size),
					Modified: aws.ToTime(c.LastModified).UTC(), Info: info}
				if r.Contains(o.Time()) {
					seen[key] = true
					out = append(out, o)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Open gets the object, this version: a rewrite after listing fails the
// ETag condition and is picked up by the next listing.
func (b *Bucket) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(o.Key)}
	if o.ETag != "" {
		in.IfMatch = aws.String(o.ETag)
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", b.bucket, o.Key, err)
	}
	return out.Body, nil
}

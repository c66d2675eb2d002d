package source

import (
	"context"
	"fmt"
	"io"
	"slices"
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

// List lists the prefixes that can hold objects of r and keeps the
// flow-log objects whose time is in r.
func (b *Bucket) List(ctx context.Context, r Range) ([]Object, error) {
	prefixes, err := b.Prefixes(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []Object
	seen := map[string]bool{}
	for _, prefix := range prefixes {
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

// Prefixes returns the key prefixes List reads for r. For a bounded range
// over AWS layouts (AWSLogs/<account>/vpcflowlogs/<region>/, plain or
// Hive-compatible) these are the day folders of the range, found by listing
// the folders above them; otherwise the configured prefixes themselves.
func (b *Bucket) Prefixes(ctx context.Context, r Range) ([]string, error) {
	var out []string
	for _, prefix := range b.prefixes {
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/" // a prefix is a folder
		}
		if r.Since.IsZero() || r.Until.IsZero() {
			out = append(out, prefix)
			continue
		}
		regions, err := b.awsRegions(ctx, prefix)
		if err != nil {
			return nil, err
		}
		if len(regions) == 0 {
			out = append(out, prefix)
			continue
		}
		for _, reg := range regions {
			out = append(out, objkey.DayPrefixes(reg, strings.Contains(reg, "aws-region="), r.Since, r.Until)...)
		}
	}
	return out, nil
}

// awsRegions returns the region folders of AWS layouts at or below prefix,
// or none when prefix is not such a place.
func (b *Bucket) awsRegions(ctx context.Context, prefix string) ([]string, error) {
	base, rest, found := strings.Cut(prefix, "AWSLogs/")
	if !found {
		subs, err := b.folders(ctx, prefix)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(subs, prefix+"AWSLogs/") {
			return nil, nil
		}
		base, rest = prefix, ""
	}
	depth := strings.Count(rest, "/") // folders below AWSLogs/ already in the prefix
	if depth > 3 {
		return nil, nil // inside a region folder: list it as it is
	}
	level := []string{base + "AWSLogs/" + rest}
	for d := depth; d < 3; d++ {
		var next []string
		for _, f := range level {
			subs, err := b.folders(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, s := range subs {
				name := strings.TrimSuffix(strings.TrimPrefix(s, f), "/")
				if d == 1 && name != "vpcflowlogs" && name != "aws-service=vpcflowlogs" {
					continue
				}
				next = append(next, s)
			}
		}
		level = next
	}
	return level, nil
}

// folders lists the sub-folders of prefix.
func (b *Bucket) folders(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket),
		Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", b.bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
	}
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

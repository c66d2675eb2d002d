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

// keyRange is one listing: the keys under Prefix after StartAfter and
// before StopAt (empty: no bound); Shallow lists only the objects directly
// under Prefix.
type keyRange struct {
	Prefix, StartAfter, StopAt string
	Shallow                    bool
}

func (k keyRange) String() string {
	switch {
	case k.Shallow:
		return k.Prefix + " (objects directly in it)"
	case k.StartAfter != "":
		return k.Prefix + " (" + strings.TrimPrefix(k.StartAfter, k.Prefix) + "…" + strings.TrimPrefix(k.StopAt, k.Prefix) + ")"
	}
	return k.Prefix
}

// List lists the key ranges that can hold objects of r and keeps the
// flow-log objects whose time is in r.
func (b *Bucket) List(ctx context.Context, r Range) ([]Object, error) {
	ranges, err := b.ranges(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []Object
	seen := map[string]bool{}
	for _, kr := range ranges {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(kr.Prefix)}
		if kr.StartAfter != "" {
			in.StartAfter = aws.String(kr.StartAfter)
		}
		if kr.Shallow {
			in.Delimiter = aws.String("/")
		}
		p := s3.NewListObjectsV2Paginator(b.client, in)
	pages:
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list s3://%s/%s: %w", b.bucket, kr.Prefix, err)
			}
			for _, c := range page.Contents {
				key := aws.ToString(c.Key)
				if kr.StopAt != "" && key >= kr.StopAt {
					break pages // keys come in order: the rest is later
				}
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

// Prefixes describes the key ranges List reads for r, for people.
func (b *Bucket) Prefixes(ctx context.Context, r Range) ([]string, error) {
	ranges, err := b.ranges(ctx, r)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ranges))
	for i, kr := range ranges {
		out[i] = kr.String()
	}
	return out, nil
}

// ranges returns the key ranges that can hold objects of r. For a bounded
// range, each AWS region folder (AWSLogs/<account>/vpcflowlogs/<region>/,
// plain or Hive-compatible) is read only from the first day of the range to
// the last: its yyyy/mm/dd folders sort by date. The other folders beside
// AWSLogs are read whole.
func (b *Bucket) ranges(ctx context.Context, r Range) ([]keyRange, error) {
	var out []keyRange
	for _, prefix := range b.prefixes {
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/" // a prefix is a folder
		}
		if r.Since.IsZero() || r.Until.IsZero() {
			out = append(out, keyRange{Prefix: prefix})
			continue
		}
		regions, others, err := b.awsRegions(ctx, prefix)
		if err != nil {
			return nil, err
		}
		if regions == nil {
			out = append(out, keyRange{Prefix: prefix})
			continue
		}
		for _, reg := range regions {
			hive := strings.Contains(reg, "aws-region=")
			first := objkey.DayPrefixes(reg, hive, r.Since, r.Since)[0]
			after := objkey.DayPrefixes(reg, hive, r.Until.AddDate(0, 0, 1), r.Until.AddDate(0, 0, 1))[0]
			out = append(out, keyRange{Prefix: reg, StartAfter: strings.TrimSuffix(first, "/"), StopAt: after})
		}
		out = append(out, others...)
	}
	return out, nil
}

// awsRegions returns the region folders of AWS layouts at or below prefix,
// and the other places under prefix to read whole: nil regions when prefix
// holds no AWSLogs folder.
func (b *Bucket) awsRegions(ctx context.Context, prefix string) (regions []string, others []keyRange, err error) {
	base, rest, found := strings.Cut(prefix, "AWSLogs/")
	if !found {
		subs, err := b.folders(ctx, prefix)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(subs, prefix+"AWSLogs/") {
			return nil, nil, nil
		}
		others = append(others, keyRange{Prefix: prefix, Shallow: true})
		for _, s := range subs {
			if s != prefix+"AWSLogs/" {
				others = append(others, keyRange{Prefix: s})
			}
		}
		base, rest = prefix, ""
	}
	depth := strings.Count(rest, "/") // folders below AWSLogs/ already in the prefix
	if depth > 3 {
		return nil, nil, nil // inside a region folder: list it as it is
	}
	level := []string{base + "AWSLogs/" + rest}
	for d := depth; d < 3; d++ {
		var next []string
		for _, f := range level {
			subs, err := b.folders(ctx, f)
			if err != nil {
				return nil, nil, err
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
	if level == nil {
		level = []string{} // an AWSLogs folder without flow logs: nothing to read in it
	}
	return level, others, nil
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

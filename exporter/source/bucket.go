package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flowlog/flowlog/internal/objkey"
)

// Bucket is an S3-compatible bucket, read under one or more key prefixes.
type Bucket struct {
	client   *s3.Client
	bucket   string
	prefixes []string
	// Stall is how long an object's body may send nothing before its
	// reading is given up (a transport error): a server or a network that
	// hangs mid-object does not hang a worker. 2 minutes by default.
	Stall time.Duration
}

// NewBucket returns the source of the objects under prefixes (none: the whole bucket).
func NewBucket(client *s3.Client, bucket string, prefixes ...string) *Bucket {
	return &Bucket{client: client, bucket: bucket, prefixes: CanonicalPrefixes(prefixes), Stall: 2 * time.Minute}
}

// CanonicalPrefixes returns prefixes without leading or trailing "/",
// sorted, without repeats and without those inside another; [""] (the
// whole bucket) when none is left.
func CanonicalPrefixes(prefixes []string) []string {
	var out []string
	for _, p := range prefixes {
		out = append(out, strings.Trim(p, "/"))
	}
	sort.Strings(out)
	out = slices.Compact(out)
	var kept []string
	for _, p := range out {
		inside := false
		for _, q := range kept {
			if q == "" || strings.HasPrefix(p, q+"/") {
				inside = true
			}
		}
		if !inside {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return []string{""}
	}
	return kept
}

// BucketName is the name of the source of bucket under prefixes:
// s3://bucket, s3://bucket/prefix, or s3://bucket/{a,b} for several.
func BucketName(bucket string, prefixes []string) string {
	prefixes = CanonicalPrefixes(prefixes)
	switch {
	case len(prefixes) == 1 && prefixes[0] == "":
		return "s3://" + bucket
	case len(prefixes) == 1:
		return "s3://" + bucket + "/" + prefixes[0]
	}
	return "s3://" + bucket + "/{" + strings.Join(prefixes, ",") + "}"
}

// Name is the bucket and its prefixes: s3://bucket/prefix.
func (b *Bucket) Name() string { return BucketName(b.bucket, b.prefixes) }

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
func (b *Bucket) List(ctx context.Context, r Range) (Listing, error) {
	ranges, err := b.ranges(ctx, r)
	if err != nil {
		return Listing{}, err
	}
	var out Listing
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
			if err == nil {
				err = checkListing(page.Name, b.bucket)
			}
			if err != nil {
				return Listing{}, fmt.Errorf("list s3://%s/%s: %w", b.bucket, kr.Prefix, err)
			}
			for _, c := range page.Contents {
				key := aws.ToString(c.Key)
				if kr.StopAt != "" && key >= kr.StopAt {
					break pages // keys come in order: the rest is later
				}
				if seen[key] {
					continue
				}
				seen[key] = true
				info, ok := objkey.Parse(key)
				if !ok {
					out.Unknown++
					continue
				}
				o := Object{Bucket: b.bucket, Key: key, ETag: aws.ToString(c.ETag), Size: aws.ToInt64(c.Size),
					Modified: aws.ToTime(c.LastModified).UTC(), Info: info}
				if !r.Contains(o.Time()) {
					out.OutOfRange++
					continue
				}
				out.Objects = append(out.Objects, o)
			}
		}
	}
	sort.Slice(out.Objects, func(i, j int) bool { return out.Objects[i].Key < out.Objects[j].Key })
	return out, nil
}

// ErrNotListing is the cause of a listing error when the answer is not an S3
// listing: a web page from a wrong endpoint, a captive portal, a proxy.
var ErrNotListing = errors.New("the answer is not an S3 bucket listing (is the endpoint an S3 service?)")

// checkListing tells a real listing, which names its bucket, from anything
// else answered with status 200, which the SDK reads as an empty listing.
func checkListing(name *string, bucket string) error {
	if name == nil || *name != bucket {
		return ErrNotListing
	}
	return nil
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
// the last: its yyyy/mm/dd folders sort by date; with hourly partitions
// (…/dd/HH/, …/day=dd/hour=HH/) only from the first hour to the last. The other folders beside
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
			last := objkey.DayPrefixes(reg, hive, r.Until, r.Until)[0]
			hourly, err := b.hourly(ctx, first, last)
			if err != nil {
				return nil, err
			}
			if hourly {
				// Hourly partitions: from the hour of Since to the hour of Until.
				start := objkey.HourPrefix(reg, hive, r.Since)
				stop := objkey.HourPrefix(reg, hive, r.Until.Truncate(time.Hour).Add(time.Hour))
				out = append(out, keyRange{Prefix: reg, StartAfter: strings.TrimSuffix(start, "/"), StopAt: stop})
				continue
			}
			after := objkey.DayPrefixes(reg, hive, r.Until.AddDate(0, 0, 1), r.Until.AddDate(0, 0, 1))[0]
			out = append(out, keyRange{Prefix: reg, StartAfter: strings.TrimSuffix(first, "/"), StopAt: after})
		}
		out = append(out, others...)
	}
	return out, nil
}

// hourly reports whether a region folder uses AWS's hourly partitions:
// the first day folder of the range (else the last) holds hour folders.
func (b *Bucket) hourly(ctx context.Context, days ...string) (bool, error) {
	for _, day := range days {
		subs, err := b.folders(ctx, day)
		if err != nil {
			return false, err
		}
		for _, s := range subs {
			if objkey.IsHourFolder(strings.TrimSuffix(strings.TrimPrefix(s, day), "/")) {
				return true, nil
			}
		}
		if len(subs) > 0 {
			return false, nil
		}
	}
	return false, nil
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
		if err == nil {
			err = checkListing(page.Name, b.bucket)
		}
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
	name := "s3://" + b.bucket + "/" + o.Key
	ctx, cancel := context.WithCancel(ctx)
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		cancel()
		return nil, &TransportError{Object: name, Err: err}
	}
	size := o.Size
	if size == 0 && out.ContentLength != nil {
		// A notification that gave no size: the answer's length is this
		// version's (the ETag condition held).
		size = *out.ContentLength
	}
	return CheckSize(watchStall(out.Body, b.Stall, cancel), name, size), nil
}

// stallWatch cancels a body's request when no byte arrives for a while.
type stallWatch struct {
	io.ReadCloser
	last   atomic.Int64 // unix nanoseconds of the last read that returned bytes
	stop   chan struct{}
	cancel context.CancelFunc
	once   sync.Once
	stall  time.Duration
	fired  atomic.Bool
}

func watchStall(body io.ReadCloser, stall time.Duration, cancel context.CancelFunc) io.ReadCloser {
	w := &stallWatch{ReadCloser: body, stop: make(chan struct{}), cancel: cancel, stall: stall}
	w.last.Store(time.Now().UnixNano())
	go w.watch()
	return w
}

func (w *stallWatch) watch() {
	t := time.NewTicker(min(w.stall/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			if now.Sub(time.Unix(0, w.last.Load())) > w.stall {
				w.fired.Store(true)
				w.cancel()
				return
			}
		}
	}
}

func (w *stallWatch) Read(p []byte) (int, error) {
	n, err := w.ReadCloser.Read(p)
	if n > 0 {
		w.last.Store(time.Now().UnixNano())
	}
	if err != nil && w.fired.Load() {
		err = fmt.Errorf("no bytes for %s: given up (%w)", w.stall, err)
	}
	return n, err
}

func (w *stallWatch) Close() error {
	w.once.Do(func() { close(w.stop) })
	err := w.ReadCloser.Close()
	w.cancel()
	return err
}

// Check lists one key of each prefix: it fails where the bucket cannot be
// reached, does not exist, or the credentials are refused.
func (b *Bucket) Check(ctx context.Context) error {
	for _, prefix := range b.prefixes {
		page, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1)})
		if err == nil {
			err = checkListing(page.Name, b.bucket)
		}
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", b.bucket, prefix, err)
		}
	}
	return nil
}

// BucketName is the bucket the source reads: queue messages naming another
// are not its.
func (b *Bucket) BucketName() string { return b.bucket }

// Package objstore writes objects to where flow logs live: an S3-compatible
// bucket or a local folder. Both write atomically: an object appears complete
// under its key or not at all.
package objstore

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Store puts objects under keys.
type Store interface {
	// Put stores size bytes of body under key, replacing an object of the
	// same key. It is safe to call again with the same key after an error.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error
	// String names the store for logs, without secrets.
	String() string
}

// Location is a parsed target or source address.
type Location struct {
	Bucket string // S3 bucket; empty for a folder
	Prefix string // key prefix inside the bucket, without leading or trailing "/"
	Dir    string // local folder; empty for S3
}

// IsS3 reports whether the location is a bucket.
func (l Location) IsS3() bool { return l.Bucket != "" }

func (l Location) String() string {
	if l.IsS3() {
		if l.Prefix == "" {
			return "s3://" + l.Bucket
		}
		return "s3://" + l.Bucket + "/" + l.Prefix
	}
	return l.Dir
}

// ParseLocation reads "s3://bucket[/prefix]", "file:///folder" or a plain
// folder path. Query parameters are not part of a location.
func ParseLocation(s string) (Location, error) {
	switch {
	case s == "":
		return Location{}, fmt.Errorf("empty location: want s3://bucket[/prefix] or a folder")
	case strings.HasPrefix(s, "s3://"):
		// Keys are literal: the prefix is taken as written, not URL-decoded.
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(s, "s3://"), "/")
		if bucket == "" {
			return Location{}, fmt.Errorf("location %q: no bucket after s3://", s)
		}
		if strings.ContainsAny(s, "?#") {
			return Location{}, fmt.Errorf("location %q: options do not belong in the address here", s)
		}
		return Location{Bucket: bucket, Prefix: strings.Trim(prefix, "/")}, nil
	case strings.HasPrefix(s, "file://"):
		u, err := url.Parse(s)
		if err != nil {
			return Location{}, fmt.Errorf("location %q: %w", s, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("location %q: file URLs name a local folder: file:///path", s)
		}
		return Location{Dir: filepath.Clean(u.Path)}, nil
	case strings.Contains(s, "://"):
		return Location{}, fmt.Errorf("location %q: scheme not supported: want s3:// or a folder", s)
	}
	return Location{Dir: filepath.Clean(s)}, nil
}

// ParseURL reads a location whose S3 options ride on the address, for
// command-line use: s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=eu-central-1&path_style=true.
// Credentials come from the AWS default chain (environment, shared files).
func ParseURL(s string) (Location, S3Config, error) {
	var cfg S3Config
	base, query, hasQuery := strings.Cut(s, "?")
	loc, err := ParseLocation(base)
	if err != nil || !hasQuery {
		return loc, cfg, err
	}
	if !loc.IsS3() {
		return loc, cfg, fmt.Errorf("location %q: options apply to s3:// addresses only", s)
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return loc, cfg, fmt.Errorf("location %q: %w", s, err)
	}
	for k, v := range values {
		val := v[len(v)-1]
		switch k {
		case "endpoint":
			cfg.Endpoint = val
		case "region":
			cfg.Region = val
		case "path_style":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return loc, cfg, fmt.Errorf("location %q: path_style=%q: want true or false", s, val)
			}
			cfg.PathStyle = b
		default:
			return loc, cfg, fmt.Errorf("location %q: unknown option %q (known: endpoint, region, path_style)", s, k)
		}
	}
	return loc, cfg, nil
}

// Package objstore writes objects to where flow logs live: an S3-compatible
// bucket or a local folder. Both write atomically: an object appears complete
// under its key or not at all.
package objstore

import (
	"context"
	"errors"
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
			return Location{}, errors.New("no bucket after s3:// (want s3://bucket[/prefix])")
		}
		if strings.ContainsAny(bucket, "@:") {
			return Location{}, errors.New("an s3:// address holds no credentials (user:secret@…): give keys through the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a configuration file with ${NAME}")
		}
		if !validBucket(bucket) {
			return Location{}, errors.New("the text after s3:// is not a bucket name (letters, digits, '.', '-' and '_', up to 255, then /prefix)")
		}
		if strings.ContainsAny(s, "?#") {
			return Location{}, fmt.Errorf("s3://%s: options do not belong in the address here", bucket)
		}
		return Location{Bucket: bucket, Prefix: strings.Trim(prefix, "/")}, nil
	case strings.HasPrefix(s, "file://"):
		u, err := url.Parse(s)
		if err != nil {
			return Location{}, errors.New("file:// address does not parse: want file:///absolute/folder")
		}
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, errors.New("file URLs name a local folder: file:///absolute/folder")
		}
		return Location{Dir: filepath.Clean(u.Path)}, nil
	case strings.Contains(s, "://"):
		// The address is not repeated: it may hold a password.
		scheme, _, _ := strings.Cut(s, "://")
		return Location{}, fmt.Errorf("scheme %s not supported: want s3://bucket[/prefix] or a folder", printableKey(scheme+"://"))
	}
	return Location{Dir: filepath.Clean(s)}, nil
}

func validBucket(b string) bool {
	if len(b) > 255 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ParseURL reads a location whose S3 options ride on the address, for
// command-line use: s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=eu-central-1&path_style=true.
// Credentials come from the AWS default chain (environment, shared files),
// never from the address: it shows in the process list. Errors never repeat
// the address's option values.
func ParseURL(s string) (Location, S3Config, error) {
	var cfg S3Config
	base, query, hasQuery := strings.Cut(s, "?")
	loc, err := ParseLocation(base)
	if err != nil || !hasQuery {
		return loc, cfg, err
	}
	if !loc.IsS3() {
		return loc, cfg, fmt.Errorf("%s: options (?…) apply to s3:// addresses only", loc)
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return loc, cfg, fmt.Errorf("%s: the options after ? do not parse", loc)
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
				return loc, cfg, fmt.Errorf("%s: path_style=%q: want true or false", loc, val)
			}
			cfg.PathStyle = b
		case "access_key_id", "secret_access_key", "session_token", "aws_access_key_id", "aws_secret_access_key":
			return loc, cfg, fmt.Errorf("%s: %s does not belong in the address (others can read it in the process list): "+
				"set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use -c with keys from ${NAME}", loc, k)
		default:
			return loc, cfg, fmt.Errorf("%s: unknown option %s (known: endpoint, region, path_style)", loc, printableKey(k))
		}
	}
	return loc, cfg, nil
}

// printableKey shows an option name, unless it may be a secret pasted in
// the wrong place.
func printableKey(k string) string {
	if k != "" && len(k) <= 24 && strings.Trim(k, "abcdefghijklmnopqrstuvwxyz_:/+") == "" {
		return strconv.Quote(k)
	}
	return "(name not shown)"
}

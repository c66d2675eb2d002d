package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	fconfig "github.com/flowlog/flowlog/internal/config"
)

// Secret is a string that never shows in logs, errors or printed configuration.
type Secret = fconfig.Secret

// S3Config says how to reach an S3-compatible service. With no keys, the AWS
// default chain applies (environment, shared files, web identity, IMDS).
type S3Config struct {
	Endpoint        string        `yaml:"endpoint"`   // e.g. https://s3.eu-central-1.ionoscloud.com; empty for AWS
	Region          string        `yaml:"region"`     // default us-east-1 when nothing else sets one
	PathStyle       bool          `yaml:"path_style"` // bucket in the path (MinIO, most non-AWS services)
	AccessKeyID     string        `yaml:"access_key_id"`
	SecretAccessKey Secret        `yaml:"secret_access_key"`
	SessionToken    Secret        `yaml:"session_token"`
	RoleARN         string        `yaml:"role_arn"`    // assume this role (STS) with the credentials above
	ExternalID      string        `yaml:"external_id"` // for role_arn, when the role demands one
	Timeout         time.Duration `yaml:"timeout"`     // waiting for an answer, for the next bytes of an object read, or for an upload; default 2m
}

// Validate checks the fields that can be checked without a network.
func (c S3Config) Validate() error {
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("access_key_id and secret_access_key go together: set both or neither")
	}
	if c.ExternalID != "" && c.RoleARN == "" {
		return errors.New("external_id goes with role_arn")
	}
	if c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:") {
		return fmt.Errorf("role_arn: %q is not an ARN (arn:aws:iam::123456789012:role/name)", c.RoleARN)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout: %s is negative", c.Timeout)
	}
	return nil
}

// DefaultTimeout is the S3 timeout when none is configured.
const DefaultTimeout = 2 * time.Minute

// TimeoutOrDefault returns the configured timeout, or DefaultTimeout.
func (c S3Config) TimeoutOrDefault() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// AWSConfig is the AWS SDK configuration cfg's region, keys and role make
// (any AWS client, not only S3's); it contacts nothing. Without keys the
// AWS default chain applies.
func AWSConfig(ctx context.Context, cfg S3Config) (aws.Config, error) {
	if err := cfg.Validate(); err != nil {
		return aws.Config{}, err
	}
	timeout := cfg.TimeoutOrDefault()
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = timeout
		})),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			cfg.AccessKeyID, string(cfg.SecretAccessKey), string(cfg.SessionToken))))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	if cfg.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(awsCfg), cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "flowlog"
			if cfg.ExternalID != "" {
				o.ExternalID = aws.String(cfg.ExternalID)
			}
		})
		awsCfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return awsCfg, nil
}

// NewS3Client builds an S3 client for cfg. It does not contact the service.
// The timeout bounds the wait for an answer's headers, not the reading of
// its body: a big object takes as long as it takes (readers of bodies watch
// for a body that stalls; see source.Bucket).
func NewS3Client(ctx context.Context, cfg S3Config) (*s3.Client, error) {
	awsCfg, err := AWSConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Checksums only where the API demands them: several S3-compatible
		// services reject the newer default trailers.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// Bucket stores objects in one S3 bucket.
type Bucket struct {
	client  *s3.Client
	bucket  string
	name    string
	timeout time.Duration
}

// NewBucket returns a store for bucket through client; an upload that takes
// longer than timeout (0: DefaultTimeout) fails and is tried again later.
func NewBucket(client *s3.Client, bucket string, timeout time.Duration) *Bucket {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Bucket{client: client, bucket: bucket, name: "s3://" + bucket, timeout: timeout}
}

func (b *Bucket) String() string { return b.name }

// Put uploads the object in one PutObject request; S3 makes it visible only
// once complete.
func (b *Bucket) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", b.bucket, key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("application/gzip"),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", b.bucket, key, err)
	}
	return nil
}

// Open returns the store of a location: a folder, or a bucket reached with s3cfg.
func Open(ctx context.Context, loc Location, s3cfg S3Config) (Store, error) {
	if !loc.IsS3() {
		return NewDir(loc.Dir)
	}
	client, err := NewS3Client(ctx, s3cfg)
	if err != nil {
		return nil, err
	}
	return NewBucket(client, loc.Bucket, s3cfg.Timeout), nil
}

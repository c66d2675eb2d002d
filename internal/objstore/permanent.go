package objstore

import (
	"errors"
	"strings"

	"github.com/aws/smithy-go"
)

// permanentCodes are S3 error codes retrying cannot cure: the bucket, the
// keys or the permissions must be changed first.
var permanentCodes = map[string]bool{
	"NoSuchBucket": true, "AccessDenied": true, "SignatureDoesNotMatch": true, "InvalidAccessKeyId": true,
	"InvalidBucketName": true, "AllAccessDisabled": true, "AccountProblem": true, "InvalidToken": true,
	"ExpiredToken": true, "AuthorizationHeaderMalformed": true, "PermanentRedirect": true,
}

// Permanent reports whether a store error is one retrying cannot cure: an
// S3 answer such as NoSuchBucket, AccessDenied or SignatureDoesNotMatch, or
// no credentials to sign with. A network error or a 5xx is not.
func Permanent(err error) bool { return PermanentCode(err) != "" }

// PermanentCode names a permanent error's kind (the S3 error code, or
// "NoCredentials"); "" when err is not permanent.
func PermanentCode(err error) string {
	if err == nil {
		return ""
	}
	var api smithy.APIError
	if errors.As(err, &api) && permanentCodes[api.ErrorCode()] {
		return api.ErrorCode()
	}
	msg := err.Error()
	if strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "failed to refresh cached credentials") {
		return "NoCredentials"
	}
	return ""
}

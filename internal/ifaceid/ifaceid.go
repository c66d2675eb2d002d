// Package ifaceid derives stable interface ids for flow records.
package ifaceid

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Derive returns a UUID-shaped id that depends only on parts, so the same
// host and interface always get the same id.
func Derive(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	sum[6] = sum[6]&0x0f | 0x50 // UUID version 5 shape
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

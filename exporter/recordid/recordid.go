// Package recordid gives every flow record one deterministic id, derived
// from where it was read: bucket, object key, object version (ETag) and line
// number. Work redone after a crash produces the same ids, so sinks can drop
// what they already hold instead of storing it twice.
package recordid

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
)

// Len is the length of an id: 128 bits in unpadded base64url.
const Len = 22

// Object is the part of the id shared by every record of one object version.
type Object struct {
	digest [sha256.Size]byte
}

// ForObject returns the id source of one object version. The etag tells a
// rewritten object from the original: its records get new ids.
func ForObject(bucket, key, etag string) Object {
	h := sha256.New()
	for _, s := range [...]string{"flowlog/recordid/v1", bucket, key, etag} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:]) // length-prefixed: ("ab","c") and ("a","bc") differ
		h.Write([]byte(s))
	}
	var o Object
	h.Sum(o.digest[:0])
	return o
}

// Append appends the id of the record on the given line (1-based).
func (o *Object) Append(dst []byte, line int) []byte {
	var buf [sha256.Size + 8]byte
	copy(buf[:], o.digest[:])
	binary.BigEndian.PutUint64(buf[sha256.Size:], uint64(line))
	sum := sha256.Sum256(buf[:])
	return base64.RawURLEncoding.AppendEncode(dst, sum[:16])
}

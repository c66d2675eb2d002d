package sink

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Object is one version of a flow-log object being delivered. It stays valid
// and unchanged until every sink acknowledged it.
type Object struct {
	Source string    // the source it was listed in: s3://bucket[/prefix] or an absolute folder
	Bucket string    // its bucket; for a folder source, the folder
	Key    string    // its key; below a folder, its path with "/"
	ETag   string    // its version: a rewrite under the same key has another
	Time   time.Time // from its key, else its modification time
	Size   int64     // stored (compressed) bytes
}

// IsS3 reports whether the object is in a bucket rather than a folder.
func (o *Object) IsS3() bool { return strings.HasPrefix(o.Source, "s3://") }

// String names the object for people: s3://bucket/key or /folder/key.
func (o *Object) String() string {
	if o.IsS3() {
		return "s3://" + o.Bucket + "/" + o.Key
	}
	return strings.TrimSuffix(o.Bucket, "/") + "/" + o.Key
}

// RelPath returns where the output of the object goes below a sink's
// folder: s3/<bucket>/<key><suffix> for a bucket, folder/<folder><suffix>
// for a folder. Keys are hostile input, so every segment is escaped: the
// result is a relative path that never leaves the folder (no "..", no
// absolute path, no hidden name), that is valid UTF-8, whose file names fit
// the 255-byte limit, and that differs for different objects (k.log and
// k.log.gz stay apart: the key is kept whole).
func (o *Object) RelPath(suffix string) string {
	var b strings.Builder
	if o.IsS3() {
		b.WriteString("s3/")
		b.WriteString(escapeSegment(o.Bucket, false))
	} else {
		// The folder is configuration, not input, and absolute and clean:
		// its hidden folders (.demo) may keep their dot.
		b.WriteString("folder")
		for _, seg := range strings.Split(strings.Trim(filepath.ToSlash(o.Bucket), "/"), "/") {
			b.WriteByte('/')
			b.WriteString(escapeSegment(seg, seg != "." && seg != ".."))
		}
	}
	key := escapeKey(o.Key)
	b.WriteByte('/')
	b.WriteString(key)
	b.WriteString(suffix)
	return filepath.FromSlash(b.String())
}

// maxKeyPath bounds the escaped key; longer keys become one hashed name so
// the whole path stays well within PATH_MAX.
const maxKeyPath = 1024

func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = escapeSegment(s, false)
	}
	out := strings.Join(segs, "/")
	if len(out) > maxKeyPath {
		return shorten(escapeSegment(strings.ReplaceAll(key, "/", "\x00"), false), key)
	}
	return out
}

// maxSegment leaves room in a 255-byte file name for suffixes such as
// ".rejected.ndjson" and the temporary-file decoration.
const maxSegment = 180

// escapeSegment percent-encodes what must not appear in a file name made
// from a key segment: '%' itself (so the encoding can be undone), control
// bytes, '\', invalid UTF-8, and a leading '.' (".", ".." and hidden names).
// An empty segment (from "//" or a leading "/") becomes a lone "%", which no
// escaped text can be. A segment too long for a file name is cut and given a
// hash of the whole, after "%~", which no escaped text can contain either.
func escapeSegment(s string, leadingDot bool) string {
	var b strings.Builder
	if s == "" {
		return "%"
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				pct(&b, c)
				i++
				continue
			}
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		if c < 0x20 || c == 0x7f || c == '%' || c == '\\' || c == '/' || c == 0 || (c == '.' && i == 0 && !leadingDot) {
			pct(&b, c)
		} else {
			b.WriteByte(c)
		}
		i++
	}
	if b.Len() > maxSegment {
		return shorten(b.String(), s)
	}
	return b.String()
}

// shorten cuts escaped at a character boundary and appends "%~" and a hash
// of the original.
func shorten(escaped, original string) string {
	sum := sha256.Sum256([]byte(original))
	cut := maxSegment - 2 - 32
	for cut > 0 && (!utf8.RuneStart(escaped[cut]) || escaped[cut-1] == '%' || cut >= 2 && escaped[cut-2] == '%') {
		cut--
	}
	return escaped[:cut] + "%~" + hex.EncodeToString(sum[:16])
}

func pct(b *strings.Builder, c byte) {
	const digits = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(digits[c>>4])
	b.WriteByte(digits[c&15])
}

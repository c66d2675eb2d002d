package elasticsearch

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAnswers feeds hostile bulk answers and error bodies: no panic, and
// descriptions and reasons stay short, valid UTF-8, on one line.
func FuzzAnswers(f *testing.F) {
	f.Add(`{"errors":true,"items":[{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"x","caused_by":{"type":"y","reason":"z"}}}}]}`)
	f.Add(`{"error":{"type":"security_exception","reason":"no"},"status":401}`)
	f.Add(`{"error":"plain","status":500}`)
	f.Add("<html>\n\xff</html>")
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := parseBulk([]byte(s)); err == nil {
			for _, it := range r.Items {
				if d := it.Create.Error.String(); !utf8.ValidString(d) || len(d) > 1100 || strings.ContainsAny(d, "\n\r") {
					t.Fatalf("reason %q", d)
				}
			}
		}
		d := describe(500, []byte(s))
		if !utf8.ValidString(d) || len(d) > 1100 || strings.ContainsAny(d, "\n\r") {
			t.Fatalf("description %q", d)
		}
	})
}

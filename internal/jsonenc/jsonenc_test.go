package jsonenc

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"":                   `""`,
		"eni-1235b8ca":       `"eni-1235b8ca"`,
		`a"b\c`:              `"a\"b\\c"`,
		"tab\tnl\ncr\r":      `"tab\tnl\ncr\r"`,
		"\x00\x1f\x7f":       `"\u0000\u001f` + "\x7f" + `"`,
		"grüße 東京":           `"grüße 東京"`,
		"bad \xff\xfe utf-8": `"bad \ufffd\ufffd utf-8"`,
		"cut \xe6\x9d":       `"cut \ufffd\ufffd"`,
	} {
		if got := string(String(nil, []byte(in))); got != want {
			t.Errorf("String(%q) = %s, want %s", in, got, want)
		}
		if got := string(Str(nil, in)); got != want {
			t.Errorf("Str(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\x00\xff", "東京", strings.Repeat("a\"", 40)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := String([]byte("prefix"), in)
		if string(out[:6]) != "prefix" {
			t.Fatalf("prefix overwritten: %q", out)
		}
		var back string
		if err := json.Unmarshal(out[6:], &back); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", out[6:], in, err)
		}
		if utf8.Valid(in) && back != string(in) {
			t.Fatalf("round trip: got %q, want %q", back, in)
		}
	})
}

func TestAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	in := []byte(`eni-1235b8ca "quoted" \ and more`)
	if n := testing.AllocsPerRun(100, func() { buf = String(buf[:0], in); buf = Str(buf, "account") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

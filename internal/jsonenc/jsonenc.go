// Package jsonenc appends JSON values to byte slices without reflection or
// allocation, for the encoders on flowlog's hot paths.
package jsonenc

import (
	"unicode/utf8"
	"unsafe"
)

const hex = "0123456789abcdef"

// safe[c] is true for the ASCII bytes that need no escaping in a JSON string.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// String appends s as a quoted JSON string. Quotes, backslashes and control
// bytes are escaped; invalid UTF-8 becomes U+FFFD, so the output is always
// valid JSON whatever the input.
func String(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// Str is String for a Go string.
func Str(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// A read-only view of s: appendEscaped copies from it and keeps nothing.
	dst = appendEscaped(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
	return append(dst, '"')
}

func appendEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// SnakeKey appends name as a JSON object key with its '-' turned to '_'
// (header names such as "pkt-srcaddr" become "pkt_srcaddr"), colon included.
func SnakeKey(dst []byte, name string) []byte {
	start := len(dst)
	dst = Str(dst, name)
	for i := start; i < len(dst); i++ {
		if dst[i] == '-' {
			dst[i] = '_'
		}
	}
	return append(dst, ':')
}

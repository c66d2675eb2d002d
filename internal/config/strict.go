package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Secret is a string that never shows in logs, errors or printed
// configuration.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// MarshalText keeps secrets out of anything that serializes a configuration.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Error is a configuration error at a place in a file.
type Error struct {
	Line int    // 0 when unknown
	Path string // key path, e.g. sources[1].workers
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
	unmarshaler  = reflect.TypeFor[yaml.Unmarshaler]()
	nodeType     = reflect.TypeFor[yaml.Node]()
)

// Check compares a YAML node with the Go type it will be decoded into and
// names, in words for people, the first key the type does not know (with
// the keys it does, and the closest one) or the first value of the wrong
// kind. path is the node's key path ("" for the document). Values of
// Secret fields are never repeated in messages. Types with their own
// UnmarshalYAML are left to it.
func Check(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return Check(n.Content[0], t, path)
	}
	if n.Kind == yaml.AliasNode {
		return Check(n.Alias, t, path)
	}
	if t == nodeType || reflect.PointerTo(t).Implements(unmarshaler) {
		return nil // decoded later, or by its own code
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	switch {
	case t == durationType:
		return checkScalar(n, path, "a duration such as 30s, 10m or 24h", func(v string) bool {
			_, err := time.ParseDuration(v)
			return err == nil
		})
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &Error{Line: n.Line, Path: path, Msg: "want keys and values (a mapping), got " + describe(n)}
		}
		fields := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				return unknownKey(k, path, fields)
			}
			if err := Check(v, f, join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		if n.Kind != yaml.SequenceNode {
			return &Error{Line: n.Line, Path: path, Msg: "want a list, such as [a, b] or lines starting with \"- \", got " + describe(n)}
		}
		for i, item := range n.Content {
			if err := Check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return &Error{Line: n.Line, Path: path, Msg: "want keys and values (a mapping), got " + describe(n)}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := Check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Bool:
		return checkScalar(n, path, "true or false", func(string) bool { return n.Tag == "!!bool" })
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return checkScalar(n, path, "a whole number", func(v string) bool {
			_, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 0, t.Bits())
			return err == nil
		})
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return checkScalar(n, path, fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<t.Bits()-1), func(v string) bool {
			_, err := strconv.ParseUint(strings.ReplaceAll(v, "_", ""), 0, t.Bits())
			return err == nil
		})
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			msg := "want text, got " + describe(n)
			if t == secretType {
				msg = "want text (a secret: its value is not shown)"
			}
			return &Error{Line: n.Line, Path: path, Msg: msg}
		}
	}
	return nil
}

func checkScalar(n *yaml.Node, path, want string, ok func(string) bool) error {
	if n.Kind == yaml.ScalarNode && ok(n.Value) {
		return nil
	}
	return &Error{Line: n.Line, Path: path, Msg: "want " + want + ", got " + describe(n)}
}

// describe says what a node holds, for a message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys and values"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return strconv.Quote(v)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// structFields maps the YAML keys of a struct, inline fields included, to
// their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func unknownKey(k *yaml.Node, path string, fields map[string]reflect.Type) error {
	var known []string
	for name := range fields {
		known = append(known, name)
	}
	slices.Sort(known)
	msg := fmt.Sprintf("unknown key %q", k.Value)
	if best := closest(k.Value, known); best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	msg += "; known keys: " + strings.Join(known, ", ")
	return &Error{Line: k.Line, Path: path, Msg: msg}
}

// closest returns the known name nearest to s, when it is near enough to
// be a typo.
func closest(s string, known []string) string {
	best, bestD := "", len(s)/2+1
	for _, k := range known {
		if d := distance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Damerau–Levenshtein distance (with adjacent swaps).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// DecodeNode checks n against dst's type (see Check) and decodes it.
func DecodeNode(n *yaml.Node, dst any, path string) error {
	if err := Check(n, reflect.TypeOf(dst), path); err != nil {
		return err
	}
	if err := n.Decode(dst); err != nil {
		var te *yaml.TypeError
		var ce *Error
		if errors.As(err, &ce) {
			return ce
		}
		if errors.As(err, &te) {
			return &Error{Msg: strings.Join(te.Errors, "; ")} // they name their lines
		}
		return &Error{Line: n.Line, Path: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return nil
}

// RedactURL returns u fit to print: a password in it and the values of its
// query options whose names suggest a secret are replaced.
func RedactURL(u string) string {
	base, query, hasQuery := strings.Cut(u, "?")
	if scheme, rest, ok := strings.Cut(base, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			user, _, _ := strings.Cut(rest[:at], ":")
			base = scheme + "://" + user + ":<redacted>@" + rest[at+1:]
		}
	}
	if !hasQuery {
		return base
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		lk := strings.ToLower(k)
		for _, word := range []string{"secret", "password", "passwd", "token", "key", "auth", "credential", "signature"} {
			if strings.Contains(lk, word) {
				parts[i] = k + "=<redacted>"
				break
			}
		}
	}
	return base + "?" + strings.Join(parts, "&")
}

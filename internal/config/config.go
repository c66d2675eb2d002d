// Package config reads YAML configuration files the same way for every
// flowlog command: ${NAME} is replaced by the environment variable NAME, and
// keys the target struct does not know are an error.
package config

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Load reads the YAML file at path into dst, which holds the defaults. The
// Redactor it returns hides the values the file took from the environment:
// run-time errors and logs go through it, so that a secret placed in a
// field that is not a secret (an endpoint, a region) is not printed either.
func Load(path string, dst any) (*Redactor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Redactor{}, fmt.Errorf("configuration: %w", err)
	}
	return decode(path, data, dst, os.LookupEnv)
}

// Redactor replaces values taken from the environment in text.
type Redactor struct {
	values []string
}

// Redact returns msg with every value from the environment (4 bytes or
// longer) replaced. A nil Redactor returns msg.
func (r *Redactor) Redact(msg string) string {
	if r == nil {
		return msg
	}
	return redact(msg, r.values)
}

// Empty reports whether there is nothing to hide.
func (r *Redactor) Empty() bool { return r == nil || len(r.values) == 0 }

// Decode reads YAML data, named name in errors, into dst. lookup resolves
// ${NAME} references; a reference to an unset variable is an error. Keys dst
// does not know and values of the wrong kind are refused with the line, the
// key and what is wanted (see Check). Values taken from the environment are
// never repeated in errors: they may be secrets.
func Decode(name string, data []byte, dst any, lookup func(string) (string, bool)) error {
	_, err := decode(name, data, dst, lookup)
	return err
}

func decode(name string, data []byte, dst any, lookup func(string) (string, bool)) (*Redactor, error) {
	var missing []string
	var secrets []string
	expand := func(ref []byte) []byte {
		key := string(ref[2 : len(ref)-1])
		v, ok := lookup(key)
		if !ok {
			missing = append(missing, key)
			return ref
		}
		secrets = append(secrets, v, yamlString(v))
		// The parts of a value (the host of a URL, a password in it) can
		// show alone in an error.
		for _, part := range strings.FieldsFunc(v, func(c rune) bool { return strings.ContainsRune(":/@?&=# \t,;", c) }) {
			if len(part) >= 8 && part != v {
				secrets = append(secrets, part)
			}
		}
		// Quote the value so that secrets with YAML syntax stay strings.
		return []byte(yamlString(v))
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, line := range lines {
		code := commentStart(line)
		lines[i] = append(envRef.ReplaceAllFunc(line[:code:code], expand), line[code:]...)
	}
	data = bytes.Join(lines, nil)
	r := &Redactor{values: secrets}
	if len(missing) > 0 {
		return r, fmt.Errorf("%s: environment variable %s is not set", name, strings.Join(missing, ", "))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return r, fmt.Errorf("%s: %s", name, redact(strings.TrimPrefix(err.Error(), "yaml: "), secrets))
	}
	if len(doc.Content) == 0 {
		return r, fmt.Errorf("%s: the file is empty", name)
	}
	if err := DecodeNode(&doc, dst, ""); err != nil {
		return r, fmt.Errorf("%s: %s", name, redact(err.Error(), secrets))
	}
	return r, nil
}

// redact replaces the values that came from the environment.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "<from the environment>")
			if q := strconv.Quote(s); len(q) > 2 {
				msg = strings.ReplaceAll(msg, q[1:len(q)-1], "<from the environment>")
			}
		}
	}
	return msg
}

// commentStart returns where a YAML comment starts in line, or len(line):
// references in comments are left alone.
func commentStart(line []byte) int {
	var quote byte
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return i
		}
	}
	return len(line)
}

// yamlString returns v as a plain scalar when that reads back as the same
// string, else double-quoted.
func yamlString(v string) string {
	if v != "" && !strings.ContainsAny(v, ":#{}[],&*!|>'\"%@`\n\t ") {
		return v
	}
	return strconv.Quote(v)
}

// ByteSize is a size in bytes written as 1048576, "512KiB", "100MiB" or "2GiB".
type ByteSize int64

// UnmarshalYAML reads a plain number or a number with a binary unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// ParseByteSize reads "123", "64KiB", "10MiB", "1GiB" (also KB/MB/GB as powers of 1000).
func ParseByteSize(s string) (ByteSize, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a number of bytes such as 1048576, 512KiB, 100MiB or 2GiB", s)
	}
	return ByteSize(n * mult), nil
}

package config

import (
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name   string   `yaml:"name"`
	Secret string   `yaml:"secret"`
	Size   ByteSize `yaml:"size"`
	Note   string   `yaml:"note"`
}

func TestDecodeExpandsValuesNotComments(t *testing.T) {
	env := map[string]string{"USER_NAME": "web", "SECRET": `a: "b" # c`}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	in := "# ${NOT_SET} in a comment is fine\nname: ${USER_NAME}\nsecret: ${SECRET} # ${ALSO_NOT_SET}\nsize: 64KiB\nnote: \"a # b ${USER_NAME}\"\n"
	var s sample
	if err := Decode("t.yaml", []byte(in), &s, lookup); err != nil {
		t.Fatal(err)
	}
	if s.Name != "web" || s.Secret != `a: "b" # c` || s.Size != 64<<10 || s.Note != "a # b web" {
		t.Errorf("got %+v", s)
	}
	err := Decode("t.yaml", []byte("name: ${MISSING}\n"), &s, lookup)
	if err == nil || !strings.Contains(err.Error(), "t.yaml: environment variable MISSING is not set") {
		t.Errorf("missing variable: %v", err)
	}
	err = Decode("t.yaml", []byte("nmae: x\n"), &s, lookup)
	if err == nil || err.Error() != `t.yaml: line 1: unknown key "nmae" (did you mean "name"?); known keys: name, note, secret, size` {
		t.Errorf("unknown key: %v", err)
	}
}

type nested struct {
	Workers int           `yaml:"workers"`
	Poll    time.Duration `yaml:"poll"`
	On      bool          `yaml:"on"`
	List    []string      `yaml:"list"`
	Inner   struct {
		Port uint16 `yaml:"port"`
	} `yaml:"inner"`
	Items []struct {
		Key    string `yaml:"key"`
		Secret Secret `yaml:"secret"`
	} `yaml:"items"`
	Size ByteSize `yaml:"size"`
}

// TestDecodeErrors: configuration errors name the line and key and say
// what is wanted, in words, never Go's; values from the environment are
// not repeated.
func TestDecodeErrors(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cr3t-v@lue", "N": "12ab"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"wrokers: 2\n":                     `line 1: unknown key "wrokers" (did you mean "workers"?); known keys: inner, items, list, on, poll, size, workers`,
		"poll: 60\n":                       `line 1: poll: want a duration such as 30s, 10m or 24h, got "60"`,
		"workers: two\n":                   `line 1: workers: want a whole number, got "two"`,
		"on: maybe\n":                      `line 1: on: want true or false, got "maybe"`,
		"list: a\n":                        `line 1: list: want a list, such as [a, b] or lines starting with "- ", got "a"`,
		"inner:\n  prot: 1\n":              `line 2: inner: unknown key "prot" (did you mean "port"?); known keys: port`,
		"inner: {port: 70000}\n":           `line 1: inner.port: want a whole number from 0 to 65535, got "70000"`,
		"items:\n  - key: a\n  - kye: b\n": `line 3: items[1]: unknown key "kye" (did you mean "key"?); known keys: key, secret`,
		"workers: ${TOKEN}\n":              `line 1: workers: want a whole number, got "<from the environment>"`,
		"size: lots\n":                     `line 1: size "lots": want a number of bytes`,
		"inner: 3\n":                       `line 1: inner: want keys and values (a mapping), got "3"`,
		"items:\n  - secret: [a]\n":        `line 2: items[0].secret: want text (a secret: its value is not shown)`,
		"workers: [\n":                     `did not find expected node content`,
	} {
		var n nested
		err := Decode("t.yaml", []byte(in), &n, lookup)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant …%s", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: a value from the environment in %v", in, err)
		}
	}
	var n nested
	if err := Decode("t.yaml", []byte("workers: 3\npoll: 1m\nitems: [{key: a, secret: ${TOKEN}}]\n"), &n, lookup); err != nil || n.Workers != 3 || n.Poll != time.Minute || n.Items[0].Secret != "s3cr3t-v@lue" {
		t.Errorf("%+v, %v", n, err)
	}
	if Secret("x").String() != "<redacted>" {
		t.Error("Secret prints its value")
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "1048576": 1 << 20, "512KiB": 512 << 10, "100MiB": 100 << 20,
		"2GiB": 2 << 30, "1 TiB": 1 << 40, "5MB": 5e6, "7B": 7} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "lots", "99999999999TiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzDecode: whatever the YAML, decoding ends in a value or an error,
// never a panic, and an error never repeats a value from the environment.
func FuzzDecode(f *testing.F) {
	f.Add("workers: 2\npoll: 1m\nitems: [{key: a, secret: ${S}}]\n")
	f.Add("inner: {port: 70000}\nlist: [a, b]\nsize: 1GiB\n")
	f.Add("&a [*a, *a]\n")
	f.Add("items:\n  - key: ${S}\n    kye: 1\n")
	lookup := func(k string) (string, bool) { return "s3cr3t-value", k == "S" }
	f.Fuzz(func(t *testing.T, in string) {
		var n nested
		err := Decode("f.yaml", []byte(in), &n, lookup)
		if err != nil && strings.Contains(err.Error(), "s3cr3t-value") {
			t.Fatalf("secret in %v", err)
		}
	})
}

package config

import (
	"strings"
	"testing"
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
	if err == nil || !strings.Contains(err.Error(), "line 1: field nmae not found") {
		t.Errorf("unknown key: %v", err)
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

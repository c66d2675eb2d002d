package parser

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden reads every object in testdata/ and compares what the reader
// makes of it (records as flat JSON, rejected lines, the end) with
// testdata/NAME.golden. Run with -update after a deliberate change.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.log*")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs in testdata: %v", err)
	}
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden") {
			continue
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := readBytes(t, filepath.Base(in), data, Options{})
			var b bytes.Buffer
			for i, rec := range got.records {
				fmt.Fprintf(&b, "record %d: %s\n", got.lines[i], rec)
			}
			for _, e := range got.errs {
				fmt.Fprintf(&b, "error %s\n", e)
			}
			if got.end != nil {
				fmt.Fprintf(&b, "end: %v\n", got.end)
			}
			golden := in + ".golden"
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./parser -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, b.Bytes(), want)
			}
		})
	}
}

package dashboards

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"sort"
	"testing"

	"github.com/flowlog/flowlog/dashboards/build"
)

// TestFilesUpToDate fails when a shipped file is not what package build
// makes, or when a file is shipped that build does not make.
func TestFilesUpToDate(t *testing.T) {
	want, err := build.Files()
	if err != nil {
		t.Fatal(err)
	}
	var shipped []string
	for _, dir := range []string{"grafana", "kibana"} {
		err = fs.WalkDir(os.DirFS("."), dir, func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return nil
			}
			if err != nil || d.IsDir() {
				return err
			}
			shipped = append(shipped, path)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(shipped)
	for _, name := range shipped {
		b, ok := want[name]
		if !ok {
			t.Errorf("%s is shipped but package build does not make it: remove it", name)
			continue
		}
		got, err := fs.ReadFile(Files(), name)
		if err != nil {
			t.Errorf("%s is not embedded: %v", name, err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s differs from what package build makes: run 'go generate ./dashboards'", name)
		}
	}
	for name := range want {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s is not shipped: run 'go generate ./dashboards'", name)
		}
	}
}

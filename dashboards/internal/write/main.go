// Command write writes the files of dashboards/ from package
// dashboards/build ("go generate ./dashboards" runs it there), removing
// shipped files build no longer makes.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/flowlog/flowlog/dashboards/build"
)

func main() {
	if err := write(); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(1)
	}
}

func write() error {
	files, err := build.Files()
	if err != nil {
		return err
	}
	for _, dir := range []string{"grafana", "kibana"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if _, ok := files[filepath.ToSlash(path)]; !ok {
				return os.Remove(path)
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

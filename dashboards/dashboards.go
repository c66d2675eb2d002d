// Package dashboards holds the dashboards flowlog ships, embedded in the
// binary: Grafana dashboards for the ClickHouse and Loki sinks and for
// flowlog's own metrics, Grafana provisioning files, and Kibana saved
// objects for the Elasticsearch sink. The files are made by package
// dashboards/build; run "go generate ./dashboards" after changing it.
package dashboards

import (
	"embed"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/flowlog/flowlog/internal/atomicfile"
)

//go:generate go run ./internal/write

//go:embed grafana kibana
var files embed.FS

// Files is every shipped file, by its path under dashboards/ (for example
// "grafana/flowlog-clickhouse.json").
func Files() fs.FS { return files }

// Export writes every shipped file under dir, keeping their paths
// (grafana/…, grafana/provisioning/…, kibana/…), and returns the paths
// written. Files already there are replaced.
func Export(dir string) ([]string, error) {
	var written []string
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(dst, 0o644, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			return err
		}
		written = append(written, dst)
		return nil
	})
	return written, err
}

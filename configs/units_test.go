package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnits checks the units with systemd-analyze verify (with the
// binary's path pointed at an executable that exists here), where systemd
// is installed.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"flowlog-collector.service", "flowlog-exporter.service"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(data), "/usr/local/bin/flowlog", self)
		if !strings.Contains(unit, "ExecStart="+self) {
			t.Fatalf("%s: no ExecStart of /usr/local/bin/flowlog", name)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
	// The collector runs unprivileged with exactly the capabilities it needs.
	c, _ := os.ReadFile("flowlog-collector.service")
	for _, want := range []string{"AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN", "DynamicUser=yes", "NoNewPrivileges=yes"} {
		if !strings.Contains(string(c), want) {
			t.Errorf("collector unit lacks %s", want)
		}
	}
}

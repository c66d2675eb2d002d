package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCollectCheckPermissions: collect --check fails, naming the
// capability and how to grant it, when the process cannot capture
// (CAP_NET_RAW dropped with capsh), or NFLOG (CAP_NET_ADMIN); and it
// names a spool folder it cannot write.
func TestCollectCheckPermissions(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("drops capabilities that only root holds")
	}
	capsh, err := exec.LookPath("capsh")
	if err != nil {
		if os.Getenv("FLOWLOG_REQUIRE_TOOLS") == "1" {
			t.Fatal("capsh (Debian libcap2-bin) is required")
		}
		t.Skip("capsh not installed")
	}
	dir := t.TempDir()
	write := func(name, extra string) string {
		p := filepath.Join(dir, name)
		cfg := "listen: ''\nspool: {dir: " + filepath.Join(dir, "spool-"+name) + "}\nflow_logs:\n  - name: lo\n    interface: lo\n    target: {url: " + filepath.Join(dir, "out") + "}\n" + extra
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain, nflog := write("plain.yaml", ""), write("nflog.yaml", "    nflog_group: 5\n")
	without := func(caps string, cfg string) (string, error) {
		cmd := exec.Command(capsh, "--drop="+caps, "--", "-c", `exec "$0" -test.run='^$'`, os.Args[0])
		cmd.Env = append(os.Environ(), "FLOWLOG_MAIN_ARGS="+strings.Join([]string{"collect", "-c", cfg, "--check"}, "\n"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := without("cap_sys_module", plain); err != nil {
		t.Fatalf("with CAP_NET_RAW: %v\n%s", err, out)
	}
	if out, err := without("cap_net_raw", plain); err == nil || !strings.Contains(out, "CAP_NET_RAW") || !strings.Contains(out, "setcap") {
		t.Fatalf("without CAP_NET_RAW: %v\n%s", err, out)
	}
	if out, err := without("cap_net_admin", nflog); err == nil || !strings.Contains(out, "nflog_group needs the capability CAP_NET_ADMIN") {
		t.Fatalf("NFLOG without CAP_NET_ADMIN: %v\n%s", err, out)
	}
	// A spool folder that is a file.
	bad := write("badspool.yaml", "")
	os.WriteFile(filepath.Join(dir, "spool-badspool.yaml"), []byte("x"), 0o600)
	if out, err := without("cap_sys_module", bad); err == nil || !strings.Contains(out, "spool.dir") {
		t.Fatalf("spool is a file: %v\n%s", err, out)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCollectCtlIntegration runs the collector daemon in a child process
// and drives it with 'collect ctl' and SIGHUP, as an operator would.
func TestCollectCtlIntegration(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("captures on lo: needs root")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "collector.yaml")
	write := func(logs string) {
		os.WriteFile(cfg, []byte("listen: "+addr+"\ncontrol_token: ${TEST_CTL_TOKEN}\nspool: {dir: "+dir+"/spool}\nflow_logs:\n"+logs), 0o600)
	}
	write("  - {name: loop, interface: lo, rotation: 1h, target: {url: " + dir + "/out}}\n")
	t.Setenv("TEST_CTL_TOKEN", "sekret")
	daemon := child(t, "collect", "-c", cfg)
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
	}()
	var stdout, stderr string
	var code int
	for i := 0; i < 100; i++ {
		if stdout, stderr, code = flowlog(t, "", "collect", "ctl", "status", "-c", cfg); code == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(stdout, "loop") || !strings.Contains(stdout, "running") || !strings.Contains(stdout, "lo → loop: interface lo") {
		t.Fatalf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := flowlog(t, "", "collect", "ctl", "status", "--addr", addr, "--token", "${NO_SUCH_VAR_X}"); code != 2 || !strings.Contains(stderr, "NO_SUCH_VAR_X is not set") {
		t.Errorf("unset token variable: exit %d %s", code, stderr)
	}
	t.Setenv("WRONG_TOKEN", "nope")
	if _, stderr, code := flowlog(t, "", "collect", "ctl", "status", "--addr", addr, "--token", "${WRONG_TOKEN}"); code != 2 || !strings.Contains(stderr, "control token is required") {
		t.Errorf("wrong token: exit %d %s", code, stderr)
	}
	if _, stderr, code := flowlog(t, "", "collect", "ctl", "status", "nope", "-c", cfg); code != 2 || !strings.Contains(stderr, `no such flow log: "nope"`) {
		t.Errorf("status nope: exit %d %s", code, stderr)
	}
	if stdout, _, code := flowlog(t, "", "collect", "ctl", "suspend", "loop", "-c", cfg); code != 0 || !strings.Contains(stdout, "suspended") {
		t.Errorf("suspend: exit %d\n%s", code, stdout)
	}
	if _, stderr, code := flowlog(t, "", "collect", "ctl", "resume", "nope", "-c", cfg); code != 2 || !strings.Contains(stderr, `no such flow log: "nope"`) {
		t.Errorf("resume nope: exit %d %s", code, stderr)
	}

	// SIGHUP reloads: a second flow log appears; an invalid file changes nothing.
	write("  - {name: loop, interface: lo, rotation: 1h, target: {url: " + dir + "/out}}\n" +
		"  - {name: every, host: true, rotation: 1h, target: {url: " + dir + "/out}}\n")
	daemon.Process.Signal(syscall.SIGHUP)
	for i := 0; i < 100; i++ {
		if stdout, _, _ = flowlog(t, "", "collect", "ctl", "status", "-c", cfg); strings.Contains(stdout, "every") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stdout, "every") || !strings.Contains(stdout, "suspended") {
		t.Errorf("after SIGHUP:\n%s", stdout)
	}
	os.WriteFile(cfg, []byte("listen: "+addr+"\nflow_logs: [{name: x, interface: lo, rotation: 7m, target: {url: "+dir+"}}]\n"), 0o600)
	if _, stderr, code := flowlog(t, "", "collect", "ctl", "reload", "--addr", addr, "--token", "${TEST_CTL_TOKEN}"); code != 2 || !strings.Contains(stderr, "rotation: 7m0s") {
		t.Errorf("invalid reload: exit %d %s", code, stderr)
	}
	if stdout, _, _ := flowlog(t, "", "collect", "ctl", "status", "--addr", addr, "--token", "${TEST_CTL_TOKEN}"); !strings.Contains(stdout, "every") {
		t.Errorf("the invalid file changed the flow logs:\n%s", stdout)
	}
}

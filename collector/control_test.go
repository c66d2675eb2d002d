package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlog/flowlog/internal/ops"
	"github.com/flowlog/flowlog/parser"
)

// running is a collector Run by a test, with its ops listener.
type running struct {
	c    *Collector
	addr string
	stop func() error
}

// runCollector starts a collector on cfg (reloading cfgFile when set) with
// its ops listener on a free loopback port; token guards /flowlogs.
func runCollector(t *testing.T, cfg Config, cfgFile, token string) *running {
	t.Helper()
	deps := Deps{Hostname: "test-host"}
	if cfgFile != "" {
		deps.Reload = func() (Config, error) { return Load(cfgFile) }
	}
	c, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	c.ShutdownGrace = 3 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone, srvDone := make(chan error, 1), make(chan error, 1)
	go func() { runDone <- c.Run(ctx) }()
	srv := &ops.Server{Gatherer: nil, Routes: c.Routes(token)}
	go func() { srvDone <- srv.Serve(ctx, ln) }()
	r := &running{c: c, addr: ln.Addr().String()}
	stopped := false
	r.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		<-srvDone
		return <-runDone
	}
	t.Cleanup(func() { r.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Healthy() != nil {
		if time.Now().After(deadline) {
			t.Fatal("collector did not start in 10 s")
		}
		select {
		case err := <-runDone:
			t.Fatalf("Run: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return r
}

// call sends a control request as collect ctl does.
func (r *running) call(t *testing.T, method, path, token string) (int, []FlowLogStatus, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.addr+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans struct {
		FlowLogs []FlowLogStatus `json:"flow_logs"`
		Error    string          `json:"error"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return resp.StatusCode, ans.FlowLogs, ans.Error
}

// owners maps each interface to the flow log capturing it, per Status.
func owners(st []FlowLogStatus) map[string]string {
	out := map[string]string{}
	for _, f := range st {
		for _, i := range f.Interfaces {
			out[i.Name] = f.Name
		}
	}
	return out
}

// waitFor polls the status until ok holds, for at most d.
func (r *running) waitFor(t *testing.T, d time.Duration, what string, ok func([]FlowLogStatus) bool) []FlowLogStatus {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := r.c.Status(context.Background())
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %+v (%v)", what, d, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func link(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// vethPair makes a pair of interfaces a and b in the host, up, with addr
// on a when set; they are deleted when the test ends.
func vethPair(t *testing.T, a, b, addr string) {
	t.Helper()
	link(t, "link", "add", a, "type", "veth", "peer", "name", b)
	t.Cleanup(func() { exec.Command("ip", "link", "del", a).Run() })
	if addr != "" {
		link(t, "addr", "add", addr, "dev", a)
	}
	link(t, "link", "set", a, "up")
	link(t, "link", "set", b, "up")
}

// udp sends n datagrams to the peer's port: a flow the test can find. The
// socket is not connected: the peer's "port unreachable" answers do not
// fail the next writes.
func udp(t *testing.T, port, n int) {
	t.Helper()
	u, err := net.ListenPacket("udp4", hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	dst := &net.UDPAddr{IP: net.ParseIP(peerIP), Port: port}
	for range n {
		if _, err := u.WriteTo(make([]byte, 50), dst); err != nil {
			t.Fatal(err)
		}
	}
}

// recordsByPort reads every object in dir whose name starts with prefix
// and returns, per UDP destination port, the records' packets and the
// account ids seen.
func recordsByPort(t *testing.T, dir, prefix string) (map[uint16]uint64, map[string]bool) {
	t.Helper()
	pkts, accounts := map[uint16]uint64{}, map[string]bool{}
	paths, _ := filepath.Glob(filepath.Join(dir, prefix+"*.log.gz"))
	eachRecord(t, paths, func(rec *parser.Record) {
		if rec.Protocol == 17 {
			pkts[rec.DstPort] += rec.Packets
		}
		accounts[string(rec.AccountID)] = true
	})
	return pkts, accounts
}

func flowLogCfg(name, iface, out string) FlowLogConfig {
	return FlowLogConfig{Name: name, Interface: iface, Rotation: time.Hour, Target: TargetConfig{URL: out}}
}

// TestScopesIntegration: flow logs by interface, subnet, name pattern and
// host over veths; each interface goes to the most specific, one added
// while running joins within seconds, one deleted leaves, and a flow log
// over several interfaces writes one object per interface.
func TestScopesIntegration(t *testing.T) {
	n := setupNet(t)
	id := fmt.Sprintf("fs%d", os.Getpid()%10000)
	vethPair(t, id+"a", id+"b", "10.251.7.1/30")
	out := t.TempDir()
	cfg := DefaultConfig()
	cfg.Spool.Dir = t.TempDir()
	byName := flowLogCfg("by-name", n.hostIf, out)
	bySubnet := flowLogCfg("by-subnet", "", out)
	bySubnet.Subnet = "10.251.7.0/30"
	byPattern := flowLogCfg("by-pattern", "", out)
	byPattern.Interfaces = id + "*"
	host := flowLogCfg("whole-host", "", out)
	host.Host = true
	// The host first: order matters only among equals.
	cfg.FlowLogs = []FlowLogConfig{host, byPattern, bySubnet, byName}
	r := runCollector(t, cfg, "", "")

	st := r.waitFor(t, 5*time.Second, "owners at start", func(st []FlowLogStatus) bool { return len(owners(st)) >= 4 })
	want := map[string]string{n.hostIf: "by-name", id + "a": "by-subnet", id + "b": "by-pattern", "lo": "whole-host"}
	got := owners(st)
	for iface, fl := range want {
		if got[iface] != fl {
			t.Errorf("%s captured by %q, want %q (%v)", iface, got[iface], fl, got)
		}
	}
	for _, f := range st {
		for _, i := range f.Interfaces {
			if i.Name == id+"a" && !strings.Contains(i.Why, "subnet 10.251.7.0/30 holds 10.251.7.1") {
				t.Errorf("why %s: %q", i.Name, i.Why)
			}
		}
	}

	vethPair(t, id+"c", id+"d", "")
	r.waitFor(t, 5*time.Second, "a new veth joins its pattern", func(st []FlowLogStatus) bool {
		o := owners(st)
		return o[id+"c"] == "by-pattern" && o[id+"d"] == "by-pattern"
	})
	exec.Command("ip", "link", "del", id+"c").Run()
	r.waitFor(t, 5*time.Second, "deleted veths leave", func(st []FlowLogStatus) bool {
		o := owners(st)
		_, c := o[id+"c"]
		_, d := o[id+"d"]
		return !c && !d
	})

	udp(t, 20001, 3)
	n.traffic(t)
	r.call(t, "GET", "/flowlogs", "") // loopback traffic, for the host's flow log
	time.Sleep(300 * time.Millisecond)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	pkts, _ := recordsByPort(t, out, "by-name-")
	if pkts[20001] != 3 {
		t.Errorf("by-name recorded %d packets to port 20001, want 3", pkts[20001])
	}
	if pkts, _ := recordsByPort(t, out, "whole-host-"); pkts[20001] != 0 {
		t.Errorf("the host's flow log recorded the interface by-name owns: %v", pkts)
	}
	names, _ := filepath.Glob(filepath.Join(out, "whole-host-lo-*.log.gz"))
	if len(names) == 0 {
		ls, _ := os.ReadDir(out)
		t.Errorf("no object whole-host-lo-<unix>.log.gz for loopback: %v", ls)
	}
}

// TestSuspendResumeIntegration: over HTTP with traffic flowing, a
// suspended flow log records nothing, the window before it is written
// when it is suspended, and the state survives a restart.
func TestSuspendResumeIntegration(t *testing.T) {
	n := setupNet(t)
	out, spoolDir := t.TempDir(), t.TempDir()
	cfg := DefaultConfig()
	cfg.Spool.Dir = spoolDir
	cfg.FlowLogs = []FlowLogConfig{flowLogCfg("web", n.hostIf, out)}
	const token = "t0ken"
	r := runCollector(t, cfg, "", token)
	if code, _, msg := r.call(t, "GET", "/flowlogs", ""); code != http.StatusUnauthorized || !strings.Contains(msg, "token") {
		t.Errorf("without the token: %d %s", code, msg)
	}
	udp(t, 20001, 4)
	time.Sleep(200 * time.Millisecond)
	code, st, msg := r.call(t, "POST", "/flowlogs/web/suspend", token)
	if code != 200 || st[0].State != "suspended" || len(st[0].Interfaces) != 0 {
		t.Fatalf("suspend: %d %s %+v", code, msg, st)
	}
	// Suspending wrote the window: it is there before any shutdown.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if pkts, _ := recordsByPort(t, out, "web-"); pkts[20001] == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the window before the suspension was not written")
		}
		time.Sleep(50 * time.Millisecond)
	}
	udp(t, 20002, 5) // while suspended
	n.traffic(t)
	time.Sleep(200 * time.Millisecond)
	if code, _, msg := r.call(t, "POST", "/flowlogs/nope/suspend", token); code != http.StatusNotFound {
		t.Errorf("unknown flow log: %d %s", code, msg)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	// A restart keeps it suspended.
	r = runCollector(t, cfg, "", token)
	if _, st, _ := r.call(t, "GET", "/flowlogs", token); st[0].State != "suspended" {
		t.Fatalf("after a restart: %+v", st)
	}
	udp(t, 20003, 2) // still suspended
	code, st, _ = r.call(t, "POST", "/flowlogs/web/resume", token)
	if code != 200 || st[0].State != "running" || len(st[0].Interfaces) != 1 {
		t.Fatalf("resume: %d %+v", code, st)
	}
	time.Sleep(300 * time.Millisecond) // the ring is ready
	udp(t, 20004, 6)
	time.Sleep(200 * time.Millisecond)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	pkts, _ := recordsByPort(t, out, "web-")
	if pkts[20001] != 4 || pkts[20002] != 0 || pkts[20003] != 0 || pkts[20004] != 6 {
		t.Errorf("packets per port %v, want 4 before, none while suspended, 6 after", pkts)
	}
}

// TestReloadIntegration: with traffic flowing, a reload adds, removes and
// changes flow logs, each writing its window first; an invalid file is
// refused with the field named and the running configuration kept.
func TestReloadIntegration(t *testing.T) {
	n := setupNet(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	file := filepath.Join(dir, "collector.yaml")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	head := fmt.Sprintf("listen: \"\"\nspool: {dir: %s}\nflow_logs:\n", filepath.Join(dir, "spool"))
	write(head + fmt.Sprintf("  - {name: a, interface: %s, rotation: 1h, account_id: \"111\", target: {url: %s}}\n", n.hostIf, out) +
		fmt.Sprintf("  - {name: b, interface: lo, rotation: 1h, target: {url: %s}}\n", out))
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	r := runCollector(t, cfg, file, "")
	udp(t, 20001, 3)
	r.call(t, "GET", "/flowlogs", "") // loopback traffic, for b
	time.Sleep(200 * time.Millisecond)

	// a changes (account id), b goes, c comes on the same interface as b.
	write(head + fmt.Sprintf("  - {name: a, interface: %s, rotation: 1h, account_id: \"222\", target: {url: %s}}\n", n.hostIf, out) +
		fmt.Sprintf("  - {name: c, interface: lo, rotation: 1h, target: {url: %s}}\n", out))
	st, err := r.c.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Name != "a" || st[1].Name != "c" || owners(st)["lo"] != "c" {
		t.Fatalf("after the reload: %+v", st)
	}
	time.Sleep(300 * time.Millisecond)
	udp(t, 20002, 4)
	r.call(t, "GET", "/flowlogs", "") // loopback traffic, for c
	time.Sleep(200 * time.Millisecond)

	write(head + "  - {name: a, interface: " + n.hostIf + ", rotation: 7m, target: {url: " + out + "}}\n")
	if _, err := r.c.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "rotation: 7m0s must") ||
		!strings.Contains(err.Error(), "running configuration is kept") {
		t.Errorf("invalid file: %v", err)
	}
	st, _ = r.c.Status(context.Background())
	if len(st) != 2 || owners(st)[n.hostIf] != "a" {
		t.Errorf("the invalid file changed the running flow logs: %+v", st)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	if ls, _ := os.ReadDir(filepath.Join(dir, "spool", "a")); len(ls) > 0 {
		var names []string
		for _, e := range ls {
			names = append(names, e.Name())
		}
		t.Logf("left in the spool: %v", names)
	}
	pkts, accounts := recordsByPort(t, out, "a-")
	if pkts[20001] != 3 || pkts[20002] != 4 || !accounts["111"] || !accounts["222"] {
		t.Errorf("a: packets %v, accounts %v; want 3 to 20001 under 111, 4 to 20002 under 222", pkts, accounts)
	}
	if names, _ := filepath.Glob(filepath.Join(out, "b-*.log.gz")); len(names) == 0 {
		t.Error("removed flow log b wrote no object for its last window")
	}
	if names, _ := filepath.Glob(filepath.Join(out, "c-*.log.gz")); len(names) == 0 {
		t.Error("added flow log c wrote no object")
	}
}

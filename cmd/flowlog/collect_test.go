package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCollectPcap(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "trace.pcap")
	if _, stderr, code := flowlog(t, "", "gen", "--pcap", pcap, "--packets", "5000", "--flows", "50", "--objects", "2"); code != 0 {
		t.Fatalf("gen --pcap: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "objects")
	stdout, stderr, code := flowlog(t, "", "collect", "--pcap", pcap, "--out", out, "--name", "web-1", "--rotation", "10m")
	if code != 0 {
		t.Fatalf("collect --pcap: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "read 5000 frames (5000 IP packets, 0 without IP, 0 unreadable)") ||
		!strings.Contains(stdout, "in 2 objects to "+out) || !strings.Contains(stdout, "web-1-1767226200.log.gz") {
		t.Errorf("summary:\n%s", stdout)
	}
	// The objects parse, and hold every packet.
	stdout, stderr, code = flowlog(t, "", "parse", "--output", "v2", filepath.Join(out, "web-1-1767226200.log.gz"), filepath.Join(out, "web-1-1767226800.log.gz"))
	if code != 0 {
		t.Fatalf("parse: exit %d: %s", code, stderr)
	}
	var packets int
	for _, l := range lines(stdout) {
		f := strings.Fields(l)
		if f[0] == "version" {
			continue
		}
		n := 0
		for _, c := range f[8] {
			n = n*10 + int(c-'0')
		}
		packets += n
	}
	if packets != 5000 {
		t.Errorf("objects hold %d packets, want 5000", packets)
	}
}

func TestCollectUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("spool: {dir: /tmp/x}\nflow_logs:\n  - {name: a, interface: lo, target: {url: /tmp/x}, direction: up}\n"), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("spool: {dir: "+dir+"/spool}\nflow_logs:\n  - {name: a, interface: lo, target: {url: "+dir+"/out}}\n"), 0o600)
	missing := filepath.Join(dir, "missing-if.yaml")
	os.WriteFile(missing, []byte("spool: {dir: /tmp/x}\nflow_logs:\n  - {name: a, interface: nosuch0, target: {url: /tmp/x}}\n"), 0o600)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"collect"}, 2, "give -c FILE to run the daemon, or --pcap FILE --out TARGET"},
		{[]string{"collect", "-c", good, "--pcap", "x.pcap"}, 2, "-c and --pcap do not go together"},
		{[]string{"collect", "--pcap", "x.pcap"}, 2, "--pcap needs --out TARGET"},
		{[]string{"collect", "--pcap", "x.pcap", "--out", dir, "--rotation", "7m"}, 2, "--rotation: 7m0s must be at least 1s and divide an hour"},
		{[]string{"collect", "--pcap", "x.pcap", "--out", "s3://b/x/y"}, 2, "--out: prefix \"x/y\" may not contain"},
		{[]string{"collect", "--pcap", "x.pcap", "--out", dir, "--direction", "ingress"}, 2, "needs --local-addr or --local-mac"},
		{[]string{"collect", "--pcap", filepath.Join(dir, "none.pcap"), "--out", dir}, 2, "none.pcap: no such file"},
		{[]string{"collect", "--pcap", bad, "--out", dir}, 2, "not a pcap or pcapng file"},
		{[]string{"collect", "-c", bad, "--check"}, 2, "flow_logs[0]: direction: \"up\" must be ingress, egress or bidirectional"},
		{[]string{"collect", "-c", missing, "--check"}, 2, "flow_logs[0].interface: nosuch0"},
		{[]string{"collect", "-c", good, "--check"}, 0, "configuration OK, 1 flow logs"},
	} {
		stdout, stderr, code := flowlog(t, "", c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("%v: exit %d, output:\n%s%s\nwant exit %d and %q", c.args, code, stdout, stderr, c.code, c.want)
		}
	}
}

// TestCollectDaemonIntegration runs the daemon on loopback, talks to its
// /healthz (which is traffic on loopback), stops it as SIGTERM would, and
// finds that traffic in the object the shutdown wrote.
func TestCollectDaemonIntegration(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("captures on lo: needs root")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "collector.yaml")
	os.WriteFile(cfg, []byte("listen: "+addr+"\nspool: {dir: "+dir+"/spool}\nflow_logs:\n"+
		"  - {name: lo-test, interface: lo, rotation: 1h, target: {url: "+dir+"/out}}\n"), 0o600)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() { done <- run(ctx, []string{"collect", "-c", cfg}, strings.NewReader(""), io.Discard, &stderr) }()
	var body string
	for i := 0; i < 100 && body != "ok\n"; i++ {
		time.Sleep(50 * time.Millisecond)
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
	}
	if body != "ok\n" {
		stop()
		<-done
		t.Fatalf("/healthz never said ok:\n%s", stderr.String())
	}
	time.Sleep(300 * time.Millisecond) // the ring hands over its block
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	objs, _ := filepath.Glob(filepath.Join(dir, "out", "lo-test-*.log.gz"))
	if len(objs) != 1 {
		t.Fatalf("objects after shutdown: %v\n%s", objs, stderr.String())
	}
	stdout, _, code := flowlog(t, "", "parse", "--output", "v2", objs[0])
	_, port, _ := net.SplitHostPort(addr)
	if code != 0 || !strings.Contains(stdout, " 127.0.0.1 127.0.0.1 "+port+" ") {
		t.Errorf("no record of the /healthz connection (port %s) in:\n%s", port, stdout)
	}
}

package collector

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlog/flowlog/collector/flowtable"
	"github.com/flowlog/flowlog/parser"
)

// The live tests build this network and talk across it:
//
//	root namespace             namespace flowlog-<pid>
//	hostIf 10.77.0.1/24 ─veth─ peer 10.77.0.2/24
//
// The collector captures hostIf; a helper process in the namespace (this
// test binary, re-run) echoes TCP and UDP and sends traffic the host's
// firewall drops.
const (
	hostIP    = "10.77.0.1"
	peerIP    = "10.77.0.2"
	nflogTest = 4077
)

type testNet struct {
	ns, hostIf string
	helperIn   io.WriteCloser
	helperOut  *bufio.Reader
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func setupNet(t *testing.T) *testNet {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a network namespace")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("FLOWLOG_REQUIRE_TOOLS") == "1" {
			t.Fatal("live capture tests need root (FLOWLOG_REQUIRE_TOOLS=1)")
		}
		t.Skip("live capture tests need root")
	}
	requireTool(t, "ip")
	requireTool(t, "nft")
	n := &testNet{ns: fmt.Sprintf("flowlog-%d", os.Getpid()), hostIf: fmt.Sprintf("flt%dh", os.Getpid()%100000)}
	peer := fmt.Sprintf("flt%dp", os.Getpid()%100000)
	table := fmt.Sprintf("flowlogtest%d", os.Getpid())
	run(t, "ip", "netns", "add", n.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.ns).Run() })
	run(t, "ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", n.hostIf).Run() })
	run(t, "ip", "link", "set", peer, "netns", n.ns)
	run(t, "sysctl", "-qw", "net.ipv6.conf."+n.hostIf+".disable_ipv6=1")
	run(t, "ip", "addr", "add", hostIP+"/24", "dev", n.hostIf)
	run(t, "ip", "link", "set", n.hostIf, "up")
	run(t, "ip", "netns", "exec", n.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	run(t, "ip", "netns", "exec", n.ns, "ip", "addr", "add", peerIP+"/24", "dev", peer)
	run(t, "ip", "netns", "exec", n.ns, "ip", "link", "set", peer, "up")
	run(t, "ip", "netns", "exec", n.ns, "ip", "link", "set", "lo", "up")
	rules := fmt.Sprintf(`table inet %s {
  chain in { type filter hook input priority -10; policy accept; iifname %q udp dport 9999 log group %d drop; }
  chain out { type filter hook output priority -10; policy accept; oifname %q tcp dport 9998 log group %d drop; }
}`, table, n.hostIf, nflogTest, n.hostIf, nflogTest)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", table).Run() })

	helper := exec.Command("ip", "netns", "exec", n.ns, os.Args[0], "-test.run=^TestNetnsHelper$")
	helper.Env = append(os.Environ(), "FLOWLOG_NETNS_HELPER=1")
	helper.Stderr = os.Stderr
	var err error
	if n.helperIn, err = helper.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.helperIn.Close()
		syscall.Kill(helper.Process.Pid, syscall.SIGKILL)
		helper.Wait()
	})
	n.helperOut = bufio.NewReader(out)
	n.expect(t, "ready")
	return n
}

func (n *testNet) expect(t *testing.T, want string) {
	t.Helper()
	line, err := n.helperOut.ReadString('\n')
	if strings.TrimSpace(line) != want || err != nil {
		t.Fatalf("helper said %q (%v), want %q", line, err, want)
	}
}

// TestNetnsHelper is the process in the namespace; it only runs when the
// live tests start it.
func TestNetnsHelper(t *testing.T) {
	if os.Getenv("FLOWLOG_NETNS_HELPER") != "1" {
		t.Skip("helper process for the live capture tests")
	}
	tl, err := net.Listen("tcp", peerIP+":7000")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	ul, err := net.ListenPacket("udp", peerIP+":7001")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, addr, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			ul.WriteTo(buf[:n], addr)
		}
	}()
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "drop": // 4 datagrams the host's input chain drops
			c, err := net.Dial("udp", hostIP+":9999")
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				c.Write(make([]byte, 50))
			}
			c.Close()
			fmt.Println("sent")
		}
	}
}

// traffic sends the test's own packets across the veth pair.
func (n *testNet) traffic(t *testing.T) {
	t.Helper()
	// TCP: three 1000-byte round trips.
	c, err := net.DialTimeout("tcp", peerIP+":7000", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	for range 3 {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	// UDP: five 100-byte datagrams, each echoed.
	u, err := net.Dial("udp", peerIP+":7001")
	if err != nil {
		t.Fatal(err)
	}
	u.SetDeadline(time.Now().Add(2 * time.Second))
	for range 5 {
		if _, err := u.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		if _, err := u.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	u.Close()
	// ICMP: three echo requests with 56 bytes of data; the peer's kernel answers.
	ic, err := net.ListenPacket("ip4:icmp", hostIP)
	if err != nil {
		t.Fatal(err)
	}
	ic.SetDeadline(time.Now().Add(2 * time.Second))
	for seq := range 3 {
		msg := make([]byte, 64)
		msg[0], msg[4], msg[5], msg[7] = 8, 0x12, 0x34, byte(seq)
		sum := 0
		for i := 0; i < len(msg); i += 2 {
			sum += int(msg[i])<<8 | int(msg[i+1])
		}
		sum = (sum >> 16) + (sum & 0xffff)
		sum = ^(sum + sum>>16) & 0xffff
		msg[2], msg[3] = byte(sum>>8), byte(sum)
		if _, err := ic.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(peerIP)}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ic.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	}
	ic.Close()
	// Dropped on the way in: the helper sends four datagrams to port 9999.
	fmt.Fprintln(n.helperIn, "drop")
	n.expect(t, "sent")
	// Dropped on the way out: a connection attempt to port 9998.
	if c, err := net.DialTimeout("tcp", peerIP+":9998", 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("connection to port 9998 went through the drop rule")
	}
}

// liveRun runs a collector on the test interface around fn and returns
// the records it wrote, summed per key.
func liveRun(t *testing.T, n *testNet, direction string, fn func()) map[flowtable.Key]flowCount {
	t.Helper()
	out := t.TempDir()
	cfg := replayConfig(t, out)
	group := nflogTest
	f := &cfg.FlowLogs[0]
	f.Interface, f.Direction, f.NFLOGGroup, f.Rotation = n.hostIf, direction, &group, time.Minute
	c, err := New(cfg, Deps{Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for c.Healthy() != nil {
		select {
		case err := <-done:
			t.Fatalf("collector: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(200 * time.Millisecond) // NFLOG binds after Run reports healthy
	fn()
	time.Sleep(500 * time.Millisecond) // a ring block is handed over after 50 ms
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return objectFlows(t, out)
}

func ours(flows map[flowtable.Key]flowCount) map[flowtable.Key]flowCount {
	h, p := netip.MustParseAddr(hostIP), netip.MustParseAddr(peerIP)
	out := map[flowtable.Key]flowCount{}
	for k, v := range flows {
		if (k.Src == h && k.Dst == p) || (k.Src == p && k.Dst == h) {
			out[k] = v
		}
	}
	return out
}

func k(src, dst string, sp, dp uint16, proto uint8, a parser.Action) flowtable.Key {
	return flowtable.Key{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp, Protocol: proto, Action: a}
}

// TestLiveCaptureIntegration captures real traffic in a namespace, with
// tcpdump alongside as the independent count, and the firewall dropping
// some of it.
func TestLiveCaptureIntegration(t *testing.T) {
	n := setupNet(t)
	requireTool(t, "tcpdump")
	pcap := filepath.Join(t.TempDir(), "live.pcap")
	dump := exec.Command("tcpdump", "-i", n.hostIf, "-w", pcap, "-U", "-n", "ip")
	stderr, _ := dump.StderrPipe()
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stderr).ReadString('\n'); !strings.Contains(line, "listening") {
		t.Fatalf("tcpdump: %s", line)
	}
	got := ours(liveRun(t, n, "bidirectional", func() { n.traffic(t) }))
	time.Sleep(200 * time.Millisecond)
	dump.Process.Signal(syscall.SIGINT)
	dump.Wait()
	want := ours(tsharkFlows(t, pcap))

	// The same real capture converted offline agrees with tshark flow by
	// flow (offline, nothing tells the firewall's drops apart).
	replayed := t.TempDir()
	replayInto(t, replayed, pcap)
	if diff := cmp.Diff(want, ours(objectFlows(t, replayed)), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("collect --pcap of tcpdump's capture differs from tshark (-tshark +flowlog):\n%s", diff)
	}

	accept, reject := parser.ActionAccept, parser.ActionReject
	// What the firewall dropped on the way in: REJECT, never ACCEPT.
	in := k(peerIP, hostIP, 0, 9999, 17, accept)
	for key, v := range want {
		if key.DstPort == 9999 {
			in.SrcPort = key.SrcPort
			delete(want, key)
			key.Action = reject
			want[key] = v
		}
	}
	if v := want[k(peerIP, hostIP, in.SrcPort, 9999, 17, reject)]; v.Packets != 4 || v.Bytes != 4*78 {
		t.Errorf("tcpdump saw %+v of the dropped datagrams, want 4 packets, 312 bytes", v)
	}
	// What the firewall dropped on the way out never reached the interface.
	var out flowCount
	for key, v := range got {
		if key.DstPort == 9998 {
			if key.Action != reject {
				t.Errorf("dropped connection attempt recorded as %s: %+v", key.Action, key)
			}
			out.Packets += v.Packets
			delete(got, key)
		}
	}
	if out.Packets < 1 {
		t.Errorf("no REJECT record for the connection attempt the output chain dropped")
	}
	for key, v := range got {
		w, ok := want[key]
		switch {
		case !ok:
			t.Errorf("record %+v %+v: tcpdump saw no such flow", key, v)
		case w.Packets != v.Packets || w.Bytes != v.Bytes:
			t.Errorf("record %v: %d packets %d bytes, tcpdump counted %d packets %d bytes", key, v.Packets, v.Bytes, w.Packets, w.Bytes)
		}
	}
	for key := range want {
		if _, ok := got[key]; !ok {
			t.Errorf("flow %+v seen by tcpdump has no record", key)
		}
	}
	// Exact counts where the test knows them.
	for _, c := range []struct {
		key   flowtable.Key
		count flowCount
	}{
		{k(hostIP, peerIP, 0, 0, 1, accept), flowCount{Packets: 3, Bytes: 3 * 84}},
		{k(peerIP, hostIP, 0, 0, 1, accept), flowCount{Packets: 3, Bytes: 3 * 84}},
	} {
		if v := got[c.key]; v.Packets != c.count.Packets || v.Bytes != c.count.Bytes {
			t.Errorf("%v: %+v, want %d packets %d bytes", c.key, v, c.count.Packets, c.count.Bytes)
		}
	}
	udpOut, udpBack := 0, 0
	for key, v := range got {
		if key.Protocol == 17 && key.DstPort == 7001 && v.Packets == 5 && v.Bytes == 5*128 {
			udpOut++
		}
		if key.Protocol == 17 && key.SrcPort == 7001 && v.Packets == 5 && v.Bytes == 5*128 {
			udpBack++
		}
	}
	if udpOut != 1 || udpBack != 1 {
		t.Errorf("UDP echo: want one flow of 5 packets, 640 bytes each way; records: %v", got)
	}
}

// TestLiveDirectionIntegration keeps only what arrives at the host.
func TestLiveDirectionIntegration(t *testing.T) {
	n := setupNet(t)
	got := ours(liveRun(t, n, "ingress", func() { n.traffic(t) }))
	if len(got) == 0 {
		t.Fatal("no records")
	}
	for key, v := range got {
		if key.Src.String() != peerIP {
			t.Errorf("ingress flow log recorded a packet the host sent: %v %+v", key, v)
		}
	}
	if v := got[k(peerIP, hostIP, 0, 0, 1, parser.ActionAccept)]; v.Packets != 3 {
		t.Errorf("echo replies: %+v, want 3 packets", v)
	}
}

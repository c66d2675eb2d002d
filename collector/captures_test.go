package collector

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/flowlog/flowlog/collector/capture"
	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/internal/pcapgen"
)

var addrEqual = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// randomPcap writes pcapgen's random capture of Ethernet frames.
func randomPcap(t *testing.T, dir string, packets, flows int) string {
	t.Helper()
	p := filepath.Join(dir, "random.pcap")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := pcapgen.Random(f, 11, packets, flows, t0, 25*time.Minute); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// eachFrame calls fn with every frame of a capture, up to the end of the
// file or a cut (the error it returns).
func eachFrame(t *testing.T, path string, fn func(data []byte, ci gopacket.CaptureInfo)) error {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for {
		data, ci, _, err := src.ReadPacket()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(data, ci)
	}
}

// writePcapHeader writes a pcap file header of any link type (pcapgo's
// writer takes 8 bits of it).
func writePcapHeader(t *testing.T, w io.Writer, link uint32) {
	t.Helper()
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 262144)
	binary.LittleEndian.PutUint32(h[20:], link)
	if _, err := w.Write(h); err != nil {
		t.Fatal(err)
	}
}

// TestReplaySLL2 converts the Ethernet frames of a random capture into
// Linux cooked v2 frames (what tcpdump -i any writes since libpcap 1.10),
// with the packet type telling the direction: the objects equal those of
// the Ethernet capture, and every flow agrees with tshark's count.
func TestReplaySLL2(t *testing.T) {
	dir := t.TempDir()
	eth := randomPcap(t, dir, 20000, 400)
	sll2 := filepath.Join(dir, "any.pcap")
	f, err := os.Create(sll2)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	writePcapHeader(t, bw, 276)
	w := pcapgo.NewWriter(bw)
	if err := eachFrame(t, eth, func(data []byte, ci gopacket.CaptureInfo) {
		h := make([]byte, 20, 20+len(data))
		copy(h[0:2], data[12:14]) // the EtherType
		binary.BigEndian.PutUint32(h[4:], 3)
		binary.BigEndian.PutUint16(h[8:], 1)
		if [6]byte(data[6:12]) == [6]byte(pcapgen.LocalMAC) {
			h[10] = 4 // outgoing
		}
		h[11] = 6
		copy(h[12:], data[6:12])
		frame := append(h, data[14:]...)
		ci.CaptureLength, ci.Length = len(frame), len(frame)
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	f.Close()

	outEth, outSLL2 := filepath.Join(dir, "eth"), filepath.Join(dir, "sll2")
	_, stEth := replayInto(t, outEth, eth)
	_, st := replayInto(t, outSLL2, sll2)
	if st.IPPackets != stEth.IPPackets || st.Records != stEth.Records || len(st.Objects) != len(stEth.Objects) {
		t.Fatalf("SLL2: %+v\nEthernet: %+v", st, stEth)
	}
	for _, key := range stEth.Objects {
		if a, b := gunzipFile(t, filepath.Join(outEth, key)), gunzipFile(t, filepath.Join(outSLL2, key)); a != b {
			t.Fatalf("%s differs between the Ethernet and the SLL2 capture", key)
		}
	}
	if diff := cmp.Diff(tsharkFlows(t, sll2), objectFlows(t, outSLL2), addrEqual); diff != "" {
		t.Errorf("SLL2 flows differ from tshark's (-tshark +flowlog):\n%s", diff)
	}
}

// TestReplayCutCapture: a capture cut short mid-packet (a killed tcpdump,
// a full disk) is read up to the cut, as tcpdump reads it.
func TestReplayCutCapture(t *testing.T) {
	dir := t.TempDir()
	full := randomPcap(t, dir, 2000, 50)
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)-30], 0o600); err != nil {
		t.Fatal(err)
	}
	// What tcpdump reads of it.
	var want uint64
	if err := eachFrame(t, cut, func([]byte, gopacket.CaptureInfo) { want++ }); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading the cut file: %v", err)
	}
	if want != 1999 {
		t.Fatalf("the cut file has %d whole frames, want 1999", want)
	}
	_, st := replayInto(t, filepath.Join(dir, "out"), cut)
	if st.Frames != want || len(st.Truncated) != 1 || st.Records == 0 {
		t.Fatalf("%+v", st)
	}
	if n := countPackets(t, filepath.Join(dir, "out")); n != want {
		t.Fatalf("%d packets in the records, want %d", n, want)
	}
	// A file cut inside its header is an error, named.
	if err := os.WriteFile(cut, data[:10], 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(replayConfig(t, filepath.Join(dir, "out2")), Deps{Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Replay(t.Context(), []string{cut}, decode.Local{MAC: pcapgen.LocalMAC}); err == nil || !strings.Contains(err.Error(), cut) {
		t.Fatalf("header cut: %v", err)
	}
}

// countPackets sums the packets of every record in a folder of objects.
func countPackets(t *testing.T, dir string) uint64 {
	var n uint64
	for _, c := range objectFlows(t, dir) {
		n += c.Packets
	}
	return n
}

// TestReplayPcapngMixedLinks: a pcapng file with an Ethernet interface and
// a raw IP one (dumpcap -i eth0 -i tun0): the frames of both are read,
// each by its own interface's link type; an interface of a link type
// flowlog does not read is skipped and counted.
func TestReplayPcapngMixedLinks(t *testing.T) {
	dir := t.TempDir()
	eth := randomPcap(t, dir, 6000, 200)
	ng := filepath.Join(dir, "mixed.pcapng")
	f, err := os.Create(ng)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 262144}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	tun, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 262144})
	if err != nil {
		t.Fatal(err)
	}
	fddi, err := w.AddInterface(pcapgo.NgInterface{Name: "fddi0", LinkType: layers.LinkTypeFDDI, SnapLength: 262144})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if err := eachFrame(t, eth, func(data []byte, ci gopacket.CaptureInfo) {
		i++
		switch {
		case i%2 == 0 && [6]byte(data[6:12]) != [6]byte(pcapgen.LocalMAC): // raw IP, ingress by address
			data = data[14:]
			ci.InterfaceIndex = tun
		default:
			ci.InterfaceIndex = 0
		}
		ci.CaptureLength, ci.Length = len(data), len(data)
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 { // a frame nobody reads
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ci.Timestamp, CaptureLength: 21, Length: 21, InterfaceIndex: fddi}, make([]byte, 21)); err != nil {
				t.Fatal(err)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	f.Close()
	out := filepath.Join(dir, "out")
	_, st := replayInto(t, out, ng)
	if st.OtherLinks != 6 || st.Frames != 6006 {
		t.Fatalf("%+v", st)
	}
	if diff := cmp.Diff(tsharkFlows(t, eth), objectFlows(t, out), addrEqual); diff != "" {
		t.Errorf("flows of the mixed pcapng differ from tshark's count of the Ethernet capture (-tshark +flowlog):\n%s", diff)
	}
}

// TestTcpdumpAnyIntegration captures the live test traffic with
// tcpdump -i any (Linux cooked v2 with tcpdump 4.99 and libpcap 1.10) and
// compares the records of that file with tshark's count, flow by flow.
func TestTcpdumpAnyIntegration(t *testing.T) {
	n := setupNet(t)
	tcpdump := requireTool(t, "tcpdump")
	// Under load the kernel can drop some of the capture's packets (tcpdump
	// says so); that is no test of ours: capture again, at most 3 times.
	var pcap, said string
	for attempt := 1; ; attempt++ {
		pcap, said = tcpdumpAny(t, n, tcpdump)
		if strings.Contains("\n"+said, "\n0 packets dropped by kernel") || attempt == 3 {
			break
		}
		t.Logf("attempt %d: tcpdump lost packets, capturing again:\n%s", attempt, said)
	}
	hdr, err := os.ReadFile(pcap)
	if err != nil || len(hdr) < 24 {
		t.Fatalf("capture: %v", err)
	}
	if link := binary.LittleEndian.Uint32(hdr[20:]); link != 276 {
		t.Fatalf("tcpdump wrote link type %d, not Linux cooked v2 (276): is it older than 4.99 with libpcap 1.10?\n%s", link, said)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, st := replayInto(t, out, pcap)
	want := tsharkFlows(t, pcap)
	if len(want) < 5 || st.IPPackets == 0 {
		t.Fatalf("tshark saw %d flows; %+v\n%s", len(want), st, said)
	}
	if diff := cmp.Diff(want, objectFlows(t, out), addrEqual); diff != "" {
		t.Errorf("flows differ from tshark's (-tshark +flowlog):\n%s", diff)
	}
}

// tcpdumpAny captures the test traffic with tcpdump -i any and returns the
// file and what tcpdump said.
func tcpdumpAny(t *testing.T, n *testNet, tcpdump string) (string, string) {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "any.pcap")
	cmd := exec.Command(tcpdump, "-i", "any", "-n", "--immediate-mode", "-U", "-B", "16384", "-Z", "root", "-w", pcap, "host", peerIP)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan bool, 1)
	var said strings.Builder
	saidDone := make(chan struct{})
	go func() {
		defer close(saidDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			said.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "listening on") {
				listening <- true
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("tcpdump did not start")
	}
	n.traffic(t)
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	<-saidDone
	cmd.Wait()
	return pcap, said.String()
}

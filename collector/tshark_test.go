package collector

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlog/flowlog/collector/flowtable"
	"github.com/flowlog/flowlog/internal/pcapgen"
	"github.com/flowlog/flowlog/parser"
)

// requireTool skips a test whose outside tool is missing, unless
// FLOWLOG_REQUIRE_TOOLS=1 (set by CI, which installs them) makes it fail.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("FLOWLOG_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (FLOWLOG_REQUIRE_TOOLS=1): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

// flowCount is what two independent counts must agree on.
type flowCount struct {
	Packets, Bytes uint64
	Start, End     int64
}

// tsharkFlows counts the IP packets of a capture per 5-tuple with tshark,
// reassembly off, ports 0 for protocols without them.
func tsharkFlows(t *testing.T, pcap string) map[flowtable.Key]flowCount {
	t.Helper()
	tshark := requireTool(t, "tshark")
	cmd := exec.Command(tshark, "-r", pcap, "-n",
		"-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-Y", "ip or ipv6", "-T", "fields", "-E", "separator=,", "-E", "occurrence=l",
		"-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
		"-e", "ip.proto", "-e", "ipv6.nxt", "-e", "tcp.srcport", "-e", "udp.srcport", "-e", "tcp.dstport", "-e", "udp.dstport",
		"-e", "ip.len", "-e", "ipv6.plen")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	flows := map[flowtable.Key]flowCount{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		c := strings.Split(sc.Text(), ",")
		if len(c) != 13 {
			t.Fatalf("tshark line %q: %d fields", sc.Text(), len(c))
		}
		or := func(a, b string) string {
			if a != "" {
				return a
			}
			return b
		}
		num := func(s string) uint64 {
			if s == "" {
				return 0
			}
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("tshark line %q: %v", sc.Text(), err)
			}
			return n
		}
		ts, _ := strconv.ParseFloat(c[0], 64)
		k := flowtable.Key{
			Src:      netip.MustParseAddr(or(c[1], c[2])),
			Dst:      netip.MustParseAddr(or(c[3], c[4])),
			Protocol: uint8(num(or(c[5], c[6]))),
			SrcPort:  uint16(num(or(c[7], c[8]))),
			DstPort:  uint16(num(or(c[9], c[10]))),
			Action:   parser.ActionAccept,
		}
		length := num(c[11])
		if c[11] == "" {
			length = num(c[12]) + 40
		}
		sec := int64(math.Floor(ts))
		f, ok := flows[k]
		if !ok {
			f.Start, f.End = sec, sec
		}
		f.Packets++
		f.Bytes += length
		f.Start, f.End = min(f.Start, sec), max(f.End, sec)
		flows[k] = f
	}
	return flows
}

// objectFlows sums the records of every object in dir per key.
func objectFlows(t *testing.T, dir string) map[flowtable.Key]flowCount {
	t.Helper()
	flows := map[flowtable.Key]flowCount{}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.log.gz"))
	if len(paths) == 0 {
		t.Fatalf("no objects in %s", dir)
	}
	eachRecord(t, paths, func(rec *parser.Record) {
		k := flowtable.Key{Src: rec.SrcAddr, Dst: rec.DstAddr, SrcPort: rec.SrcPort, DstPort: rec.DstPort,
			Protocol: rec.Protocol, Action: rec.Action}
		c, ok := flows[k]
		if !ok {
			c.Start, c.End = rec.Start, rec.End
		}
		c.Packets += rec.Packets
		c.Bytes += rec.Bytes
		c.Start, c.End = min(c.Start, rec.Start), max(c.End, rec.End)
		flows[k] = c
	})
	return flows
}

// eachRecord calls fn with every record of the objects at paths.
func eachRecord(t *testing.T, paths []string, fn func(*parser.Record)) {
	t.Helper()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		r := parser.NewReader(f, p, parser.Options{})
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			fn(rec)
		}
		f.Close()
	}
}

// TestTsharkAgreement converts a capture of many flows, spread over several
// windows, and checks every flow's packets, bytes and times against tshark.
func TestTsharkAgreement(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "random.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if err := pcapgen.Random(f, 7, 20000, 500, t0, 25*time.Minute); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := tsharkFlows(t, pcap)

	out := filepath.Join(dir, "out")
	_, st := replayInto(t, out, pcap)
	if len(st.Objects) != 3 {
		t.Errorf("objects = %v, want 3 windows", st.Objects)
	}
	got := objectFlows(t, out)
	if len(want) < 500 {
		t.Fatalf("tshark saw only %d flows", len(want))
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("flows differ from tshark's count (-tshark +flowlog):\n%s", diff)
	}
}

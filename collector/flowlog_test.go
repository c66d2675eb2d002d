package collector

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/collector/decode"
)

type emitted struct {
	key  string
	text string
}

// testFlowLog returns a flow log of 10-minute windows whose objects are
// collected, decompressed, in *out.
func testFlowLog(t *testing.T, mutate func(*FlowLogConfig)) (*flowLog, *[]emitted) {
	t.Helper()
	cfg := replayConfig(t, t.TempDir())
	f := &cfg.FlowLogs[0]
	h := false
	f.Header = &h
	if mutate != nil {
		mutate(f)
	}
	cfg.SetDefaults()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var out []emitted
	emit := func(key string, data []byte) error {
		out = append(out, emitted{key, gunzip(t, data)})
		return nil
	}
	fl, err := newFlowLog(f, "logs", emit, discardLogger(), m.forFlowLog(f.Name))
	if err != nil {
		t.Fatal(err)
	}
	return fl, &out
}

func pkt(src, dst string, sp, dp uint16, length uint32, d decode.Direction) *decode.Packet {
	return &decode.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp,
		Protocol: 17, Length: length, Direction: d}
}

const w0 = int64(1767225600) // a window start

func rec(src, dst string, sp, dp, packets, bytes int, start, end int64, action, status string) string {
	return strings.Join([]string{"2 123456789012 7ffd6527-ce80-4e57-a949-f9a45824ebe2", src, dst,
		itoa(sp), itoa(dp), "17", itoa(packets), itoa(bytes), itoa(int(start)), itoa(int(end)), action, status}, " ") + "\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRejectCountedOnce(t *testing.T) {
	fl, out := testFlowLog(t, nil)
	in := pkt("10.0.0.2", "10.0.0.1", 5000, 9999, 100, decode.Ingress)
	other := pkt("10.0.0.2", "10.0.0.1", 5000, 53, 60, decode.Ingress)
	// Capture first, firewall report second: the ACCEPT packet moves to REJECT.
	fl.packet(in, w0+1)
	fl.rejected(in, w0+1, true)
	// Firewall report first, capture second: the capture's copy is skipped.
	fl.rejected(in, w0+2, true)
	fl.packet(in, w0+2)
	// An accepted packet of another flow stays.
	fl.packet(other, w0+3)
	// A drop on the way out was never captured: REJECT only.
	outDrop := pkt("10.0.0.1", "10.0.0.9", 6000, 9998, 60, decode.Egress)
	fl.rejected(outDrop, w0+4, false)
	fl.finish()
	want := []emitted{{"logs/web-1-1767226200.log.gz",
		rec("10.0.0.2", "10.0.0.1", 5000, 9999, 2, 200, w0+1, w0+2, "REJECT", "OK") +
			rec("10.0.0.2", "10.0.0.1", 5000, 53, 1, 60, w0+3, w0+3, "ACCEPT", "OK") +
			rec("10.0.0.1", "10.0.0.9", 6000, 9998, 1, 60, w0+4, w0+4, "REJECT", "OK")}}
	if diff := cmp.Diff(want, *out, cmp.AllowUnexported(emitted{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestActionAndDirectionFilters(t *testing.T) {
	fl, out := testFlowLog(t, func(f *FlowLogConfig) { f.Action, f.Direction = "rejected", "ingress" })
	fl.packet(pkt("10.0.0.2", "10.0.0.1", 1, 2, 50, decode.Ingress), w0)
	fl.rejected(pkt("10.0.0.2", "10.0.0.1", 1, 3, 50, decode.Ingress), w0, false)
	fl.rejected(pkt("10.0.0.1", "10.0.0.2", 1, 4, 50, decode.Egress), w0, false)
	fl.finish()
	if len(*out) != 1 || (*out)[0].text != rec("10.0.0.2", "10.0.0.1", 1, 3, 1, 50, w0, w0, "REJECT", "OK") {
		t.Errorf("want only the ingress REJECT, got %v", *out)
	}
}

func TestWindows(t *testing.T) {
	fl, out := testFlowLog(t, nil)
	p := pkt("10.0.0.2", "10.0.0.1", 1, 2, 50, decode.Ingress)
	fl.packet(p, w0+599)
	fl.packet(p, w0+600) // next window: the first is written
	if len(*out) != 1 || (*out)[0].key != "logs/web-1-1767226200.log.gz" {
		t.Fatalf("after crossing a window: %v", *out)
	}
	fl.packet(p, w0+10) // late for a written window: counts in the open one
	fl.tick(w0+1201, 2) // not yet: 1 s past the end, grace 2 s
	if len(*out) != 1 {
		t.Fatalf("tick wrote a window before its grace ran out")
	}
	fl.tick(w0+1202, 2)
	if len(*out) != 2 || (*out)[1].text != rec("10.0.0.2", "10.0.0.1", 1, 2, 2, 100, w0+10, w0+600, "ACCEPT", "OK") {
		t.Fatalf("second window: %v", *out)
	}
	fl.tick(w0+3000, 2) // nothing open: nothing written
	// A shutdown in the middle of a window names the object after the
	// shutdown time; the restart's object of the same window does not clash.
	fl.packet(p, w0+3600)
	fl.close(w0 + 3700)
	if len(*out) != 3 || (*out)[2].key != "logs/web-1-1767229300.log.gz" {
		t.Fatalf("shutdown object: %v", (*out)[2:])
	}
	if len(*out) != 3 {
		t.Errorf("empty windows wrote objects: %v", *out)
	}
}

func TestSkipData(t *testing.T) {
	fl, out := testFlowLog(t, func(f *FlowLogConfig) { f.MaxFlows = 1 })
	fl.packet(pkt("10.0.0.2", "10.0.0.1", 1, 2, 50, decode.Ingress), w0)
	fl.packet(pkt("10.0.0.3", "10.0.0.1", 1, 2, 50, decode.Ingress), w0) // table full
	fl.packet(pkt("10.0.0.2", "10.0.0.1", 1, 2, 50, decode.Ingress), w0+700)
	fl.kernelDrops(3) // in the second window
	fl.packet(pkt("10.0.0.2", "10.0.0.1", 1, 2, 50, decode.Ingress), w0+1300)
	fl.kernelDrops(1) // a window that lost everything it saw
	fl.tick(w0+2000, 2)
	fl.kernelDrops(1)
	fl.packet(pkt("10.0.0.2", "10.0.0.1", 1, 2, 50, decode.Ingress), w0+3000)
	fl.table.Remove(fl.table.Flows(nil)[0].Key, 50) // window left with no flows but a drop
	fl.finish()
	want := []string{
		rec("10.0.0.2", "10.0.0.1", 1, 2, 1, 50, w0, w0, "ACCEPT", "SKIPDATA"),
		rec("10.0.0.2", "10.0.0.1", 1, 2, 1, 50, w0+700, w0+700, "ACCEPT", "SKIPDATA"),
		rec("10.0.0.2", "10.0.0.1", 1, 2, 1, 50, w0+1300, w0+1300, "ACCEPT", "SKIPDATA"),
		"2 123456789012 7ffd6527-ce80-4e57-a949-f9a45824ebe2 - - - - - - - 1767228600 1767229200 - SKIPDATA\n",
	}
	var got []string
	for _, o := range *out {
		got = append(got, o.text)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

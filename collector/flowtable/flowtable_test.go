package flowtable

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlog/flowlog/parser"
)

func key(src string, port uint16, a parser.Action) Key {
	return Key{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("10.0.0.1"), SrcPort: port, DstPort: 443, Protocol: 6, Action: a}
}

var addrEq = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestTable(t *testing.T) {
	tb := New(2)
	a, b, c := key("10.0.0.2", 1, parser.ActionAccept), key("10.0.0.3", 1, parser.ActionAccept), key("10.0.0.4", 1, parser.ActionAccept)
	tb.Add(a, 100, 20)
	tb.Add(a, 50, 10)
	tb.Add(b, 60, 5)
	if tb.Add(c, 70, 5) {
		t.Error("third flow fit a table of two")
	}
	tb.Add(c, 70, 6)
	if tb.Lost() != 2 {
		t.Errorf("lost = %d, want 2", tb.Lost())
	}
	if !tb.Add(a, 1, 30) {
		t.Error("a packet of a known flow was refused by a full table")
	}
	want := []Flow{
		{Key: b, Packets: 1, Bytes: 60, Start: 5, End: 5},
		{Key: a, Packets: 3, Bytes: 151, Start: 10, End: 30},
	}
	if diff := cmp.Diff(want, tb.Flows(nil), addrEq); diff != "" {
		t.Errorf("flows (-want +got):\n%s", diff)
	}
	// Remove takes back packets; an emptied flow is not returned.
	if !tb.Remove(b, 60) || tb.Remove(b, 60) || tb.Remove(c, 70) {
		t.Error("Remove: want true once for b, then false; false for an unknown flow")
	}
	if got := tb.Flows(nil); len(got) != 1 || got[0].Key != a {
		t.Errorf("after Remove: %v", got)
	}
	tb.Reset()
	if tb.Len() != 0 || tb.Lost() != 0 || len(tb.Flows(nil)) != 0 {
		t.Error("Reset left flows behind")
	}
}

func TestAddDoesNotAllocate(t *testing.T) {
	tb := New(1024)
	keys := make([]Key, 500)
	for i := range keys {
		keys[i] = Key{Src: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Dst: netip.MustParseAddr("10.0.0.1"), SrcPort: uint16(i)}
	}
	for _, k := range keys {
		tb.Add(k, 1, 1)
	}
	tb.Reset()
	allocs := testing.AllocsPerRun(10, func() {
		for _, k := range keys {
			tb.Add(k, 100, 2)
		}
		tb.Reset()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per window of 500 flows, want 0", allocs)
	}
}

// Package flowtable aggregates packets into flows for one window, in a table
// of fixed capacity: adding a packet never allocates, and a full table counts
// the flows it could not hold instead of growing.
package flowtable

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/flowlog/flowlog/parser"
)

// Key identifies a flow within one flow log.
type Key struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Protocol         uint8
	Action           parser.Action
}

// Flow is one row of the table: what a window saw of one key.
type Flow struct {
	Key
	Packets, Bytes uint64
	Start, End     int64 // unix seconds of the first and last packet
}

// Table holds the flows of one window. It is not safe for concurrent use.
type Table struct {
	index map[Key]int32
	flows []Flow
	max   int
	lost  uint64 // packets of flows that found the table full
}

// New returns a table that holds at most max flows. Its memory grows with
// the busiest window and is then reused, so a quiet interface stays small.
func New(max int) *Table {
	n := min(max, 1024)
	return &Table{index: make(map[Key]int32, n), flows: make([]Flow, 0, n), max: max}
}

// Add counts one packet of length bytes seen at unix second ts. It reports
// false when the packet starts a new flow and the table is full; the packet
// is then counted as lost.
func (t *Table) Add(k Key, bytes uint64, ts int64) bool {
	if i, ok := t.index[k]; ok {
		f := &t.flows[i]
		f.Packets++
		f.Bytes += bytes
		f.Start = min(f.Start, ts)
		f.End = max(f.End, ts)
		return true
	}
	if len(t.flows) == t.max {
		t.lost++
		return false
	}
	t.index[k] = int32(len(t.flows))
	t.flows = append(t.flows, Flow{Key: k, Packets: 1, Bytes: bytes, Start: ts, End: ts})
	return true
}

// Remove takes back one packet of length bytes that Add counted under k. It
// reports false when the flow holds no such packet. A flow left with no
// packets stays in the table but is not returned by Flows.
func (t *Table) Remove(k Key, bytes uint64) bool {
	i, ok := t.index[k]
	if !ok {
		return false
	}
	f := &t.flows[i]
	if f.Packets == 0 || f.Bytes < bytes {
		return false
	}
	f.Packets--
	f.Bytes -= bytes
	return true
}

// Len returns the number of flows in the table, including emptied ones.
func (t *Table) Len() int { return len(t.flows) }

// Lost returns the number of packets that found the table full.
func (t *Table) Lost() uint64 { return t.lost }

// Flows appends the flows with packets to dst, ordered by start time and then
// by key, so that the same traffic always gives the same object.
func (t *Table) Flows(dst []Flow) []Flow {
	n := len(dst)
	for _, f := range t.flows {
		if f.Packets > 0 {
			dst = append(dst, f)
		}
	}
	slices.SortFunc(dst[n:], compare)
	return dst
}

// Reset empties the table for the next window, keeping its memory.
func (t *Table) Reset() {
	clear(t.index)
	t.flows = t.flows[:0]
	t.lost = 0
}

func compare(a, b Flow) int {
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	if c := a.Src.Compare(b.Src); c != 0 {
		return c
	}
	if c := a.Dst.Compare(b.Dst); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if c := cmp.Compare(a.SrcPort, b.SrcPort); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DstPort, b.DstPort); c != 0 {
		return c
	}
	return cmp.Compare(a.Action, b.Action)
}

// Package flowtable aggregates packets into flows for one window, in a table
// of fixed capacity: adding a packet never allocates, and a full table counts
// the flows it could not hold instead of growing.
package flowtable

import (
	"cmp"
	"encoding/binary"
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
//
// Its index is open addressing with linear probing over packed keys (five
// words: both addresses as 16 bytes, ports, protocol, action, family), and
// each flow's key and counters lie together in one entry: a packet costs a
// hash, a slot and an entry, without the pointer chasing of a Go map keyed
// by netip.Addr (the hot spot of the collector's profile).
type Table struct {
	slots   []int32 // index of the entry + 1; 0: empty. Length: a power of two
	entries []entry
	max     int
	lost    uint64 // packets of flows that found the table full
}

// entry is one flow: its packed key and what the window saw of it.
type entry struct {
	k              packedKey
	packets, bytes uint64
	start, end     int64
}

// packedKey is a Key as five words.
type packedKey [5]uint64

// Family bits of a packed key.
const (
	src4 = 1 << iota
	dst4
	srcValid
	dstValid
)

func pack(k *Key) packedKey {
	var p packedKey
	s, d := k.Src.As16(), k.Dst.As16()
	p[0] = binary.LittleEndian.Uint64(s[:8])
	p[1] = binary.LittleEndian.Uint64(s[8:])
	p[2] = binary.LittleEndian.Uint64(d[:8])
	p[3] = binary.LittleEndian.Uint64(d[8:])
	var fam uint64
	if k.Src.Is4() {
		fam |= src4
	}
	if k.Dst.Is4() {
		fam |= dst4
	}
	if k.Src.IsValid() {
		fam |= srcValid
	}
	if k.Dst.IsValid() {
		fam |= dstValid
	}
	p[4] = uint64(k.SrcPort) | uint64(k.DstPort)<<16 | uint64(k.Protocol)<<32 | uint64(k.Action)<<40 | fam<<48
	return p
}

func unpackAddr(hi, lo uint64, is4, valid bool) netip.Addr {
	if !valid {
		return netip.Addr{}
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], hi)
	binary.LittleEndian.PutUint64(b[8:], lo)
	a := netip.AddrFrom16(b)
	if is4 {
		a = a.Unmap()
	}
	return a
}

func (p *packedKey) key() Key {
	fam := p[4] >> 48
	return Key{
		Src:      unpackAddr(p[0], p[1], fam&src4 != 0, fam&srcValid != 0),
		Dst:      unpackAddr(p[2], p[3], fam&dst4 != 0, fam&dstValid != 0),
		SrcPort:  uint16(p[4]),
		DstPort:  uint16(p[4] >> 16),
		Protocol: uint8(p[4] >> 32),
		Action:   parser.Action(p[4] >> 40),
	}
}

func (p *packedKey) hash() uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, w := range p {
		h = (h ^ w) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	return h
}

// New returns a table that holds at most max flows. Its memory grows with
// the busiest window and is then reused, so a quiet interface stays small.
func New(max int) *Table {
	return &Table{slots: make([]int32, 2048), entries: make([]entry, 0, min(max, 1024)), max: max}
}

// find returns the slot of p: the one holding it, or the empty one where
// it would go.
func (t *Table) find(p *packedKey) int {
	mask := len(t.slots) - 1
	i := int(p.hash()) & mask
	for {
		s := t.slots[i]
		if s == 0 {
			return i
		}
		// word by word: an array == calls memequal
		if k := &t.entries[s-1].k; k[0] == p[0] && k[1] == p[1] && k[2] == p[2] && k[3] == p[3] && k[4] == p[4] {
			return i
		}
		i = (i + 1) & mask
	}
}

// grow doubles the index when it is half full.
func (t *Table) grow() {
	t.slots = make([]int32, 2*len(t.slots))
	mask := len(t.slots) - 1
	for j := range t.entries {
		i := int(t.entries[j].k.hash()) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = int32(j + 1)
	}
}

// Add counts one packet of length bytes seen at unix second ts. It reports
// false when the packet starts a new flow and the table is full; the packet
// is then counted as lost.
func (t *Table) Add(k Key, bytes uint64, ts int64) bool {
	p := pack(&k)
	slot := t.find(&p)
	if s := t.slots[slot]; s != 0 {
		e := &t.entries[s-1]
		e.packets++
		e.bytes += bytes
		e.start = min(e.start, ts)
		e.end = max(e.end, ts)
		return true
	}
	if len(t.entries) == t.max {
		t.lost++
		return false
	}
	t.entries = append(t.entries, entry{k: p, packets: 1, bytes: bytes, start: ts, end: ts})
	t.slots[slot] = int32(len(t.entries))
	if 2*len(t.entries) > len(t.slots) {
		t.grow()
	}
	return true
}

// Remove takes back one packet of length bytes that Add counted under k. It
// reports false when the flow holds no such packet. A flow left with no
// packets stays in the table but is not returned by Flows.
func (t *Table) Remove(k Key, bytes uint64) bool {
	p := pack(&k)
	s := t.slots[t.find(&p)]
	if s == 0 {
		return false
	}
	e := &t.entries[s-1]
	if e.packets == 0 || e.bytes < bytes {
		return false
	}
	e.packets--
	e.bytes -= bytes
	return true
}

// Len returns the number of flows in the table, including emptied ones.
func (t *Table) Len() int { return len(t.entries) }

// Lost returns the number of packets that found the table full.
func (t *Table) Lost() uint64 { return t.lost }

// Flows appends the flows with packets to dst, ordered by start time and then
// by key, so that the same traffic always gives the same object.
func (t *Table) Flows(dst []Flow) []Flow {
	n := len(dst)
	for i := range t.entries {
		if e := &t.entries[i]; e.packets > 0 {
			dst = append(dst, Flow{Key: e.k.key(), Packets: e.packets, Bytes: e.bytes, Start: e.start, End: e.end})
		}
	}
	slices.SortFunc(dst[n:], compare)
	return dst
}

// Reset empties the table for the next window, keeping its memory.
func (t *Table) Reset() {
	clear(t.slots)
	t.entries = t.entries[:0]
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

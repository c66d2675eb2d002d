package loki

import (
	"math/bits"

	"github.com/grafana/loki/pkg/push"
)

// appendPush appends req in protobuf's wire format, the bytes
// req.Marshal() makes (a test holds them equal), in one pass over sizes
// and one over bytes: gogo's generated code sizes every entry twice and
// converts every timestamp twice, a third of the cost of a push. sizes is
// scratch space, returned for reuse.
func appendPush(dst []byte, req *push.PushRequest, sizes []int) ([]byte, []int) {
	sizes = sizes[:0]
	// Sizes first: an entry's, then its stream's, in walk order.
	for i := range req.Streams {
		s := &req.Streams[i]
		n := 0
		if len(s.Labels) > 0 {
			n += 1 + sov(len(s.Labels)) + len(s.Labels)
		}
		si := len(sizes)
		sizes = append(sizes, 0)
		for j := range s.Entries {
			es := entrySize(&s.Entries[j])
			sizes = append(sizes, es)
			n += 1 + sov(es) + es
		}
		if s.Hash != 0 {
			n += 1 + sovU(s.Hash)
		}
		sizes[si] = n
	}
	k := 0
	for i := range req.Streams {
		s := &req.Streams[i]
		dst = append(dst, 0x0a)
		dst = appendVarint(dst, uint64(sizes[k]))
		k++
		if len(s.Labels) > 0 {
			dst = appendString(dst, 0x0a, s.Labels)
		}
		for j := range s.Entries {
			e := &s.Entries[j]
			dst = append(dst, 0x12)
			dst = appendVarint(dst, uint64(sizes[k]))
			k++
			sec, nanos := e.Timestamp.Unix(), int64(e.Timestamp.Nanosecond())
			dst = append(dst, 0x0a)
			dst = appendVarint(dst, uint64(timestampSize(sec, nanos)))
			if sec != 0 {
				dst = append(dst, 0x08)
				dst = appendVarint(dst, uint64(sec))
			}
			if nanos != 0 {
				dst = append(dst, 0x10)
				dst = appendVarint(dst, uint64(nanos))
			}
			if len(e.Line) > 0 {
				dst = appendString(dst, 0x12, e.Line)
			}
			for _, l := range e.StructuredMetadata {
				dst = append(dst, 0x1a)
				dst = appendVarint(dst, uint64(labelSize(l)))
				if len(l.Name) > 0 {
					dst = appendString(dst, 0x0a, l.Name)
				}
				if len(l.Value) > 0 {
					dst = appendString(dst, 0x12, l.Value)
				}
			}
		}
		if s.Hash != 0 {
			dst = append(dst, 0x18)
			dst = appendVarint(dst, s.Hash)
		}
	}
	return dst, sizes
}

func entrySize(e *push.Entry) int {
	sec, nanos := e.Timestamp.Unix(), int64(e.Timestamp.Nanosecond())
	ts := timestampSize(sec, nanos)
	n := 1 + sov(ts) + ts
	if len(e.Line) > 0 {
		n += 1 + sov(len(e.Line)) + len(e.Line)
	}
	for _, l := range e.StructuredMetadata {
		ls := labelSize(l)
		n += 1 + sov(ls) + ls
	}
	return n
}

func timestampSize(sec, nanos int64) int {
	n := 0
	if sec != 0 {
		n += 1 + sovU(uint64(sec))
	}
	if nanos != 0 {
		n += 1 + sovU(uint64(nanos))
	}
	return n
}

func labelSize(l push.LabelAdapter) int {
	n := 0
	if len(l.Name) > 0 {
		n += 1 + sov(len(l.Name)) + len(l.Name)
	}
	if len(l.Value) > 0 {
		n += 1 + sov(len(l.Value)) + len(l.Value)
	}
	return n
}

func appendString(dst []byte, tag byte, s string) []byte {
	dst = append(dst, tag)
	dst = appendVarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendVarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func sov(n int) int     { return sovU(uint64(n)) }
func sovU(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// Package capture reads packets: from pcap and pcapng files, from live
// interfaces through AF_PACKET (TPACKET_V3), and the packets the host
// firewall drops through NFLOG.
package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// zeroCopyReader is what pcapgo's pcap and pcapng readers share.
type zeroCopyReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// File reads a pcap or pcapng file.
type File struct {
	f    *os.File
	r    zeroCopyReader
	mm   *mmapPcap // the pcap file mapped, when it could be
	name string
	link uint16 // pcap: the file's link type, read from its header
	ng   bool   // pcapng: each packet has its interface's link type
}

// linkSLL2 is Linux cooked v2, which gopacket's 8-bit link types hold as
// 276 & 0xff = 20 (a value no link type has).
const linkSLL2, linkSLL2Truncated = 276, 20

// OpenFile opens a capture file; the format is recognized by its magic number.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a capture file: %w", path, errShort(err))
	}
	c := &File{f: f, name: path}
	if magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a {
		// Mixed link types: without it pcapgo skips, silently, the packets
		// of every interface whose link type is not the first's.
		c.ng = true
		c.r, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	} else {
		// pcapgo keeps 8 bits of the link type: read it from the header.
		hdr, perr := br.Peek(24)
		if perr == nil {
			c.link = pcapLinkType(hdr)
		}
		if c.mm = openMmapPcap(f); c.mm != nil {
			c.r = c.mm
		} else {
			c.r, err = pcapgo.NewReader(br)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", path, errShort(err))
	}
	return c, nil
}

// pcapLinkType reads the link type of a pcap file header (its low 16 bits;
// the upper ones say whether frames end with an FCS).
func pcapLinkType(hdr []byte) uint16 {
	order, _, ok := pcapFormat(hdr)
	if !ok {
		return 0 // pcapgo refuses the file
	}
	return uint16(order.Uint32(hdr[20:]))
}

// pcapFormat reads a pcap file's magic number: the byte order of its
// fields and whether timestamps are in nanoseconds.
func pcapFormat(hdr []byte) (order binary.ByteOrder, nano, ok bool) {
	switch binary.LittleEndian.Uint32(hdr) {
	case 0xa1b2c3d4:
		return binary.LittleEndian, false, true
	case 0xa1b23c4d:
		return binary.LittleEndian, true, true
	case 0xd4c3b2a1:
		return binary.BigEndian, false, true
	case 0x4d3cb2a1:
		return binary.BigEndian, true, true
	}
	return nil, false, false
}

func errShort(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Mixed says whether the file's frames may have different link types
// (pcapng: one per interface).
func (c *File) Mixed() bool { return c.ng }

// ReadPacket returns the next frame, valid until the next call, and its
// link type (LINKTYPE_*: pcapng interfaces may differ), or io.EOF. A file
// cut short mid-packet ends with io.ErrUnexpectedEOF.
func (c *File) ReadPacket() ([]byte, gopacket.CaptureInfo, uint16, error) {
	data, ci, err := c.r.ZeroCopyReadPacketData()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			err = fmt.Errorf("%s: %w", c.name, err)
		}
		return nil, ci, 0, err
	}
	link := c.link
	if c.ng && len(ci.AncillaryData) > 0 {
		lt, _ := ci.AncillaryData[0].(layers.LinkType)
		if link = uint16(lt); link == linkSLL2Truncated {
			link = linkSLL2
		}
	}
	return data, ci, link, nil
}

// Close closes the file; the frames it handed out are no longer valid.
func (c *File) Close() error {
	if c.mm != nil {
		c.mm.close()
	}
	return c.f.Close()
}

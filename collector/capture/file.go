// Package capture reads packets: from pcap and pcapng files, from live
// interfaces through AF_PACKET (TPACKET_V3), and the packets the host
// firewall drops through NFLOG.
package capture

import (
	"bufio"
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
	LinkType() layers.LinkType
}

// File reads a pcap or pcapng file.
type File struct {
	f    *os.File
	r    zeroCopyReader
	name string
}

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
	var r zeroCopyReader
	if magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a {
		r, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		r, err = pcapgo.NewReader(br)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", path, err)
	}
	return &File{f: f, r: r, name: path}, nil
}

func errShort(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// LinkType returns the link type of the file's frames.
func (c *File) LinkType() layers.LinkType { return c.r.LinkType() }

// ReadPacket returns the next frame, valid until the next call, or io.EOF.
// A file cut short mid-packet ends with io.ErrUnexpectedEOF.
func (c *File) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := c.r.ZeroCopyReadPacketData()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, ci, fmt.Errorf("%s: %w", c.name, err)
	}
	return data, ci, err
}

// Close closes the file.
func (c *File) Close() error { return c.f.Close() }

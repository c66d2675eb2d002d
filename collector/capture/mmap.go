package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/google/gopacket"
)

// mmapPcap reads a pcap file mapped into memory: frames are handed out
// where they lie, without the copy of read(2) and bufio that pcapgo's
// reader makes (a third of the time of converting a large capture).
type mmapPcap struct {
	data     []byte
	off      int
	released int // data[:released] is unmapped again
	order    binary.ByteOrder
	nano     bool // timestamps in nanoseconds
}

// releaseEvery is how far reading goes before the pages behind it are
// released (MADV_DONTNEED): they stay in the page cache, but the process's
// resident size stays small however large the file.
const releaseEvery = 64 << 20

// maxFrame bounds a frame's captured length: a larger one is a corrupt
// file, not a packet (pcapgo refuses them too).
const maxFrame = 1 << 20

// openMmapPcap maps f when it is a regular pcap file; nil when it cannot
// be (a pipe, pcapng, an empty file): the caller reads it with pcapgo.
func openMmapPcap(f *os.File) *mmapPcap {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < 24 || fi.Size() > 1<<40 {
		return nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	syscall.Madvise(data, syscall.MADV_SEQUENTIAL)
	order, nano, ok := pcapFormat(data)
	if !ok {
		syscall.Munmap(data)
		return nil
	}
	return &mmapPcap{data: data, off: 24, order: order, nano: nano}
}

// ZeroCopyReadPacketData returns the next frame, valid until the file is
// closed; io.ErrUnexpectedEOF when the file ends inside a record.
func (r *mmapPcap) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	rest := r.data[r.off:]
	if len(rest) == 0 {
		return nil, ci, io.EOF
	}
	if len(rest) < 16 {
		return nil, ci, io.ErrUnexpectedEOF
	}
	sec, frac := r.order.Uint32(rest), r.order.Uint32(rest[4:])
	caplen, length := r.order.Uint32(rest[8:]), r.order.Uint32(rest[12:])
	if caplen > maxFrame {
		return nil, ci, fmt.Errorf("frame at byte %d: captured length %d is not a frame's (corrupt file)", r.off, caplen)
	}
	if uint64(len(rest)-16) < uint64(caplen) {
		return nil, ci, io.ErrUnexpectedEOF
	}
	if !r.nano {
		frac *= 1000
	}
	ci.Timestamp = time.Unix(int64(sec), int64(frac))
	ci.CaptureLength, ci.Length = int(caplen), int(length)
	frame := rest[16 : 16+caplen : 16+caplen]
	if r.off-r.released > releaseEvery {
		// Frames are valid until the next call: release what lies before
		// this one, at a page boundary.
		upTo := r.off &^ (os.Getpagesize() - 1)
		syscall.Madvise(r.data[r.released:upTo], syscall.MADV_DONTNEED)
		r.released = upTo
	}
	r.off += 16 + int(caplen)
	return frame, ci, nil
}

func (r *mmapPcap) close() {
	if r.data != nil {
		syscall.Munmap(r.data)
		r.data = nil
	}
}

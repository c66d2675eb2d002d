package capture

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/afpacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

// ErrTimeout is returned by Live.ReadPacket when no packet came within the
// poll timeout, so the caller can check for shutdown.
var ErrTimeout = afpacket.ErrTimeout

// LiveConfig sizes the capture ring.
type LiveConfig struct {
	Snaplen     int           // bytes kept of each frame; headers are all a flow needs
	BlockSize   int           // bytes per ring block, a multiple of the page size
	NumBlocks   int           // blocks in the ring
	BlockTimout time.Duration // a partly filled block is handed over after this
	PollTimeout time.Duration // ReadPacket returns ErrTimeout after this
}

// DefaultLiveConfig keeps 256 bytes of each frame in a 32 MiB ring.
func DefaultLiveConfig() LiveConfig {
	return LiveConfig{Snaplen: 256, BlockSize: 1 << 20, NumBlocks: 32,
		BlockTimout: 50 * time.Millisecond, PollTimeout: 200 * time.Millisecond}
}

// Live captures the frames of one interface through an AF_PACKET TPACKET_V3 ring.
type Live struct {
	tp        *afpacket.TPacket
	iface     string
	link      layers.LinkType
	lastDrops uint64
}

// OpenLive starts capturing on interface name. It needs CAP_NET_RAW.
func OpenLive(name string, cfg LiveConfig) (*Live, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", name, err)
	}
	link := layers.LinkTypeEthernet
	if len(ifi.HardwareAddr) == 0 {
		link = layers.LinkTypeRaw // tun and other devices without a link header
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(name),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(2048),
		afpacket.OptBlockSize(cfg.BlockSize),
		afpacket.OptNumBlocks(cfg.NumBlocks),
		afpacket.OptBlockTimeout(cfg.BlockTimout),
		afpacket.OptPollTimeout(cfg.PollTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("capture on %s (needs CAP_NET_RAW): %w", name, err)
	}
	// Keep only the headers: a one-instruction filter that accepts every
	// frame, cut to the snap length.
	prog, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: uint32(cfg.Snaplen)}})
	if err == nil {
		err = tp.SetBPF(prog)
	}
	if err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture on %s: snap length filter: %w", name, err)
	}
	if err := tp.InitSocketStats(); err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture on %s: statistics: %w", name, err)
	}
	return &Live{tp: tp, iface: name, link: link}, nil
}

// LinkType returns the link type of the interface's frames.
func (l *Live) LinkType() layers.LinkType { return l.link }

// ReadPacket returns the next frame, valid until the next call, or ErrTimeout.
func (l *Live) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := l.tp.ZeroCopyReadPacketData()
	if err != nil && !errors.Is(err, afpacket.ErrTimeout) {
		err = fmt.Errorf("capture on %s: %w", l.iface, err)
	}
	return data, ci, err
}

// Drops returns the packets the kernel dropped since the last call because
// the ring was full.
func (l *Live) Drops() (uint64, error) {
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return 0, fmt.Errorf("capture on %s: statistics: %w", l.iface, err)
	}
	total := uint64(v3.Drops())
	d := total - l.lastDrops
	l.lastDrops = total
	return d, nil
}

// Close stops the capture.
func (l *Live) Close() error {
	l.tp.Close()
	return nil
}

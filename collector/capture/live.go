package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
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

// Live captures the frames one interface receives, or those it sends,
// through an AF_PACKET TPACKET_V3 ring.
//
// gopacket's ring reader does not hand out the packet type the kernel
// reports, so the direction is chosen in the kernel instead: a socket filter
// keeps only received frames (Outgoing false) or only sent ones (true).
type Live struct {
	tp        *afpacket.TPacket
	iface     string
	link      layers.LinkType
	outgoing  bool
	lastDrops uint64
}

// packetOutgoing is the kernel's PACKET_OUTGOING packet type.
const packetOutgoing = 4

// OpenLive starts capturing what interface name receives (outgoing false)
// or sends (outgoing true). It needs CAP_NET_RAW.
func OpenLive(name string, outgoing bool, cfg LiveConfig) (*Live, error) {
	link, err := linkType(name)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", name, err)
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
	// Keep the frames of one direction, cut to the snap length: the
	// headers are all a flow needs.
	keep, drop := uint8(1), uint8(0) // jumps for "packet type is outgoing"
	if !outgoing {
		keep, drop = 0, 1
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: drop, SkipFalse: keep},
		bpf.RetConstant{Val: uint32(cfg.Snaplen)},
		bpf.RetConstant{Val: 0},
	})
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
	return &Live{tp: tp, iface: name, link: link, outgoing: outgoing}, nil
}

// LinkType returns the link type of the interface's frames.
func (l *Live) LinkType() layers.LinkType { return l.link }

// Outgoing reports whether the capture holds the frames the interface sends.
func (l *Live) Outgoing() bool { return l.outgoing }

// linkType reads the interface's hardware type (ARPHRD_*) from sysfs.
func linkType(name string) (layers.LinkType, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		if _, ierr := net.InterfaceByName(name); ierr != nil {
			return 0, ierr
		}
		return 0, fmt.Errorf("hardware type: %w", err)
	}
	switch t := strings.TrimSpace(string(b)); t {
	case "1", "772": // Ethernet, loopback (which has an Ethernet header)
		return layers.LinkTypeEthernet, nil
	case "65534", "778", "768", "769", "776": // none (tun, WireGuard), IP-in-GRE, IPIP, IPv6-in-IPv6, SIT
		return layers.LinkTypeRaw, nil
	default:
		return 0, fmt.Errorf("hardware type %s is not supported: Ethernet, loopback and IP tunnels are", t)
	}
}

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

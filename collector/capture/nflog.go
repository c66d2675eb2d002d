package capture

import (
	"context"
	"errors"
	"fmt"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Drop is a packet the firewall dropped, as its log rule reported it.
type Drop struct {
	Packet []byte    // the IP packet, cut to the copy size; valid during the callback
	Time   time.Time // when the kernel received it (ingress) or now (egress)
	InDev  uint32    // interface index it arrived on, 0 if it was sent by the host
	OutDev uint32    // interface index it was leaving through, 0 if unknown
}

// NFLOGCopy is the number of bytes of each dropped packet copied from the
// kernel: enough for IP and transport headers.
const NFLOGCopy = 256

// ListenNFLOG receives the packets that firewall rules log to group (nftables
// "log group N", iptables "-j NFLOG --nflog-group N") and calls fn for each,
// until ctx ends. When the kernel had to discard messages because the
// socket buffer was full, overflow is called. It needs CAP_NET_ADMIN. Only
// one process can listen on a group.
func ListenNFLOG(ctx context.Context, group uint16, fn func(Drop), overflow func()) error {
	nf, err := nflog.Open(&nflog.Config{
		Group:    group,
		Copymode: nflog.CopyPacket,
		Bufsize:  NFLOGCopy,
		// The kernel batches log messages for up to a second by default;
		// hand them over within 100 ms or after 64 packets.
		Timeout: 10,
		QThresh: 64,
	})
	if err != nil {
		return fmt.Errorf("NFLOG group %d (needs CAP_NET_ADMIN): %w", group, err)
	}
	defer nf.Close()
	failed := make(chan error, 1)
	hook := func(a nflog.Attribute) int {
		if a.Payload == nil {
			return 0
		}
		d := Drop{Packet: *a.Payload}
		if a.Timestamp != nil {
			d.Time = *a.Timestamp
		} else {
			d.Time = time.Now()
		}
		if a.InDev != nil {
			d.InDev = *a.InDev
		}
		if a.OutDev != nil {
			d.OutDev = *a.OutDev
		}
		fn(d)
		return 0
	}
	onError := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		if errors.Is(err, unix.ENOBUFS) {
			overflow()
			return 0
		}
		var op *netlink.OpError
		if errors.As(err, &op) && op.Timeout() {
			return 0
		}
		select {
		case failed <- err:
		default:
		}
		return 1
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, onError); err != nil {
		return fmt.Errorf("NFLOG group %d: %w", group, err)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return fmt.Errorf("NFLOG group %d: %w", group, err)
	}
}

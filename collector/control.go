package collector

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
)

// ErrNotRunning is returned by the control methods while Run does not run.
var ErrNotRunning = errors.New("the collector is not running")

// ask sends a request to the supervisor and waits for its answer.
func (c *Collector) ask(ctx context.Context, op, name string) ([]FlowLogStatus, error) {
	if !c.running.Load() {
		return nil, ErrNotRunning
	}
	req := ctlRequest{op: op, name: name, reply: make(chan ctlReply, 1)}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case c.ctl <- req:
	case <-ctx.Done():
		return nil, ErrNotRunning
	}
	select {
	case r := <-req.reply:
		return r.status, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Status lists the flow logs, their state, interfaces and counters.
func (c *Collector) Status(ctx context.Context) ([]FlowLogStatus, error) {
	return c.ask(ctx, "status", "")
}

// Suspend stops flow log name from capturing, after writing its open
// windows; the state survives a restart.
func (c *Collector) Suspend(ctx context.Context, name string) ([]FlowLogStatus, error) {
	return c.ask(ctx, "suspend", name)
}

// Resume starts a suspended flow log again.
func (c *Collector) Resume(ctx context.Context, name string) ([]FlowLogStatus, error) {
	return c.ask(ctx, "resume", name)
}

// Reload reads the configuration again (what SIGHUP does); an invalid file
// is refused and the running configuration kept.
func (c *Collector) Reload(ctx context.Context) ([]FlowLogStatus, error) {
	return c.ask(ctx, "reload", "")
}

// counterValue reads a Prometheus counter.
func counterValue(c prometheus.Counter) uint64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return uint64(m.GetCounter().GetValue())
}

// watchLinks signals events whenever an interface or an address appears,
// changes or goes (rtnetlink multicast groups), until ctx ends. Without
// netlink the periodic reconcile still finds the changes.
func watchLinks(ctx context.Context, events chan<- struct{}, log *slog.Logger) {
	conn, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR,
	})
	if err != nil {
		log.Warn("cannot watch interfaces through netlink; changes are found every 10 s", "err", err)
		return
	}
	defer conn.Close()
	for ctx.Err() == nil {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		msgs, err := conn.Receive()
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if ctx.Err() == nil {
				log.Warn("watching interfaces", "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		if len(msgs) > 0 {
			select {
			case events <- struct{}{}:
			default:
			}
		}
	}
}

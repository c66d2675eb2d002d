package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/flowlog/flowlog/collector/capture"
	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/collector/spool"
	"github.com/flowlog/flowlog/internal/objstore"
)

// ReplayStats says what a replay read and wrote.
type ReplayStats struct {
	Frames       uint64   // frames read from the files
	IPPackets    uint64   // frames that carried an IP packet
	NonIP        uint64   // ARP, LLDP and other frames without IP
	DecodeErrors uint64   // frames whose IP header could not be read
	OtherLinks   uint64   // frames of an interface whose link type is not read (pcapng)
	Truncated    []string // files cut short mid-packet: read up to the cut
	Objects      []string // keys written, in order
	Records      uint64
}

// Replay converts capture files into flow-log objects as fast as it can:
// windows follow the packets' own times, every window with traffic is
// written, and the call returns once every object is in the target.
//
// cfg describes the flow log (its interface is only a label here); local
// tells the direction of frames that do not carry it. Objects pass through
// the configured spool like those of a live capture.
func (c *Collector) Replay(ctx context.Context, files []string, local decode.Local) (ReplayStats, error) {
	var st ReplayStats
	if len(c.cfg.FlowLogs) != 1 {
		return st, errors.New("replay: exactly one flow log")
	}
	cfg := &c.cfg.FlowLogs[0]
	sp, err := spool.Open(c.cfg.Spool.Dir, int64(c.cfg.Spool.MaxSize))
	if err != nil {
		return st, err
	}
	loc, _ := objstore.ParseLocation(cfg.Target.URL)
	store, err := objstore.Open(ctx, loc, cfg.Target.S3Config)
	if err != nil {
		return st, fmt.Errorf("target: %w", err)
	}
	m := c.m.forFlowLog(cfg.Name)
	log := c.log.With("flow_log", cfg.Name)
	up := spool.NewUploader(sp, cfg.Name, store, spool.Backoff{Min: c.cfg.Upload.RetryMin, Max: c.cfg.Upload.RetryMax},
		spool.UploaderDeps{Logger: log, Uploads: m.uploads, Retries: m.retries, Permanent: m.permanent, GiveUpAfter: giveUpAfter})
	var emitErr error
	emit := func(key string, data []byte) error {
		if err := sp.Write(cfg.Name, key, data); err != nil {
			emitErr = errors.Join(emitErr, err)
			return err
		}
		st.Objects = append(st.Objects, key)
		return nil
	}
	fl, err := newFlowLog(cfg, loc.Prefix, emit, log, m)
	if err != nil {
		return st, err
	}
	for _, path := range files {
		if err := replayFile(ctx, path, local, fl, log, &st); err != nil {
			return st, err
		}
	}
	fl.finish()
	st.Records = fl.written
	if emitErr != nil {
		return st, emitErr
	}
	left, err := up.Drain(ctx)
	if left > 0 {
		var keys []string
		for _, e := range sp.Pending(cfg.Name) {
			keys = append(keys, e.Key)
		}
		why := context.Cause(ctx)
		if err != nil {
			why = err
		}
		return st, &NotUploadedError{Target: store.String(), Spool: c.cfg.Spool.Dir, Keys: keys, Err: why}
	}
	return st, nil
}

// giveUpAfter is how many attempts in a row a one-shot conversion makes
// when the target refuses for a reason retrying cannot cure.
const giveUpAfter = 3

// NotUploadedError is a conversion whose objects stay in the spool.
type NotUploadedError struct {
	Target string
	Spool  string   // the folder they are in
	Keys   []string // the objects, in order
	Err    error
}

func (e *NotUploadedError) Error() string {
	return fmt.Sprintf("%d objects not uploaded to %s: %v; they stay in the spool %s", len(e.Keys), e.Target, e.Err, e.Spool)
}

func (e *NotUploadedError) Unwrap() error { return e.Err }

// replayFile feeds the frames of one capture file. Each frame is decoded by
// its own link type (a pcapng file may mix them); a file cut short
// mid-packet (a killed tcpdump, a full disk) keeps every packet before the
// cut, as tcpdump does.
func replayFile(ctx context.Context, path string, local decode.Local, fl *flowLog, log *slog.Logger, st *ReplayStats) error {
	src, err := capture.OpenFile(path)
	if err != nil {
		return err
	}
	defer src.Close()
	decs := map[uint16]*decode.Decoder{}
	unsupported := map[uint16]bool{}
	f := newFeeder(nil, fl)
	defer func() {
		st.IPPackets += f.ip
		st.NonIP += f.nonIP
		st.DecodeErrors += f.bad
	}()
	cur := uint16(0xffff) // the link type of f.dec
	for i := 0; ; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		data, ci, link, err := src.ReadPacket()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			log.Warn("capture file cut short mid-packet: the packets before the cut are read", "file", path, "packets", st.Frames)
			st.Truncated = append(st.Truncated, path)
			break
		}
		if err != nil {
			return err
		}
		st.Frames++
		if link != cur {
			dec, ok := decs[link]
			if !ok && !unsupported[link] {
				if dec, err = decode.New(decode.Link(link), local); err != nil {
					if !src.Mixed() {
						return fmt.Errorf("%s: %w", path, err)
					}
					log.Warn("frames of an interface of this link type are skipped", "file", path, "err", err)
					unsupported[link] = true
				} else {
					decs[link] = dec
				}
			}
			if dec == nil {
				st.OtherLinks++
				continue
			}
			f.dec, cur = dec, link
		}
		f.frame(data, ci)
	}
	if st.Frames == 0 && len(unsupported) > 0 {
		return fmt.Errorf("%s: no interface has a link type flowlog reads (Ethernet, Linux cooked capture v1 or v2, raw IP)", path)
	}
	return nil
}

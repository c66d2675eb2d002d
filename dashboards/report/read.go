package report

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/format"
	"github.com/flowlog/flowlog/parser"
)

// Reader reads flow-log objects (v2 text or IBM JSON, gzip or not, told
// by content) and the exporter's NDJSON output (files ending in .ndjson or
// .ndjson.gz: ECS documents, in either target's shape) into a Summary.
type Reader struct {
	S        *Summary
	Fill     *enrich.Filler // for the country of v2 records; nil: none
	Limits   parser.Options
	Files    int
	Rejected int      // lines that could not be read
	Errors   []string // files that could not be read, and the first rejected lines

	detect *format.Detector
	values enrich.Values
	flow   Flow
}

const maxNotes = 10

func (r *Reader) note(format string, a ...any) {
	if len(r.Errors) < maxNotes {
		r.Errors = append(r.Errors, fmt.Sprintf(format, a...))
	}
}

// Read reads a file, or every file under a folder (in name order).
func (r *Reader) Read(path string) error {
	if r.detect == nil {
		r.detect = format.NewDetector(nil, r.Limits)
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		r.readFile(path)
		return nil
	}
	var names []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		r.readFile(n)
	}
	return nil
}

func (r *Reader) readFile(name string) {
	f, err := os.Open(name)
	if err != nil {
		r.note("%v", err)
		return
	}
	defer f.Close()
	r.Files++
	base := strings.TrimSuffix(name, ".gz")
	if strings.HasSuffix(base, ".ndjson") || strings.HasSuffix(base, ".json.log") {
		err = r.readNDJSON(f, name)
	} else {
		err = r.readObject(f, name)
	}
	if err != nil {
		r.note("%s: %v (the records before were counted)", name, err)
	}
}

func (r *Reader) readObject(src io.Reader, name string) error {
	br := bufio.NewReaderSize(src, 64<<10)
	head, _ := br.Peek(4 << 10)
	rd := r.detect.Reader(head)
	rd.Reset(br, name)
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var le *parser.LineError
		if errors.As(err, &le) {
			r.Rejected++
			r.note("%s:%d: %s", name, le.Line, le.Detail())
			continue
		}
		if err != nil {
			return err
		}
		r.addRecord(rec)
	}
}

func (r *Reader) addRecord(rec *parser.Record) {
	f := &r.flow
	*f = Flow{Start: rec.Start, End: rec.End, Iface: string(rec.InterfaceID),
		Src: rec.SrcAddr, Dst: rec.DstAddr, SrcPort: rec.SrcPort, DstPort: rec.DstPort, Proto: rec.Protocol,
		Packets: rec.Packets, Bytes: rec.Bytes, Rejected: rec.Action == parser.ActionReject, Status: rec.LogStatus.String()}
	if r.Fill != nil && f.Status == "OK" {
		r.Fill.Fill(&r.values, rec)
		if r.values.Src != nil {
			f.SrcCountry = r.values.Src.CountryISOCode
		}
	}
	r.S.Add(f)
}

// ecsDoc is what the report reads of an ECS document, in the flowlog
// target's shape or Elastic's AWS integration's.
type ecsDoc struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Start, End, Action string
	} `json:"event"`
	Source struct {
		IP   string `json:"ip"`
		Port uint16 `json:"port"`
		Geo  struct {
			Country string `json:"country_iso_code"`
		} `json:"geo"`
	} `json:"source"`
	Destination struct {
		IP   string `json:"ip"`
		Port uint16 `json:"port"`
	} `json:"destination"`
	Network struct {
		Bytes   uint64 `json:"bytes"`
		Packets uint64 `json:"packets"`
		IANA    string `json:"iana_number"`
	} `json:"network"`
	Cloud struct {
		Account struct {
			ID string `json:"id"`
		} `json:"account"`
	} `json:"cloud"`
	Flowlog struct {
		InterfaceID string `json:"interface_id"`
		LogStatus   string `json:"log_status"`
	} `json:"flowlog"`
	AWS struct {
		VPCFlow struct {
			InterfaceID string `json:"interface_id"`
			LogStatus   string `json:"log_status"`
			Action      string `json:"action"`
		} `json:"vpcflow"`
	} `json:"aws"`
}

// maxDocBytes is the longest document line read.
const maxDocBytes = 1 << 20

func (r *Reader) readNDJSON(src io.Reader, name string) error {
	br := bufio.NewReaderSize(src, 64<<10)
	var limited *io.LimitedReader
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		limited = &io.LimitedReader{R: zr, N: r.maxBytes() + 1}
		br = bufio.NewReaderSize(limited, 64<<10)
	}
	var long []byte
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it up to the limit, drop the rest.
			long = append(long[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				if len(long) <= maxDocBytes {
					long = append(long, b...)
				}
			}
			b = long
		}
		if len(b) > maxDocBytes {
			r.Rejected++
			r.note("%s:%d: longer than %d bytes", name, line, maxDocBytes)
		} else if b = bytes.TrimSpace(b); len(b) > 0 {
			r.addDoc(b, name, line)
		}
		if err == io.EOF && limited != nil && limited.N == 0 {
			return fmt.Errorf("stopped after %d decompressed bytes (--max-bytes)", r.maxBytes())
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *Reader) addDoc(b []byte, name string, line int) {
	var d ecsDoc
	if err := json.Unmarshal(b, &d); err != nil {
		r.Rejected++
		r.note("%s:%d: not an ECS document: %v", name, line, err)
		return
	}
	f, err := flowOf(&d)
	if err != nil {
		r.Rejected++
		r.note("%s:%d: %v", name, line, err)
		return
	}
	r.S.Add(&f)
}

// maxBytes is the most decompressed text read of one file.
func (r *Reader) maxBytes() int64 {
	if r.Limits.MaxBytes > 0 {
		return r.Limits.MaxBytes
	}
	return parser.DefaultOptions().MaxBytes
}

func flowOf(d *ecsDoc) (Flow, error) {
	f := Flow{SrcPort: d.Source.Port, DstPort: d.Destination.Port,
		Bytes: d.Network.Bytes, Packets: d.Network.Packets, SrcCountry: d.Source.Geo.Country,
		Iface: d.Flowlog.InterfaceID, Status: d.Flowlog.LogStatus}
	if d.AWS.VPCFlow.InterfaceID != "" || d.AWS.VPCFlow.LogStatus != "" {
		f.Iface, f.Status = d.AWS.VPCFlow.InterfaceID, d.AWS.VPCFlow.LogStatus
	}
	switch strings.ToLower(cmp.Or(d.AWS.VPCFlow.Action, d.Event.Action)) {
	case "reject":
		f.Rejected = true
	case "accept", "":
	default:
		return f, fmt.Errorf("event.action %q: want accept or reject", clip(d.Event.Action))
	}
	switch f.Status {
	case "OK", "NODATA", "SKIPDATA":
	default:
		return f, fmt.Errorf("log_status %q: want OK, NODATA or SKIPDATA", clip(f.Status))
	}
	var err error
	if f.Start, err = unix(d.Event.Start); err != nil {
		return f, fmt.Errorf("event.start: %v", err)
	}
	if f.End, err = unix(cmp.Or(d.Event.End, d.Timestamp)); err != nil {
		return f, fmt.Errorf("event.end: %v", err)
	}
	if f.Status != "OK" {
		return f, nil
	}
	if f.Src, err = netip.ParseAddr(d.Source.IP); err != nil {
		return f, fmt.Errorf("source.ip: %v", err)
	}
	if f.Dst, err = netip.ParseAddr(d.Destination.IP); err != nil {
		return f, fmt.Errorf("destination.ip: %v", err)
	}
	if d.Network.IANA != "" {
		p, err := strconv.ParseUint(d.Network.IANA, 10, 8)
		if err != nil {
			return f, fmt.Errorf("network.iana_number %q: %v", clip(d.Network.IANA), err)
		}
		f.Proto = uint8(p)
	}
	return f, nil
}

func unix(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an RFC 3339 time", clip(s))
	}
	return t.Unix(), nil
}

// clip shortens a hostile value for a message.
func clip(s string) string {
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

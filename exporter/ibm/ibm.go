// Package ibm reads IBM Cloud Flow Logs for VPC objects: one JSON document
// (gzip or not) with a header and a flow_logs array, each flow log counting
// both directions of one connection.
//
// The document is read as a stream: memory stays bounded whatever the size
// of the object (one flow log at a time, at most MaxLineBytes each), a
// flow log with a missing or bad field is rejected alone (the flow logs
// after it are read), and a truncated object yields the flow logs before
// the cut. Header fields are those seen before flow_logs (IBM writes them
// first).
//
// Each flow log becomes up to two records of the version-2 shape, one per
// direction with packets: initiator → target with the *_from_initiator
// counters, and target → initiator with the *_from_target counters.
//
//	IBM                                record
//	initiator_ip/port, target_ip/port  srcaddr/srcport, dstaddr/dstport (swapped for the reply)
//	transport_protocol                 protocol
//	packets/bytes_from_initiator       packets, bytes of the initiator → target record
//	packets/bytes_from_target          packets, bytes of the target → initiator record
//	start_time, end_time (RFC 3339)    start, end
//	action accepted | rejected         ACCEPT | REJECT
//	header state ok | skip data        log-status OK | SKIPDATA
//	header network_interface_id        interface-id
//	header account (from collector_crn "a/<account>")   account-id
//	direction I | O (inbound/outbound) flow-direction of each record seen from
//	                                   the vNIC: ingress for packets arriving, egress leaving
//
// The record's line number (for its event id) is 2×index+1 for the initiator
// record and 2×index+2 for the target record, index counting from 0.
package ibm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"github.com/flowlog/flowlog/parser"
)

// flowJSON holds the fields of one flow log as JSON text (slices of the
// flow log's bytes), checked one by one.
type flowJSON struct {
	StartTime, EndTime, Direction, Action        []byte
	InitiatorIP, TargetIP                        []byte
	InitiatorPort, TargetPort, TransportProtocol []byte
	BytesFromInitiator, PacketsFromInitiator     []byte
	BytesFromTarget, PacketsFromTarget           []byte
}

// flow is one flow log, checked.
type flow struct {
	ini, tgt          netip.Addr
	iport, tport      uint16
	proto             uint8
	start, end        int64
	reject            bool
	inbound, outbound bool
	pktsI, bytesI     uint64
	pktsT, bytesT     uint64
}

// Reading states.
const (
	stateStart = iota // before the document
	stateKeys         // in the top-level object, before a key
	stateArray        // in flow_logs, before an element
	stateDone         // after the document
)

// maxHeaderValue bounds a header value kept (a CRN, an id).
const maxHeaderValue = 4 << 10

// Reader reads the records of one object at a time.
type Reader struct {
	opts  parser.Options
	name  string
	raw   *bufio.Reader
	gz    *gzip.Reader
	limit parser.LimitReader
	in    *bufio.Reader // the decompressed document

	state   int
	ibm     bool // a key only IBM objects have was seen
	i       int  // index of the next flow log
	cur     flow
	half    int // 1: the target record of cur is next
	line    int
	done    int // the last line of the last flow log read whole
	account []byte
	iface   []byte
	status  parser.LogStatus
	elem    []byte
	fj      flowJSON
	scratch []byte
	rec     parser.Record
	err     error // sticky: the object error, or io.EOF
}

// NewReader returns a reader; Reset gives it an object.
func NewReader(opts parser.Options) *Reader {
	d := parser.DefaultOptions()
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = d.MaxBytes
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = d.MaxLineBytes
	}
	return &Reader{opts: opts, raw: bufio.NewReaderSize(nil, 32<<10), in: bufio.NewReaderSize(nil, 32<<10)}
}

// Reset starts reading object name from src.
func (r *Reader) Reset(src io.Reader, name string) {
	r.raw.Reset(src)
	r.name = name
	r.state, r.ibm, r.i, r.half, r.line, r.done = stateStart, false, 0, 0, 0, 0
	r.account, r.iface = r.account[:0], r.iface[:0]
	r.status = parser.LogStatusOK
	r.err = nil
}

// Line returns the line number of the last record, for its event id.
func (r *Reader) Line() int { return r.line }

// Next returns the next record, valid until the next call; io.EOF at the
// end; a *parser.LineError for a flow log with a missing or bad field (the
// flow logs after it are still read); a *parser.ObjectError when the object
// cannot be read further.
func (r *Reader) Next() (*parser.Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.next()
	if err != nil {
		var le *parser.LineError
		if !errors.As(err, &le) {
			r.err = err
		}
	}
	return rec, err
}

func (r *Reader) next() (*parser.Record, error) {
	if r.half == 1 {
		r.half = 0
		r.line = 2*(r.i-1) + 2
		if r.cur.pktsT > 0 {
			r.fill(&r.cur, true)
			return &r.rec, nil
		}
	}
	for {
		switch r.state {
		case stateStart:
			if err := r.open(); err != nil {
				return nil, err
			}
		case stateKeys:
			if err := r.key(); err != nil {
				return nil, err
			}
		case stateArray:
			got, err := r.element()
			if err != nil || !got {
				if err != nil {
					return nil, err
				}
				continue
			}
			r.half = 1
			r.line = 2*(r.i-1) + 1
			r.fill(&r.cur, false)
			return &r.rec, nil
		default:
			return nil, io.EOF
		}
	}
}

// open sets up decompression and finds the document's "{".
func (r *Reader) open() error {
	var in io.Reader = r.raw
	magic, _ := r.raw.Peek(2)
	if len(magic) == 0 {
		if _, err := r.raw.Peek(1); err != nil && err != io.EOF {
			return r.objErr(err)
		}
		r.state = stateDone // a zero-byte object holds no records
		return nil
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var err error
		if r.gz == nil {
			r.gz, err = gzip.NewReader(r.raw)
		} else {
			err = r.gz.Reset(r.raw)
		}
		if err != nil {
			return r.objErr(err)
		}
		in = r.gz
	}
	r.limit = parser.LimitReader{R: in, Max: r.opts.MaxBytes}
	r.in.Reset(&r.limit)
	c, err := r.skipSpace()
	if err != nil {
		return r.objErr(err)
	}
	if c != '{' {
		return r.objErr(fmt.Errorf("%w: not an IBM flow log object: it does not start with {", parser.ErrCorrupt))
	}
	r.state = stateKeys
	return nil
}

// key reads one member of the top-level object, or its end.
func (r *Reader) key() error {
	c, err := r.skipSpace()
	if err != nil {
		return r.objErr(err)
	}
	switch c {
	case ',':
		return nil
	case '}':
		r.state = stateDone
		if !r.ibm {
			return r.objErr(fmt.Errorf("%w: not an IBM flow log object: no flow_logs, network_interface_id or collector_crn", parser.ErrCorrupt))
		}
		return nil
	case '"':
	default:
		return r.objErr(fmt.Errorf("%w: not an IBM flow log object: want a key, got %q", parser.ErrCorrupt, c))
	}
	key, err := r.readString(r.scratch[:0], 256)
	r.scratch = key
	if err != nil {
		return r.objErr(err)
	}
	if c, err = r.skipSpace(); err != nil {
		return r.objErr(err)
	}
	if c != ':' {
		return r.objErr(fmt.Errorf("%w: want : after key %q", parser.ErrCorrupt, key))
	}
	if c, err = r.skipSpace(); err != nil {
		return r.objErr(err)
	}
	switch string(key) {
	case "flow_logs":
		r.ibm = true
		if c == 'n' {
			return r.objErr(r.skipValue(c))
		}
		if c != '[' {
			return r.objErr(fmt.Errorf("%w: flow_logs is not a list", parser.ErrCorrupt))
		}
		r.state = stateArray
		return nil
	case "network_interface_id", "collector_crn", "state":
		r.ibm = r.ibm || string(key) != "state"
		if c != '"' {
			return r.objErr(r.skipValue(c))
		}
		k := string(key) // three known keys: no allocation
		v, err := r.readString(nil, maxHeaderValue)
		if err != nil {
			return r.objErr(err)
		}
		switch k {
		case "network_interface_id":
			r.iface = append(r.iface[:0], v...)
		case "collector_crn":
			r.account = append(r.account[:0], account(string(v))...)
		case "state":
			if s := strings.ToLower(string(v)); s == "skip data" || s == "skip_data" || s == "skipdata" {
				r.status = parser.LogStatusSkipData
			}
		}
		return nil
	}
	return r.objErr(r.skipValue(c))
}

// element reads one flow log of the array into r.cur: false at the array's end.
func (r *Reader) element() (bool, error) {
	c, err := r.skipSpace()
	if err != nil {
		return false, r.objErr(err)
	}
	if c == ',' {
		if c, err = r.skipSpace(); err != nil {
			return false, r.objErr(err)
		}
	}
	if c == ']' {
		r.state = stateKeys
		return false, nil
	}
	i := r.i
	r.i++
	r.line = 2*i + 1
	if c != '{' {
		if err := r.skipValue(c); err != nil {
			return false, r.objErr(err)
		}
		r.done = 2*i + 2
		if c == 'n' {
			return false, r.lineErr("", "", "flow log is null")
		}
		return false, r.lineErr("", "", "flow log is not an object")
	}
	r.elem = append(r.elem[:0], '{')
	long, err := r.captureValue()
	if err != nil {
		return false, r.objErr(err)
	}
	r.done = 2*i + 2
	if long {
		return false, r.lineErr("", "", fmt.Sprintf("flow log %d is longer than %d bytes; skipped", i, r.opts.MaxLineBytes))
	}
	return true, r.check(i)
}

// check splits and checks the flow log in r.elem. Its members are found
// by a flat scan (nested values skipped), without reflection or allocation;
// the last of repeated keys wins, as encoding/json has it.
func (r *Reader) check(i int) error {
	fj := &r.fj
	*fj = flowJSON{}
	if !splitMembers(r.elem, fj) {
		return r.lineErr("", "", "flow log "+strconv.Itoa(i)+" is not a valid JSON object")
	}
	f := &r.cur
	*f = flow{}
	var err error
	if f.ini, err = r.addr(fj.InitiatorIP, "initiator_ip", i); err != nil {
		return err
	}
	if f.tgt, err = r.addr(fj.TargetIP, "target_ip", i); err != nil {
		return err
	}
	var n uint64
	if n, err = r.uint(fj.TransportProtocol, "transport_protocol", i, 255, true); err != nil {
		return err
	}
	f.proto = uint8(n)
	action, err := r.text(fj.Action, "action", i, true)
	if err != nil {
		return err
	}
	switch string(action) {
	case "accepted":
	case "rejected":
		f.reject = true
	default:
		return r.lineErr("action", quote(string(action)), "want accepted or rejected, got")
	}
	if f.start, err = r.time(fj.StartTime, "start_time", i); err != nil {
		return err
	}
	if f.end, err = r.time(fj.EndTime, "end_time", i); err != nil {
		return err
	}
	if n, err = r.uint(fj.InitiatorPort, "initiator_port", i, 65535, false); err != nil {
		return err
	}
	f.iport = uint16(n)
	if n, err = r.uint(fj.TargetPort, "target_port", i, 65535, false); err != nil {
		return err
	}
	f.tport = uint16(n)
	const maxCount = 1<<64 - 1
	if f.pktsI, err = r.uint(fj.PacketsFromInitiator, "packets_from_initiator", i, maxCount, true); err != nil {
		return err
	}
	if f.bytesI, err = r.uint(fj.BytesFromInitiator, "bytes_from_initiator", i, maxCount, true); err != nil {
		return err
	}
	if f.pktsT, err = r.uint(fj.PacketsFromTarget, "packets_from_target", i, maxCount, false); err != nil {
		return err
	}
	if f.bytesT, err = r.uint(fj.BytesFromTarget, "bytes_from_target", i, maxCount, false); err != nil {
		return err
	}
	dir, err := r.text(fj.Direction, "direction", i, false)
	if err != nil {
		return err
	}
	f.inbound = string(dir) == "I" || bytes.EqualFold(dir, []byte("inbound"))
	f.outbound = string(dir) == "O" || bytes.EqualFold(dir, []byte("outbound"))
	return nil
}

// splitMembers finds the known members of the JSON object obj.
func splitMembers(obj []byte, fj *flowJSON) bool {
	i := 1 // after "{"
	for {
		i = skipWS(obj, i)
		if i >= len(obj) {
			return false
		}
		switch obj[i] {
		case '}':
			return skipWS(obj, i+1) == len(obj)
		case ',':
			i++
			continue
		case '"':
		default:
			return false
		}
		kEnd := stringEnd(obj, i)
		if kEnd < 0 {
			return false
		}
		key := obj[i+1 : kEnd-1]
		i = skipWS(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return false
		}
		i = skipWS(obj, i+1)
		vEnd := valueEnd(obj, i)
		if vEnd < 0 {
			return false
		}
		v := obj[i:vEnd]
		switch string(key) { // no allocation: the compiler compares in place
		case "start_time":
			fj.StartTime = v
		case "end_time":
			fj.EndTime = v
		case "direction":
			fj.Direction = v
		case "action":
			fj.Action = v
		case "initiator_ip":
			fj.InitiatorIP = v
		case "target_ip":
			fj.TargetIP = v
		case "initiator_port":
			fj.InitiatorPort = v
		case "target_port":
			fj.TargetPort = v
		case "transport_protocol":
			fj.TransportProtocol = v
		case "bytes_from_initiator":
			fj.BytesFromInitiator = v
		case "packets_from_initiator":
			fj.PacketsFromInitiator = v
		case "bytes_from_target":
			fj.BytesFromTarget = v
		case "packets_from_target":
			fj.PacketsFromTarget = v
		}
		i = vEnd
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string that starts at b[i] ('"'),
// or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index after the value that starts at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = stringEnd(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && bytes.IndexByte([]byte(",}] \t\r\n"), b[j]) < 0 {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

func isNull(v []byte) bool { return len(v) == 0 || string(v) == "null" }

func (r *Reader) missing(name string, i int) error {
	return r.lineErr(name, "", "missing in flow log "+strconv.Itoa(i))
}

// text reads a string field. The bytes are valid until the next flow log;
// escapes are undone only when there are any (then it allocates).
func (r *Reader) text(v []byte, name string, i int, required bool) ([]byte, error) {
	if isNull(v) {
		if required {
			return nil, r.missing(name, i)
		}
		return nil, nil
	}
	if v[0] != '"' {
		return nil, r.lineErr(name, quote(string(v)), "want text, got")
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, r.lineErr(name, quote(string(v)), "not valid text:")
	}
	return []byte(s), nil
}

func (r *Reader) addr(v []byte, name string, i int) (netip.Addr, error) {
	if isNull(v) {
		return netip.Addr{}, r.missing(name, i)
	}
	if v[0] != '"' {
		return netip.Addr{}, r.lineErr(name, quote(string(v)), "want an IP address as text, got")
	}
	s, err := r.text(v, name, i, true)
	if err != nil {
		return netip.Addr{}, err
	}
	a, ok := parser.ParseAddr(s)
	if !ok {
		return netip.Addr{}, r.lineErr(name, quote(string(s)), "not an IP address:")
	}
	return a, nil
}

// uint reads a whole number from 0 to max; an absent optional one is 0.
func (r *Reader) uint(v []byte, name string, i int, max uint64, required bool) (uint64, error) {
	if isNull(v) {
		if required {
			return 0, r.missing(name, i)
		}
		return 0, nil
	}
	switch {
	case v[0] == '"':
		return 0, r.lineErr(name, quote(string(v)), "want a number, got text")
	case v[0] == '-':
		return 0, r.lineErr(name, quote(string(v)), "want a whole number of 0 or more, got")
	case v[0] < '0' || v[0] > '9':
		return 0, r.lineErr(name, quote(string(v)), "want a number, got")
	}
	n, ok := parseUint(v)
	if !ok || n > max {
		return 0, r.lineErr(name, quote(string(v)), fmt.Sprintf("want a whole number from 0 to %d, got", max))
	}
	return n, nil
}

// parseUint reads decimal digits, without allocating.
func parseUint(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		d := uint64(c - '0')
		if d > 9 || n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func (r *Reader) time(v []byte, name string, i int) (int64, error) {
	s, err := r.text(v, name, i, true)
	if err != nil {
		return 0, err
	}
	sec, ok := parseUTC(s)
	if !ok {
		t, err := time.Parse(time.RFC3339, string(s))
		if err != nil || t.Year() < 1970 || t.Year() > 9999 {
			return 0, r.lineErr(name, quote(string(s)), "not an RFC 3339 time:")
		}
		sec = t.Unix()
	}
	return sec, nil
}

// parseUTC reads the form IBM writes, YYYY-MM-DDTHH:MM:SS[.fraction]Z,
// without allocating; other RFC 3339 forms are left to time.Parse.
func parseUTC(s []byte) (int64, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	if len(s) > 20 {
		if s[19] != '.' || len(s) == 21 {
			return 0, false
		}
		for _, c := range s[20 : len(s)-1] {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
	}
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, se := num(s[0:4]), num(s[5:7]), num(s[8:10]), num(s[11:13]), num(s[14:16]), num(s[17:19])
	if y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 || h < 0 || mi < 0 || se < 0 {
		return 0, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, se, 0, time.UTC)
	if t.Day() != d { // February 30th and the like
		return 0, false
	}
	return t.Unix(), true
}

// account takes the account id from a CRN: crn:v1:…:a/<account>::…
func account(crn string) string {
	for _, part := range strings.Split(crn, ":") {
		if a, ok := strings.CutPrefix(part, "a/"); ok {
			return a
		}
	}
	return ""
}

func (r *Reader) lineErr(field, value, reason string) error {
	return &parser.LineError{Object: r.name, Line: r.line, Field: field, Value: value, Reason: reason, Err: parser.ErrValue}
}

// objErr ends the object; it keeps the cause's chain (a transport error
// stays one), and names the last line delivered.
func (r *Reader) objErr(err error) error {
	if err == nil {
		return nil
	}
	last := r.done
	switch {
	case errors.Is(err, parser.ErrTooLarge), errors.Is(err, parser.ErrCorrupt), errors.Is(err, parser.ErrTruncated):
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("%w (the stream ends early): %w", parser.ErrTruncated, err)
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), isFlateError(err):
		err = fmt.Errorf("%w: %w", parser.ErrCorrupt, err)
	}
	return &parser.ObjectError{Object: r.name, Line: last, Err: err}
}

func isFlateError(err error) bool {
	var corrupt flate.CorruptInputError
	var internal flate.InternalError
	return errors.As(err, &corrupt) || errors.As(err, &internal)
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// errEnds is the cause when the document ends inside a value.
var errEnds = fmt.Errorf("%w: the JSON document ends early", parser.ErrTruncated)

// readByte reads one byte; the end of the stream inside the document is
// truncation, never io.EOF.
func (r *Reader) readByte() (byte, error) {
	c, err := r.in.ReadByte()
	if err == io.EOF {
		return 0, errEnds
	}
	return c, err
}

func (r *Reader) skipSpace() (byte, error) {
	for {
		c, err := r.readByte()
		if err != nil || !(c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			return c, err
		}
	}
}

// readString reads the rest of a string after its opening quote, undoing
// no escapes; it keeps at most max bytes (the rest is read and dropped).
func (r *Reader) readString(dst []byte, max int) ([]byte, error) {
	for {
		c, err := r.readByte()
		if err != nil {
			return dst, err
		}
		switch c {
		case '"':
			return dst, nil
		case '\\':
			e, err := r.readByte()
			if err != nil {
				return dst, err
			}
			if len(dst)+2 <= max {
				dst = append(dst, c, e)
			}
			continue
		}
		if len(dst) < max {
			dst = append(dst, c)
		}
	}
}

// skipValue reads past a value whose first byte is c.
func (r *Reader) skipValue(c byte) error {
	_, err := r.value(c, false)
	return err
}

// captureValue reads the rest of an object whose "{" is in r.elem, keeping
// it in r.elem up to MaxLineBytes; long reports a longer one (dropped).
func (r *Reader) captureValue() (long bool, err error) {
	return r.value('{', true)
}

// value walks one JSON value, strings and nesting included, without
// recursion. Scalars end at a delimiter, which is left unread.
func (r *Reader) value(c byte, keep bool) (long bool, err error) {
	switch c {
	case '"':
		_, err := r.readString(nil, 0)
		return false, err
	case '{', '[':
	default: // number, true, false, null: up to the next delimiter
		for {
			b, err := r.in.Peek(1)
			if err != nil {
				if err == io.EOF {
					return false, errEnds
				}
				return false, err
			}
			if bytes.IndexByte([]byte(",]} \t\r\n"), b[0]) >= 0 {
				return false, nil
			}
			r.in.ReadByte()
		}
	}
	depth := 1
	inString, escaped := false, false
	for depth > 0 {
		b, err := r.readByte()
		if err != nil {
			return long, err
		}
		if keep && !long {
			if len(r.elem) >= r.opts.MaxLineBytes {
				long = true
			} else {
				r.elem = append(r.elem, b)
			}
		}
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			depth++
		case b == '}' || b == ']':
			depth--
		}
	}
	return long, nil
}

// fill sets r.rec to one direction of f.
func (r *Reader) fill(f *flow, reply bool) {
	rec := &r.rec
	rec.Reset()
	rec.AccountID, rec.InterfaceID = r.account, r.iface
	rec.SrcAddr, rec.DstAddr, rec.SrcPort, rec.DstPort = f.ini, f.tgt, f.iport, f.tport
	rec.Packets, rec.Bytes = f.pktsI, f.bytesI
	if reply {
		rec.SrcAddr, rec.DstAddr, rec.SrcPort, rec.DstPort = f.tgt, f.ini, f.tport, f.iport
		rec.Packets, rec.Bytes = f.pktsT, f.bytesT
	}
	rec.Protocol = f.proto
	rec.Start, rec.End = f.start, f.end
	rec.Action = parser.ActionAccept
	if f.reject {
		rec.Action = parser.ActionReject
	}
	rec.LogStatus = r.status
	rec.Mark(parser.FieldSrcAddr, parser.FieldDstAddr, parser.FieldSrcPort, parser.FieldDstPort, parser.FieldProtocol,
		parser.FieldPackets, parser.FieldBytes, parser.FieldStart, parser.FieldEnd, parser.FieldAction, parser.FieldLogStatus)
	if len(r.account) > 0 {
		rec.Mark(parser.FieldAccountID)
	}
	if len(r.iface) > 0 {
		rec.Mark(parser.FieldInterfaceID)
	}
	// Inbound connection: the initiator's packets arrive at the vNIC.
	switch {
	case f.inbound != reply && (f.inbound || f.outbound):
		rec.FlowDirection = parser.FlowDirectionIngress
	case f.inbound || f.outbound:
		rec.FlowDirection = parser.FlowDirectionEgress
	}
	if rec.FlowDirection != parser.FlowDirectionNone {
		rec.Mark(parser.FieldFlowDirection)
	}
}

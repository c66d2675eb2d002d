package parser

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func zstdOf(t testing.TB, text []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(text)
	w.Close()
	return b.Bytes()
}

func readAllRecords(t *testing.T, r *Reader) (n int, err error) {
	t.Helper()
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// TestZstd: zstd objects read like their plain text, told by their magic
// bytes; cut and corrupt ones end with the object error of their kind; a
// frame asking for a huge window is refused, not allocated.
func TestZstd(t *testing.T) {
	var text bytes.Buffer
	text.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	for range 5000 {
		text.WriteString("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n")
	}
	z := zstdOf(t, text.Bytes())
	r := NewReader(bytes.NewReader(z), "x.log.zst", Options{})
	if n, err := readAllRecords(t, r); n != 5000 || err != nil || !r.Compressed() {
		t.Fatalf("%d records, %v, compressed %v", n, err, r.Compressed())
	}
	r.Reset(bytes.NewReader(z[:len(z)/2]), "cut.log.zst")
	// zstd hands out whole blocks (up to 128 KiB): the records of the
	// blocks before the cut, then ErrTruncated.
	if n, err := readAllRecords(t, r); !errors.Is(err, ErrTruncated) || n == 5000 {
		t.Errorf("cut: %d records, %v; want fewer than all, then ErrTruncated", n, err)
	}
	bad := bytes.Clone(z)
	for i := 20; i < len(bad); i += 97 {
		bad[i] ^= 0x5a
	}
	r.Reset(bytes.NewReader(bad), "corrupt.log.zst")
	if _, err := readAllRecords(t, r); err == nil {
		t.Error("corrupt zstd read without an error")
	}
	// A frame header with a 2 GiB window (window descriptor exponent 21).
	huge := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0, 0, 0, 0, 0}
	r.Reset(bytes.NewReader(huge), "huge.log.zst")
	if _, err := readAllRecords(t, r); err == nil {
		t.Error("a 2 GiB window was accepted")
	}
	// Plain and gzip objects still read after a zstd one, with the same Reader.
	r.Reset(bytes.NewReader(text.Bytes()), "plain.log")
	if n, err := readAllRecords(t, r); n != 5000 || err != nil || r.Compressed() {
		t.Errorf("plain after zstd: %d, %v", n, err)
	}
}

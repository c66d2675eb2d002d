package jsonenc

import (
	"math/rand/v2"
	"testing"
	"time"
)

func want(sec int64) string {
	return `"` + time.Unix(sec, 0).UTC().Format(time.RFC3339) + `"`
}

func TestTime(t *testing.T) {
	check := func(sec int64) {
		t.Helper()
		if got := string(Time(nil, sec)); got != want(sec) {
			t.Fatalf("Time(%d) = %s, want %s", sec, got, want(sec))
		}
	}
	for _, sec := range []int64{0, 59, 86399, 86400, 951782400, 951868799, 951868800, 1418530070, 1767225600,
		4107542399, 4107542400, maxUnix, maxUnix + 1, -1, -86401} {
		check(sec)
	}
	// Every day boundary of leap and century years, and random instants.
	for d := int64(0); d < 40000; d += 1 {
		check(d*86400 - 1 + 86400)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		check(rng.Int64N(maxUnix + 1))
	}
}

func FuzzTime(f *testing.F) {
	f.Add(int64(1418530070))
	f.Add(int64(maxUnix))
	f.Fuzz(func(t *testing.T, sec int64) {
		if sec < -maxUnix || sec > 2*maxUnix {
			return // time.Format itself is not meant for such years
		}
		if got := string(Time(nil, sec)); got != want(sec) {
			t.Fatalf("Time(%d) = %s, want %s", sec, got, want(sec))
		}
	})
}

func BenchmarkTime(b *testing.B) {
	buf := make([]byte, 0, 32)
	b.SetBytes(22)
	b.ReportAllocs()
	for b.Loop() {
		buf = Time(buf[:0], 1767225600)
	}
}

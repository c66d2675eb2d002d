package recordid

import (
	"testing"
)

func TestPinned(t *testing.T) {
	o := ForObject("flows", "flowlogs/web-1629810635.log.gz", `"9b2cf535f27731c974343645a3985328"`)
	// Pinned: a change here re-ids every record ever written, and sinks would
	// store again everything a backfill touches.
	if got, want := string(o.Append(nil, 17)), "ej_Kmu2tRH6gOYkWSZnlDw"; got != want {
		t.Errorf("id = %q, want %q", got, want)
	}
}

func TestDistinct(t *testing.T) {
	id := func(bucket, key, etag string, line int) string {
		o := ForObject(bucket, key, etag)
		return string(o.Append(nil, line))
	}
	seen := map[string]string{}
	for name, v := range map[string]string{
		"base":           id("b", "k", "e", 1),
		"other line":     id("b", "k", "e", 2),
		"other etag":     id("b", "k", "e2", 1),
		"other key":      id("b", "k2", "e", 1),
		"other bucket":   id("b2", "k", "e", 1),
		"shifted fields": id("bk", "", "e", 1),
	} {
		if len(v) != Len {
			t.Errorf("%s: id %q has length %d", name, v, len(v))
		}
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s share id %s", name, other, v)
		}
		seen[v] = name
	}
}

func TestAllocs(t *testing.T) {
	o := ForObject("b", "k", "e")
	buf := make([]byte, 0, 32)
	if n := testing.AllocsPerRun(100, func() { buf = o.Append(buf[:0], 42) }); n != 0 {
		t.Errorf("%v allocations per id", n)
	}
}

func BenchmarkAppend(b *testing.B) {
	o := ForObject("flows", "flowlogs/web-1629810635.log.gz", "etag")
	buf := make([]byte, 0, 32)
	b.SetBytes(40) // the hashed input: object digest and line number
	b.ReportAllocs()
	line := 0
	for b.Loop() {
		line++
		buf = o.Append(buf[:0], line)
	}
}

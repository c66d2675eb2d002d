package sink

import (
	"errors"
	"testing"
)

func TestParts(t *testing.T) {
	var got []Result
	p := NewParts()
	p.Add()
	p.Settle(Result{Duplicates: 2, Rejects: []Reject{{Line: 7}}}) // a full part, before the end
	p.End(func(r Result) { got = append(got, r) })
	if len(got) != 0 {
		t.Fatal("acknowledged with a part open")
	}
	p.Settle(Result{Err: errors.New("push failed"), Duplicates: 1})
	if len(got) != 1 || got[0].Err == nil || got[0].Duplicates != 3 || len(got[0].Rejects) != 1 || got[0].Status() != Failed {
		t.Fatalf("acknowledgements %+v: want one, failed, 3 duplicates, 1 reject", got)
	}

	aborted := NewParts()
	aborted.Add()
	aborted.Abort()
	aborted.End(func(Result) { t.Error("an aborted object was acknowledged") })
	aborted.Settle(Result{})
	aborted.Settle(Result{})
}

package sink

import "sync"

// Parts acknowledges an object that a sink delivers in several parts (a
// large object cut as it is read): once its end is known and every part
// settled, with the worst of their results. An aborted object is never
// acknowledged.
type Parts struct {
	mu      sync.Mutex
	open    int // parts not yet settled, the one being filled included
	res     Result
	ack     func(Result)
	aborted bool
}

// NewParts returns the settlement of an object with one part open.
func NewParts() *Parts { return &Parts{open: 1} }

// Add opens another part.
func (p *Parts) Add() {
	p.mu.Lock()
	p.open++
	p.mu.Unlock()
}

// End records the object's acknowledgement, called once every part settled.
func (p *Parts) End(ack func(Result)) {
	p.mu.Lock()
	p.ack = ack
	p.mu.Unlock()
}

// Abort says no acknowledgement follows.
func (p *Parts) Abort() {
	p.mu.Lock()
	p.aborted = true
	p.mu.Unlock()
}

// Settle records one part's result.
func (p *Parts) Settle(r Result) {
	p.mu.Lock()
	if r.Err != nil && p.res.Err == nil {
		p.res.Err = r.Err
	}
	p.res.Rejects = append(p.res.Rejects, r.Rejects...)
	p.res.Duplicates += r.Duplicates
	p.open--
	done := p.open == 0 && !p.aborted && p.ack != nil
	res, ack := p.res, p.ack
	p.mu.Unlock()
	if done {
		ack(res)
	}
}

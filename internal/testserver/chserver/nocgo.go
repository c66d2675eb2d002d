//go:build !cgo

package main

import "errors"

// Without cgo the engine cannot be loaded; the server says so when started.
type engine struct{}

func openEngine(lib, dataDir string) (*engine, error) {
	return nil, errors.New("chserver needs cgo (CGO_ENABLED=1 and a C compiler)")
}

func (e *engine) query(q []byte, format string) ([]byte, error) { return nil, errors.New("no engine") }

func (e *engine) close() {}

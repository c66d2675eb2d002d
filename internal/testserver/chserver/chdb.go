//go:build cgo

package main

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

// The engine is loaded at run time (dlopen), so this program builds without
// the 566 MB library; signatures as in chDB's chdb.h.
typedef void *(*connect_fn)(int, char **);
typedef void (*close_fn)(void *);
typedef void *(*query_n_fn)(void *, const char *, size_t, const char *, size_t);
typedef char *(*buffer_fn)(void *);
typedef size_t (*length_fn)(void *);
typedef const char *(*error_fn)(void *);
typedef void (*destroy_fn)(void *);
typedef void (*signals_fn)(int);

static void *lib;
static connect_fn p_connect;
static close_fn p_close;
static query_n_fn p_query;
static buffer_fn p_buffer;
static length_fn p_length;
static error_fn p_error;
static destroy_fn p_destroy;

static const char *load(const char *path) {
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) return dlerror();
	p_connect = (connect_fn)dlsym(lib, "chdb_connect");
	p_close = (close_fn)dlsym(lib, "chdb_close_conn");
	p_query = (query_n_fn)dlsym(lib, "chdb_query_n");
	p_buffer = (buffer_fn)dlsym(lib, "chdb_result_buffer");
	p_length = (length_fn)dlsym(lib, "chdb_result_length");
	p_error = (error_fn)dlsym(lib, "chdb_result_error");
	p_destroy = (destroy_fn)dlsym(lib, "chdb_destroy_query_result");
	if (!p_connect || !p_close || !p_query || !p_buffer || !p_length || !p_error || !p_destroy)
		return "libchdb.so lacks a chdb_* function this server needs";
	return NULL;
}

// The Go runtime owns these signals; chDB resets some of them when it
// connects. Their handlers are saved before and restored after.
static const int kept[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGPIPE, SIGURG,
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGPROF, SIGUSR1, SIGUSR2};
#define NKEPT (sizeof(kept) / sizeof(kept[0]))

static void *connect_engine(const char *path_arg) {
	struct sigaction saved[NKEPT];
	for (size_t i = 0; i < NKEPT; i++) sigaction(kept[i], NULL, &saved[i]);
	signals_fn off = (signals_fn)dlsym(lib, "chdb_set_signal_handlers_enabled");
	if (off) off(0);
	char *argv[] = {"clickhouse", (char *)path_arg};
	void *conn = p_connect(2, argv);
	for (size_t i = 0; i < NKEPT; i++) sigaction(kept[i], &saved[i], NULL);
	return conn;
}

static void *run(void *conn, const char *q, size_t n, const char *f, size_t fn) {
	return p_query(*(void **)conn, q, n, f, fn);
}
static char *res_buf(void *r) { return p_buffer(r); }
static size_t res_len(void *r) { return p_length(r); }
static const char *res_err(void *r) { return p_error(r); }
static void res_free(void *r) { p_destroy(r); }
static void close_engine(void *conn) { p_close(conn); }
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// engine is one chDB connection; chDB allows one per process, so queries
// are run one at a time.
type engine struct {
	mu   sync.Mutex
	conn unsafe.Pointer
}

func openEngine(lib, dataDir string) (*engine, error) {
	clib := C.CString(lib)
	defer C.free(unsafe.Pointer(clib))
	if msg := C.load(clib); msg != nil {
		return nil, errors.New(C.GoString(msg))
	}
	carg := C.CString("--path=" + dataDir)
	defer C.free(unsafe.Pointer(carg))
	conn := C.connect_engine(carg)
	if conn == nil {
		return nil, errors.New("chdb_connect failed")
	}
	return &engine{conn: conn}, nil
}

// query runs q and returns its output in format, or the engine's error.
func (e *engine) query(q []byte, format string) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil, errors.New("engine closed")
	}
	var qp *C.char
	if len(q) > 0 {
		qp = (*C.char)(unsafe.Pointer(&q[0]))
	}
	cf := C.CString(format)
	defer C.free(unsafe.Pointer(cf))
	r := C.run(e.conn, qp, C.size_t(len(q)), cf, C.size_t(len(format)))
	if r == nil {
		return nil, errors.New("chdb_query_n returned nothing")
	}
	defer C.res_free(r)
	if msg := C.res_err(r); msg != nil && C.strlen(msg) > 0 {
		return nil, errors.New(C.GoString(msg))
	}
	n := C.res_len(r)
	if n == 0 {
		return nil, nil
	}
	return C.GoBytes(unsafe.Pointer(C.res_buf(r)), C.int(n)), nil
}

func (e *engine) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil {
		C.close_engine(e.conn)
		e.conn = nil
	}
}

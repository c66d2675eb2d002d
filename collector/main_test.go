package collector

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Idle keep-alive connections of the S3 client's HTTP transport close on
	// their own timer; they are not goroutines the collector leaks.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

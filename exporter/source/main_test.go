package source

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Idle keep-alive connections of the S3 client close on their own timer.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

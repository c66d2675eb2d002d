package collector

import (
	"context"
	"os"
	"testing"

	"github.com/flowlog/flowlog/collector/decode"
)

func TestZZProfile(t *testing.T) {
	p := os.Getenv("PROFILE_PCAP")
	if p == "" {
		t.Skip()
	}
	c, err := New(replayConfig(t, t.TempDir()), Deps{Hostname: "x"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Replay(context.Background(), []string{p}, decode.Local{})
	t.Logf("%+v %v", st.Frames, err)
}

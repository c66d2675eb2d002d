package manualtmp

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/flowlog/flowlog/internal/testserver"
)

func TestServe(t *testing.T) {
	w := testserver.ESUser{Name: "flowlog", Cluster: []string{"manage_index_templates", "manage_ilm"},
		Indices: map[string][]string{"logs-flowlog.flows-*": {"create_doc", "auto_configure"}}}
	weak := testserver.ESUser{Name: "weak", Cluster: []string{"monitor"}, Indices: map[string][]string{"logs-flowlog.flows-*": {"create_doc"}}}
	es := testserver.StartElasticsearch(t, testserver.ESOptions{Users: map[string]testserver.ESUser{"flowlog:pw": w, "weak:pw": weak}})
	os.WriteFile("/tmp/es.url", []byte(es.URL()), 0o644)
	fmt.Println(es.URL())
	for i := 0; i < 600; i++ {
		time.Sleep(time.Second)
		if _, err := os.Stat("/tmp/es.stop"); err == nil {
			os.Remove("/tmp/es.stop")
			es.Stop()
			time.Sleep(5 * time.Second)
			es.Start()
		}
	}
}

package ecs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestElasticAWSAgreement encodes, with the elastic-aws target, the records
// of two of Elastic's AWS integration pipeline tests (its version 5 and
// version 8 samples) and compares the fields with what the integration's
// pipeline writes for them: the same names, where the integration puts
// them, with the same values. Fields the integration adds that flowlog
// does not (event.original, GeoIP of its own databases, tags) are left out.
func TestElasticAWSAgreement(t *testing.T) {
	cases := []struct {
		file string
		want map[string]any
	}{
		{"testdata/aws-v5-all.log", map[string]any{
			"aws.vpcflow.account_id": "64111117617", "aws.vpcflow.action": "REJECT", "aws.vpcflow.instance_id": "i-0axxxxxx1ad77",
			"aws.vpcflow.interface_id": "eni-069xxxxxb7a490", "aws.vpcflow.log_status": "OK", "aws.vpcflow.pkt_dst_service": "CLOUDFRONT",
			"aws.vpcflow.pkt_dstaddr": "10.200.0.80", "aws.vpcflow.pkt_src_service": "AMAZON", "aws.vpcflow.pkt_srcaddr": "89.160.20.156",
			"aws.vpcflow.subnet_id": "subnet-02d645xxxxxxxdbc0", "aws.vpcflow.tcp_flags": "1", "aws.vpcflow.traffic_path": "1",
			"aws.vpcflow.type": "IPv4", "aws.vpcflow.version": "5", "aws.vpcflow.vpc_id": "vpc-09676f97xxxxxb8a7",
			"cloud.account.id": "64111117617", "cloud.availability_zone": "use1-az5", "cloud.instance.id": "i-0axxxxxx1ad77",
			"cloud.provider": "aws", "cloud.region": "us-east-1",
			"destination.address": "10.200.0.0", "destination.ip": "10.200.0.0", "destination.port": 33004.0,
			"event.category": []any{"network"}, "event.kind": "event", "event.outcome": "failure", "event.dataset": "aws.vpcflow",
			"network.bytes": 1.0, "network.community_id": "1:+zLdyx7gcy2L5ERP4Je5AZMgl3A=", "network.direction": "ingress",
			"network.iana_number": "17", "network.packets": 52.0, "network.transport": "udp", "network.type": "ipv4",
			"related.ip":     []any{"89.160.20.156", "10.200.0.0"},
			"source.address": "89.160.20.156", "source.bytes": 1.0, "source.ip": "89.160.20.156", "source.packets": 52.0, "source.port": 50041.0,
		}},
		{"testdata/aws-v8.log", map[string]any{
			"aws.vpcflow.account_id": "000000000000", "aws.vpcflow.action": "REJECT", "aws.vpcflow.ecs_container_id": "601a6500-efa",
			"aws.vpcflow.ecs_second_container_id": "dea79277-480",
			"aws.vpcflow.ecs_task_arn":            "arn:aws:ecs:us-east-1:000000000000:task/backend-cluster/e504f037-35c",
			"aws.vpcflow.ecs_task_definition_arn": "arn:aws:ecs:us-east-1:000000000000:task-definition/orders:12",
			"aws.vpcflow.ecs_task_id":             "e504f037-35c", "aws.vpcflow.log_status": "NODATA", "aws.vpcflow.version": "3",
			"cloud.account.id": "000000000000", "cloud.provider": "aws",
			"event.action": "REJECT", "event.outcome": "failure", "event.reason": "BPA", "event.type": []any{"connection", "denied"},
			// No network.community_id: the sample mixes an IPv6 source with an
			// IPv4 destination, which has no Community ID (spec v1); Elastic's
			// processor writes one anyway.
			"network.bytes": 33615.0, "network.direction": "ingress",
			"network.iana_number": "17", "network.transport": "udp", "network.type": "ipv6",
			"orchestrator.cluster.id":    "arn:aws:ecs:us-east-1:000000000000:cluster/backend-cluster",
			"orchestrator.cluster.name":  "backend-cluster",
			"orchestrator.resource.id":   "i-18de3682c033431da",
			"orchestrator.resource.name": "arn:aws:ecs:us-east-1:000000000000:container-instance/backend-cluster/i-18de3682c033431da",
			"related.ip":                 []any{"2a02:cf40::", "1.128.0.0"},
			"service.name":               "payments-service",
			"source.address":             "2a02:cf40::", "source.bytes": 33615.0, "source.ip": "2a02:cf40::", "source.packets": 51.0, "source.port": 42910.0,
			"destination.address": "1.128.0.0", "destination.ip": "1.128.0.0", "destination.port": 80.0,
		}},
	}
	for _, c := range cases {
		got := docsOf(t, c.file, ElasticAWSConfig())
		if len(got) != 1 {
			t.Fatalf("%s: %d documents, want 1", c.file, len(got))
		}
		flat := flatten(t, got[0])
		for k, v := range c.want {
			if g, ok := flat[k]; !ok || !cmp.Equal(g, v) {
				t.Errorf("%s: %s = %v, want %v", c.file, k, g, v)
			}
		}
		for k := range flat {
			if strings.HasPrefix(k, "flowlog.") {
				t.Errorf("%s: %s: the elastic-aws target has no flowlog fields", c.file, k)
			}
		}
	}
}

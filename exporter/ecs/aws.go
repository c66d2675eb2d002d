package ecs

import (
	"strconv"

	"github.com/flowlog/flowlog/internal/jsonenc"
	"github.com/flowlog/flowlog/parser"
)

// awsKeys are the members of aws.vpcflow that Elastic's AWS integration
// gives the columns it keeps there (its fields.yml and pipeline tests).
var awsKeys = func() (k [64]string) {
	for f, key := range map[parser.Field]string{
		parser.FieldVPCID: "vpc_id", parser.FieldSubnetID: "subnet_id", parser.FieldTCPFlags: "tcp_flags",
		parser.FieldType: "type", parser.FieldPktSrcAddr: "pkt_srcaddr", parser.FieldPktDstAddr: "pkt_dstaddr",
		parser.FieldPktSrcAWSService: "pkt_src_service", parser.FieldPktDstAWSService: "pkt_dst_service",
		parser.FieldTrafficPath: "traffic_path", parser.FieldECSContainerID: "ecs_container_id",
		parser.FieldECSSecondContainerID: "ecs_second_container_id", parser.FieldECSTaskARN: "ecs_task_arn",
		parser.FieldECSTaskDefinitionARN: "ecs_task_definition_arn", parser.FieldECSTaskID: "ecs_task_id",
	} {
		k[f] = key
	}
	return k
}()

// appendAWS appends aws.vpcflow and the ECS objects the integration fills
// from the columns of versions 3 to 8. Its values are strings, as the
// integration's are.
func appendAWS(dst []byte, rec *parser.Record) []byte {
	text := func(f parser.Field) ([]byte, bool) { // nil when there is no value
		v, ok := rec.Text(f)
		if !ok || dash(v) {
			return nil, false
		}
		return v, true
	}
	// orchestrator.cluster and .resource each take two columns: write each
	// object once with what it has.
	clusterID, _ := text(parser.FieldECSClusterARN)
	clusterName, _ := text(parser.FieldECSClusterName)
	resID, _ := text(parser.FieldECSContainerInstanceID)
	resName, _ := text(parser.FieldECSContainerInstanceARN)
	if clusterID != nil || clusterName != nil || resID != nil || resName != nil {
		dst = append(dst, `,"orchestrator":`...)
		sep := byte('{')
		dst, sep = appendPair(dst, sep, `"cluster":`, `"id":`, clusterID, `"name":`, clusterName)
		dst, sep = appendPair(dst, sep, `"resource":`, `"id":`, resID, `"name":`, resName)
		dst = closeObject(dst, sep)
	}
	if name, ok := text(parser.FieldECSServiceName); ok {
		dst = append(dst, `,"service":{"name":`...)
		dst = jsonenc.String(dst, name)
		dst = append(dst, '}')
	}

	dst = append(dst, `,"aws":{"vpcflow":`...)
	sep := byte('{')
	if rec.Has(parser.FieldVersion) {
		dst = append(dst, sep)
		dst = strconv.AppendUint(append(dst, `"version":"`...), uint64(rec.Version), 10)
		dst, sep = append(dst, '"'), ','
	}
	if rec.Has(parser.FieldAccountID) {
		dst = append(dst, sep)
		dst, sep = jsonenc.String(append(dst, `"account_id":`...), rec.AccountID), ','
	}
	if rec.Has(parser.FieldInterfaceID) {
		dst = append(dst, sep)
		dst, sep = jsonenc.String(append(dst, `"interface_id":`...), rec.InterfaceID), ','
	}
	switch rec.Action {
	case parser.ActionAccept:
		dst, sep = append(append(dst, sep), `"action":"ACCEPT"`...), ','
	case parser.ActionReject:
		dst, sep = append(append(dst, sep), `"action":"REJECT"`...), ','
	}
	if rec.Has(parser.FieldLogStatus) {
		dst = append(dst, sep)
		dst = append(dst, `"log_status":"`...)
		dst, sep = append(append(dst, rec.LogStatus.String()...), '"'), ','
	}
	if v, ok := text(parser.FieldInstanceID); ok {
		dst = append(dst, sep)
		dst, sep = jsonenc.String(append(dst, `"instance_id":`...), v), ','
	}
	if l := rec.Layout(); l != nil && l != parser.V2 {
		for i, f := range l.Fields() {
			key := awsKeys[f]
			if key == "" {
				continue
			}
			v := rec.Column(i)
			if dash(v) || !rec.Has(f) {
				continue
			}
			dst = append(dst, sep, '"')
			dst = append(dst, key...)
			dst = append(dst, '"', ':')
			switch f {
			case parser.FieldTCPFlags:
				dst = strconv.AppendUint(append(dst, '"'), uint64(rec.TCPFlags), 10)
				dst = append(dst, '"')
			case parser.FieldTrafficPath:
				dst = strconv.AppendUint(append(dst, '"'), uint64(rec.TrafficPath), 10)
				dst = append(dst, '"')
			default:
				dst = jsonenc.String(dst, v)
			}
			sep = ','
		}
	}
	st, hasType := text(parser.FieldSublocationType)
	sid, hasID := text(parser.FieldSublocationID)
	if hasType || hasID {
		dst, sep = appendPair(dst, sep, `"sublocation":`, `"type":`, st, `"id":`, sid)
	}
	dst = closeObject(dst, sep)
	return append(dst, '}')
}

// appendPair appends key:{k1:v1,k2:v2} with the members that have values;
// nothing when neither has.
func appendPair(dst []byte, sep byte, key, k1 string, v1 []byte, k2 string, v2 []byte) ([]byte, byte) {
	if v1 == nil && v2 == nil {
		return dst, sep
	}
	dst = append(dst, sep)
	dst = append(dst, key...)
	in := byte('{')
	if v1 != nil {
		dst = append(dst, in)
		dst, in = jsonenc.String(append(dst, k1...), v1), ','
	}
	if v2 != nil {
		dst = append(dst, in)
		dst = jsonenc.String(append(dst, k2...), v2)
	}
	return append(dst, '}'), ','
}

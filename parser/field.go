package parser

// Field identifies a column of a flow-log record by its AWS name.
// The fourteen version-2 fields come first, in the order of the default
// format; the fields of versions 3 to 8 follow in the order of the AWS table,
// so a prefix of this list is the "all fields up to version N" layout.
type Field uint8

// Known fields. FieldUnknown marks a header column whose name flowlog does not
// know; its values are kept and reachable by name through Record.Value.
const (
	FieldUnknown Field = iota
	FieldVersion
	FieldAccountID
	FieldInterfaceID
	FieldSrcAddr
	FieldDstAddr
	FieldSrcPort
	FieldDstPort
	FieldProtocol
	FieldPackets
	FieldBytes
	FieldStart
	FieldEnd
	FieldAction
	FieldLogStatus
	// version 3
	FieldVPCID
	FieldSubnetID
	FieldInstanceID
	FieldTCPFlags
	FieldType
	FieldPktSrcAddr
	FieldPktDstAddr
	// version 4
	FieldRegion
	FieldAZID
	FieldSublocationType
	FieldSublocationID
	// version 5
	FieldPktSrcAWSService
	FieldPktDstAWSService
	FieldFlowDirection
	FieldTrafficPath
	// version 7
	FieldECSClusterARN
	FieldECSClusterName
	FieldECSContainerInstanceARN
	FieldECSContainerInstanceID
	FieldECSContainerID
	FieldECSSecondContainerID
	FieldECSServiceName
	FieldECSTaskDefinitionARN
	FieldECSTaskARN
	FieldECSTaskID
	// version 8
	FieldRejectReason

	numFields
)

// fieldNames holds the AWS name of every known field, indexed by Field.
var fieldNames = [numFields]string{
	FieldUnknown:                 "unknown",
	FieldVersion:                 "version",
	FieldAccountID:               "account-id",
	FieldInterfaceID:             "interface-id",
	FieldSrcAddr:                 "srcaddr",
	FieldDstAddr:                 "dstaddr",
	FieldSrcPort:                 "srcport",
	FieldDstPort:                 "dstport",
	FieldProtocol:                "protocol",
	FieldPackets:                 "packets",
	FieldBytes:                   "bytes",
	FieldStart:                   "start",
	FieldEnd:                     "end",
	FieldAction:                  "action",
	FieldLogStatus:               "log-status",
	FieldVPCID:                   "vpc-id",
	FieldSubnetID:                "subnet-id",
	FieldInstanceID:              "instance-id",
	FieldTCPFlags:                "tcp-flags",
	FieldType:                    "type",
	FieldPktSrcAddr:              "pkt-srcaddr",
	FieldPktDstAddr:              "pkt-dstaddr",
	FieldRegion:                  "region",
	FieldAZID:                    "az-id",
	FieldSublocationType:         "sublocation-type",
	FieldSublocationID:           "sublocation-id",
	FieldPktSrcAWSService:        "pkt-src-aws-service",
	FieldPktDstAWSService:        "pkt-dst-aws-service",
	FieldFlowDirection:           "flow-direction",
	FieldTrafficPath:             "traffic-path",
	FieldECSClusterARN:           "ecs-cluster-arn",
	FieldECSClusterName:          "ecs-cluster-name",
	FieldECSContainerInstanceARN: "ecs-container-instance-arn",
	FieldECSContainerInstanceID:  "ecs-container-instance-id",
	FieldECSContainerID:          "ecs-container-id",
	FieldECSSecondContainerID:    "ecs-second-container-id",
	FieldECSServiceName:          "ecs-service-name",
	FieldECSTaskDefinitionARN:    "ecs-task-definition-arn",
	FieldECSTaskARN:              "ecs-task-arn",
	FieldECSTaskID:               "ecs-task-id",
	FieldRejectReason:            "reject-reason",
}

// fieldKeys holds the snake_case name of every known field (the JSON key).
// Package variables, not init: Go orders their initialisation by dependency,
// so the layouts built from them at start-up see them filled.
var fieldKeys = func() (keys [numFields]string) {
	for f := range numFields {
		keys[f] = snakeCase(fieldNames[f])
	}
	return keys
}()

var fieldByName = func() map[string]Field {
	m := make(map[string]Field, numFields)
	for f := FieldVersion; f < numFields; f++ {
		m[fieldNames[f]] = f
	}
	return m
}()

// String returns the AWS name of the field, e.g. "log-status".
func (f Field) String() string {
	if f >= numFields {
		return "invalid"
	}
	return fieldNames[f]
}

// Key returns the snake_case name of the field, e.g. "log_status".
func (f Field) Key() string {
	if f >= numFields {
		return "invalid"
	}
	return fieldKeys[f]
}

// LookupField returns the field with the given AWS name.
func LookupField(name []byte) (Field, bool) {
	f, ok := fieldByName[string(name)] // no allocation: the compiler special-cases map[string(b)]
	return f, ok
}

// versionWidths are the column counts of the "all fields up to version N"
// layouts AWS writes without a header: v2, v3, v4, v5, v7 and v8.
var versionWidths = [...]int{14, 21, 25, 29, 39, 40}

func snakeCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// How the parser treats a field's text.
type fieldKind uint8

const (
	kindText fieldKind = iota // kept as bytes (action and log-status are checked)
	kindUint                  // decimal number up to fieldMax
	kindAddr                  // IPv4 or IPv6 address
)

var fieldKinds = [numFields]fieldKind{
	FieldVersion: kindUint, FieldSrcPort: kindUint, FieldDstPort: kindUint,
	FieldProtocol: kindUint, FieldPackets: kindUint, FieldBytes: kindUint,
	FieldStart: kindUint, FieldEnd: kindUint, FieldTCPFlags: kindUint,
	FieldTrafficPath: kindUint,
	FieldSrcAddr:     kindAddr, FieldDstAddr: kindAddr,
	FieldPktSrcAddr: kindAddr, FieldPktDstAddr: kindAddr,
}

// fieldMax is the largest value of each numeric field. Times are bounded so
// that every accepted time can be written as an RFC 3339 date.
var fieldMax = [numFields]uint64{
	FieldVersion: maxUint8, FieldSrcPort: maxUint16, FieldDstPort: maxUint16,
	FieldProtocol: maxUint8, FieldPackets: maxUint64, FieldBytes: maxUint64,
	FieldStart: maxUnixSec, FieldEnd: maxUnixSec, FieldTCPFlags: maxUint16,
	FieldTrafficPath: maxUint8,
}

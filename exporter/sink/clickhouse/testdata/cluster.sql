CREATE DATABASE IF NOT EXISTS flowlog ON CLUSTER flows_cluster;

CREATE TABLE IF NOT EXISTS flowlog.flows_local ON CLUSTER flows_cluster
(
    flow_start DateTime CODEC(DoubleDelta, ZSTD(1)),
    flow_end DateTime CODEC(DoubleDelta, ZSTD(1)),
    version UInt8,
    account_id LowCardinality(String),
    interface_id LowCardinality(String),
    src_addr IPv6 CODEC(ZSTD(1)),
    dst_addr IPv6 CODEC(ZSTD(1)),
    src_port UInt16,
    dst_port UInt16,
    protocol UInt8,
    packets UInt64 CODEC(T64, ZSTD(1)),
    bytes UInt64 CODEC(T64, ZSTD(1)),
    action LowCardinality(String),
    log_status LowCardinality(String),
    vpc_id LowCardinality(String),
    subnet_id LowCardinality(String),
    instance_id LowCardinality(String),
    tcp_flags UInt16,
    type LowCardinality(String),
    pkt_src_addr IPv6 CODEC(ZSTD(1)),
    pkt_dst_addr IPv6 CODEC(ZSTD(1)),
    region LowCardinality(String),
    az_id LowCardinality(String),
    sublocation_type LowCardinality(String),
    sublocation_id LowCardinality(String),
    pkt_src_aws_service LowCardinality(String),
    pkt_dst_aws_service LowCardinality(String),
    flow_direction LowCardinality(String),
    traffic_path UInt8,
    reject_reason LowCardinality(String),
    extra Map(String, String) CODEC(ZSTD(1)),
    direction LowCardinality(String),
    community_id String CODEC(ZSTD(1)),
    service LowCardinality(String),
    src_class LowCardinality(String),
    dst_class LowCardinality(String),
    src_country LowCardinality(String),
    dst_country LowCardinality(String),
    src_city LowCardinality(String),
    dst_city LowCardinality(String),
    src_as UInt32,
    dst_as UInt32,
    src_as_org LowCardinality(String),
    dst_as_org LowCardinality(String),
    interface_name LowCardinality(String),
    interface_vm LowCardinality(String),
    interface_data_center LowCardinality(String),
    event_id String CODEC(ZSTD(1)),
    bucket LowCardinality(String),
    object_key LowCardinality(String),
    line UInt32 CODEC(T64, ZSTD(1)),
    INDEX src_addr_idx src_addr TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX dst_addr_idx dst_addr TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX object_key_idx object_key TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/flowlog/flows_local', '{replica}')
PARTITION BY toYYYYMM(flow_end)
ORDER BY (toStartOfHour(flow_end), account_id, interface_id, src_addr, dst_addr)
TTL flow_end + toIntervalDay(400)
SETTINGS ttl_only_drop_parts = 1
COMMENT 'flowlog schema 1; ttl 400d; layout 11394ebf4206';

CREATE TABLE IF NOT EXISTS flowlog.flows_1m_local ON CLUSTER flows_cluster
(
    time DateTime CODEC(DoubleDelta, ZSTD(1)),
    account_id LowCardinality(String),
    interface_id LowCardinality(String),
    action LowCardinality(String),
    log_status LowCardinality(String),
    protocol UInt8,
    direction LowCardinality(String),
    service_port UInt16,
    service LowCardinality(String),
    src_country LowCardinality(String),
    dst_country LowCardinality(String),
    src_as UInt32,
    dst_as UInt32,
    bytes UInt64 CODEC(T64, ZSTD(1)),
    packets UInt64 CODEC(T64, ZSTD(1)),
    flows UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flowlog/flows_1m_local', '{replica}', (bytes, packets, flows))
PARTITION BY toDate(time)
ORDER BY (time, account_id, interface_id, action, log_status, protocol, direction, service_port, service, src_country, dst_country, src_as, dst_as)
TTL time + toIntervalDay(7)
SETTINGS ttl_only_drop_parts = 1
COMMENT 'flowlog schema 1; ttl 7d; layout 61c3c86d68aa';

CREATE TABLE IF NOT EXISTS flowlog.flows_1h_local ON CLUSTER flows_cluster
(
    time DateTime CODEC(DoubleDelta, ZSTD(1)),
    account_id LowCardinality(String),
    interface_id LowCardinality(String),
    action LowCardinality(String),
    log_status LowCardinality(String),
    protocol UInt8,
    direction LowCardinality(String),
    service_port UInt16,
    service LowCardinality(String),
    src_country LowCardinality(String),
    dst_country LowCardinality(String),
    src_as UInt32,
    dst_as UInt32,
    bytes UInt64 CODEC(T64, ZSTD(1)),
    packets UInt64 CODEC(T64, ZSTD(1)),
    flows UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/flowlog/flows_1h_local', '{replica}', (bytes, packets, flows))
PARTITION BY toYYYYMM(time)
ORDER BY (time, account_id, interface_id, action, log_status, protocol, direction, service_port, service, src_country, dst_country, src_as, dst_as)
TTL time + toIntervalDay(365)
SETTINGS ttl_only_drop_parts = 1
COMMENT 'flowlog schema 1; ttl 365d; layout d45f4f77dca7';

CREATE TABLE IF NOT EXISTS flowlog.flows ON CLUSTER flows_cluster
(
    flow_start DateTime CODEC(DoubleDelta, ZSTD(1)),
    flow_end DateTime CODEC(DoubleDelta, ZSTD(1)),
    version UInt8,
    account_id LowCardinality(String),
    interface_id LowCardinality(String),
    src_addr IPv6 CODEC(ZSTD(1)),
    dst_addr IPv6 CODEC(ZSTD(1)),
    src_port UInt16,
    dst_port UInt16,
    protocol UInt8,
    packets UInt64 CODEC(T64, ZSTD(1)),
    bytes UInt64 CODEC(T64, ZSTD(1)),
    action LowCardinality(String),
    log_status LowCardinality(String),
    vpc_id LowCardinality(String),
    subnet_id LowCardinality(String),
    instance_id LowCardinality(String),
    tcp_flags UInt16,
    type LowCardinality(String),
    pkt_src_addr IPv6 CODEC(ZSTD(1)),
    pkt_dst_addr IPv6 CODEC(ZSTD(1)),
    region LowCardinality(String),
    az_id LowCardinality(String),
    sublocation_type LowCardinality(String),
    sublocation_id LowCardinality(String),
    pkt_src_aws_service LowCardinality(String),
    pkt_dst_aws_service LowCardinality(String),
    flow_direction LowCardinality(String),
    traffic_path UInt8,
    reject_reason LowCardinality(String),
    extra Map(String, String) CODEC(ZSTD(1)),
    direction LowCardinality(String),
    community_id String CODEC(ZSTD(1)),
    service LowCardinality(String),
    src_class LowCardinality(String),
    dst_class LowCardinality(String),
    src_country LowCardinality(String),
    dst_country LowCardinality(String),
    src_city LowCardinality(String),
    dst_city LowCardinality(String),
    src_as UInt32,
    dst_as UInt32,
    src_as_org LowCardinality(String),
    dst_as_org LowCardinality(String),
    interface_name LowCardinality(String),
    interface_vm LowCardinality(String),
    interface_data_center LowCardinality(String),
    event_id String CODEC(ZSTD(1)),
    bucket LowCardinality(String),
    object_key LowCardinality(String),
    line UInt32 CODEC(T64, ZSTD(1))
)
ENGINE = Distributed(flows_cluster, flowlog, flows_local, rand())
COMMENT 'flowlog schema 1; ttl 0d; layout e2cb302280ea';

CREATE TABLE IF NOT EXISTS flowlog.flows_1m ON CLUSTER flows_cluster
(
    time DateTime CODEC(DoubleDelta, ZSTD(1)),
    account_id LowCardinality(String),
    interface_id LowCardinality(String),
    action LowCardinality(String),
    log_status LowCardinality(String),
    protocol UInt8,
    direction LowCardinality(String),
    service_port UInt16,
    service LowCardinality(String),
    src_country LowCardinality(String),
    dst_country LowCardinality(String),
    src_as UInt32,
    dst_as UInt32,
    bytes UInt64 CODEC(T64, ZSTD(1)),
    packets UInt64 CODEC(T64, ZSTD(1)),
    flows UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = Distributed(flows_cluster, flowlog, flows_1m_local, rand())
COMMENT 'flowlog schema 1; ttl 0d; layout b97892bdb5ea';

CREATE TABLE IF NOT EXISTS flowlog.flows_1h ON CLUSTER flows_cluster
(
    time DateTime CODEC(DoubleDelta, ZSTD(1)),
    account_id LowCardinality(String),
    interface_id LowCardinality(String),
    action LowCardinality(String),
    log_status LowCardinality(String),
    protocol UInt8,
    direction LowCardinality(String),
    service_port UInt16,
    service LowCardinality(String),
    src_country LowCardinality(String),
    dst_country LowCardinality(String),
    src_as UInt32,
    dst_as UInt32,
    bytes UInt64 CODEC(T64, ZSTD(1)),
    packets UInt64 CODEC(T64, ZSTD(1)),
    flows UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = Distributed(flows_cluster, flowlog, flows_1h_local, rand())
COMMENT 'flowlog schema 1; ttl 0d; layout 4c811c966717';

CREATE MATERIALIZED VIEW IF NOT EXISTS flowlog.flows_1m_mv ON CLUSTER flows_cluster TO flowlog.flows_1m_local
AS SELECT toStartOfMinute(flow_end) AS time, account_id, interface_id, action, log_status, protocol, direction, if(dst_port < 1024 OR service != '', dst_port, 0) AS service_port, service, src_country, dst_country, src_as, dst_as, sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows FROM flowlog.flows_local GROUP BY time, account_id, interface_id, action, log_status, protocol, direction, service_port, service, src_country, dst_country, src_as, dst_as
COMMENT 'flowlog schema 1; view 0a4d95e1bd92';

CREATE MATERIALIZED VIEW IF NOT EXISTS flowlog.flows_1h_mv ON CLUSTER flows_cluster TO flowlog.flows_1h_local
AS SELECT toStartOfHour(flow_end) AS time, account_id, interface_id, action, log_status, protocol, direction, if(dst_port < 1024 OR service != '', dst_port, 0) AS service_port, service, src_country, dst_country, src_as, dst_as, sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows FROM flowlog.flows_local GROUP BY time, account_id, interface_id, action, log_status, protocol, direction, service_port, service, src_country, dst_country, src_as, dst_as
COMMENT 'flowlog schema 1; view 83e6575eab0e';

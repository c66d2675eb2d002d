CREATE DATABASE IF NOT EXISTS flowlog;

CREATE TABLE IF NOT EXISTS flowlog.flows
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
    event_id String CODEC(ZSTD(1)),
    bucket LowCardinality(String),
    object_key LowCardinality(String),
    line UInt32 CODEC(T64, ZSTD(1)),
    INDEX src_addr_idx src_addr TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX dst_addr_idx dst_addr TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX object_key_idx object_key TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toDate(flow_end)
ORDER BY (toStartOfHour(flow_end), account_id, interface_id, src_addr, dst_addr)
TTL flow_end + toIntervalDay(30)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
COMMENT 'flowlog schema 1; ttl 30d; layout 9c586bbea193';

CREATE TABLE IF NOT EXISTS flowlog.flows_1m
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
    bytes UInt64 CODEC(T64, ZSTD(1)),
    packets UInt64 CODEC(T64, ZSTD(1)),
    flows UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = SummingMergeTree((bytes, packets, flows))
PARTITION BY toDate(time)
ORDER BY (time, account_id, interface_id, action, log_status, protocol, direction, service_port, service)
TTL time + toIntervalDay(7)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
COMMENT 'flowlog schema 1; ttl 7d; layout 0e27eef885c6';

CREATE TABLE IF NOT EXISTS flowlog.flows_1h
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
    bytes UInt64 CODEC(T64, ZSTD(1)),
    packets UInt64 CODEC(T64, ZSTD(1)),
    flows UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = SummingMergeTree((bytes, packets, flows))
PARTITION BY toYYYYMM(time)
ORDER BY (time, account_id, interface_id, action, log_status, protocol, direction, service_port, service)
TTL time + toIntervalDay(365)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
COMMENT 'flowlog schema 1; ttl 365d; layout c9e52c5624f4';

CREATE MATERIALIZED VIEW IF NOT EXISTS flowlog.flows_1m_mv TO flowlog.flows_1m
AS SELECT toStartOfMinute(flow_end) AS time, account_id, interface_id, action, log_status, protocol, direction, if(dst_port < 1024 OR service != '', dst_port, 0) AS service_port, service, sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows FROM flowlog.flows GROUP BY time, account_id, interface_id, action, log_status, protocol, direction, service_port, service
COMMENT 'flowlog schema 1; view e31dd60f97ec';

CREATE MATERIALIZED VIEW IF NOT EXISTS flowlog.flows_1h_mv TO flowlog.flows_1h
AS SELECT toStartOfHour(flow_end) AS time, account_id, interface_id, action, log_status, protocol, direction, if(dst_port < 1024 OR service != '', dst_port, 0) AS service_port, service, sum(bytes) AS bytes, sum(packets) AS packets, count() AS flows FROM flowlog.flows GROUP BY time, account_id, interface_id, action, log_status, protocol, direction, service_port, service
COMMENT 'flowlog schema 1; view 57ecd5495f81';

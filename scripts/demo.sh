#!/usr/bin/env bash
# make demo: the main job on embedded defaults, with no servers. A capture is
# turned into flow-log objects by the collector, another host's flow logs are
# generated beside them, and the exporter delivers the whole bucket folder as
# ECS NDJSON files, exactly once; then a summary of what is in them.
set -euo pipefail
bin=${1:-bin/flowlog}
dir=${2:-.demo}

rm -rf "$dir"
mkdir -p "$dir/bucket"
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. The collector: a capture of host01 (30 minutes, 200,000 packets) into flow-log objects"
echo "\$ flowlog gen --pcap $dir/host01.pcap --packets 200000 --flows 2000 --objects 3"
"$bin" gen --pcap "$dir/host01.pcap" --packets 200000 --flows 2000 --objects 3 >/dev/null 2>&1
echo "\$ flowlog collect --pcap $dir/host01.pcap --out $dir/bucket --name host01"
"$bin" collect --pcap "$dir/host01.pcap" --out "$dir/bucket" --name host01 | sed 's/^/  /'

say "2. Flow logs of a cloud host, webserver01, as IONOS writes them (generated: accepts and rejects, IPv4 and IPv6)"
echo "\$ flowlog gen --out $dir/bucket --name webserver01 --objects 6 --records 20000"
"$bin" gen --out "$dir/bucket" --name webserver01 --objects 6 --records 20000 >/dev/null 2>&1
first=$(ls "$dir"/bucket/webserver01-*.log.gz | head -n 1)
echo "\$ zcat $first | head -3"
zcat "$first" | awk 'NR <= 3 { print "  " $0 }'
touch -d '1 minute ago' "$dir"/bucket/*.log.gz # settled: the exporter skips files still being written

say "3. The exporter: the bucket folder, once, as ECS documents with enrichment"
range=(--since 2026-01-01T00:00:00Z --until 2026-01-01T01:00:00Z)
echo "\$ flowlog backfill --source $dir/bucket ${range[*]} --dry-run"
"$bin" backfill --source "$dir/bucket" "${range[@]}" --dry-run --checkpoint "$dir/checkpoint.json" >"$dir/dry-run.txt"
awk 'NR <= 4 { print "  " $0 }' "$dir/dry-run.txt"
echo "  …"
echo "\$ flowlog backfill --source $dir/bucket ${range[*]} --sink file://\$PWD/$dir/out \\"
echo "    --local-network 172.17.0.0/16 --local-network 2001:db8:17::/48 --local-network 10.0.0.0/8"
"$bin" backfill --source "$dir/bucket" "${range[@]}" --sink "file://$PWD/$dir/out" \
  --local-network 172.17.0.0/16 --local-network 2001:db8:17::/48 --local-network 10.0.0.0/8 \
  --checkpoint "$dir/checkpoint.json" --log-level warn 2>&1 | sed 's/^/  /'
echo "\$ find $dir/out -name '*.ndjson'   # <out>/folder/<source folder>/<key>.ndjson"
find "$dir/out" -name '*.ndjson' | sort | awk 'NR <= 3 { print "  " $0 } END { print "  … " NR " files, one per object" }'
echo "  Run again, the checkpoint says everything is delivered:"
"$bin" backfill --source "$dir/bucket" "${range[@]}" --sink "file://$PWD/$dir/out" \
  --checkpoint "$dir/checkpoint.json" --log-level warn 2>&1 | sed 's/^/  /'

say "4. One document (a rejected flow), as Elasticsearch or Logstash would get it"
find "$dir/out" -name '*.ndjson' -exec cat {} + >"$dir/all.ndjson"
grep -m 1 '"action":"reject"' "$dir/all.ndjson" >"$dir/one.json"
if command -v python3 >/dev/null; then python3 -m json.tool "$dir/one.json" | sed 's/^/    /'; else sed 's/^/    /' "$dir/one.json"; fi

say "5. What is in the hour"
awk '
  function field(re,   m) { return match($0, re) ? substr($0, RSTART, RLENGTH) : "" }
  { docs++ }
  /"action":"reject"/ { rejected++; p = field("\"destination\":\\{[^}]*\"port\":[0-9]+"); sub(/.*"port":/, "", p); rports[p]++ }
  /"log_status":"NODATA"/ { nodata++ }
  /"log_status":"SKIPDATA"/ { skipdata++ }
  /"log_status":"OK"/ {
    d = field("\"direction\":\"[a-z]+\""); sub(/.*:"/, "", d); sub(/"$/, "", d)
    s = field("\"source\":\\{\"ip\":\"[^\"]+\""); sub(/.*"ip":"/, "", s); sub(/"$/, "", s)
    t = field("\"destination\":\\{\"ip\":\"[^\"]+\""); sub(/.*"ip":"/, "", t); sub(/"$/, "", t)
    b = field("\"network\":\\{[^}]*\"bytes\":[0-9]+"); sub(/.*"bytes":/, "", b)
    remote = (d == "outbound") ? t : s
    if (d == "inbound" || d == "outbound") talk[remote] += b
  }
  END {
    printf "  documents: %d (NODATA %d, SKIPDATA %d), rejected flows: %d\n", docs, nodata, skipdata, rejected
    print "  most rejected destination ports (flows):"
    for (p in rports) printf "%d %s\n", rports[p], p | "sort -rn | head -5 | awk \"{ printf \\\"    %-6s %6d\\\\n\\\", \\$2, \\$1 }\""
    close("sort -rn | head -5 | awk \"{ printf \\\"    %-6s %6d\\\\n\\\", \\$2, \\$1 }\"")
    print "  top talkers (remote address, bytes both ways):"
    for (h in talk) printf "%.0f %s\n", talk[h], h | "sort -rn | head -5 | awk \"{ printf \\\"    %-40s %8.1f MiB\\\\n\\\", \\$2, \\$1 / 1048576 }\""
  }' "$dir/all.ndjson"

say "6. The same as a page you can open anywhere (no Grafana or Kibana needed)"
echo "\$ flowlog report --out $dir/report.html $dir/out"
"$bin" report --out "$dir/report.html" --title "flowlog demo: host01 and webserver01" "$dir/out" | sed 's/^/  /'

say "Done. Files are in $dir/; open $PWD/$dir/report.html in a browser. Try: $bin report --help, $bin export --help, $bin collect --help"

#!/usr/bin/env bash
# make demo: the main job on embedded defaults, with no servers. Generates an
# hour of one host's flow log, then reads it back as v2 lines and as the ECS
# documents the exporter ships, and summarises what is in it.
set -euo pipefail
bin=${1:-bin/flowlog}
dir=${2:-.demo}

rm -rf "$dir"
mkdir -p "$dir"
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. An hour of flow logs for host webserver01, one gzip object per 10-minute window"
echo "\$ flowlog gen --out $dir/bucket --name webserver01 --objects 6 --records 20000"
"$bin" gen --out "$dir/bucket" --name webserver01 --objects 6 --records 20000 >"$dir/objects.txt"
while read -r obj; do
  printf '  %-45s %6d KiB\n' "$obj" $(( $(stat -c %s "$obj") / 1024 ))
done <"$dir/objects.txt"

first=$(head -n 1 "$dir/objects.txt")
say "2. The first records of $first"
echo "\$ flowlog parse --output v2 --header $first | head -4"
"$bin" parse --output v2 --header "$first" >"$dir/first.v2"
awk 'NR <= 4' "$dir/first.v2"

say "3. Every object as ECS documents (what Elasticsearch and Logstash get)"
echo "\$ flowlog parse --output ecs $dir/bucket/*.log.gz > $dir/flows.ecs.ndjson"
start=$(date +%s.%N)
"$bin" parse --output ecs "$dir"/bucket/*.log.gz >"$dir/flows.ecs.ndjson"
end=$(date +%s.%N)
docs=$(wc -l <"$dir/flows.ecs.ndjson")
mib=$(( $(stat -c %s "$dir/flows.ecs.ndjson") / 1048576 ))
awk -v n="$docs" -v m="$mib" -v s="$start" -v e="$end" \
  'BEGIN { printf "  %d documents, %d MiB, in %.2f s (%.0f records/s, one core, gunzip included)\n", n, m, e-s, n/(e-s) }'
echo "  One document (a rejected flow):"
grep -m 1 '"action":"reject"' "$dir/flows.ecs.ndjson" >"$dir/one.json"
if command -v python3 >/dev/null; then python3 -m json.tool "$dir/one.json" | sed 's/^/    /'; else sed 's/^/    /' "$dir/one.json"; fi

say "4. What is in the hour"
"$bin" parse --output v2 "$dir"/bucket/*.log.gz >"$dir/all.v2"
awk '
  { records++ }
  $14 == "NODATA"   { nodata++ }
  $14 == "SKIPDATA" { skipdata++ }
  $13 == "REJECT"   { rejected++ }
  END {
    printf "  records: %d (NODATA %d, SKIPDATA %d)\n", records, nodata, skipdata
    printf "  rejected flows: %d\n", rejected
  }' "$dir/all.v2"
echo "  most rejected destination ports (flows):"
awk '$13 == "REJECT" { n[$7]++ } END { for (p in n) printf "%.0f %s\n", n[p], p }' "$dir/all.v2" |
  sort -rn | awk 'NR <= 5 { printf "    %-6s %6d\n", $2, $1 }'
echo "  top talkers (remote address, bytes both ways):"
awk '$14 == "OK" {
    remote = ($4 ~ /^172\.17\.|^2001:db8:17:1::/) ? $5 : $4
    bytes[remote] += $10
  } END { for (h in bytes) printf "%.0f %s\n", bytes[h], h }' "$dir/all.v2" |
  sort -rn | awk 'NR <= 5 { printf "    %-40s %8.1f MiB\n", $2, $1 / 1048576 }'

say "5. The collector: a capture file turned into flow-log objects"
echo "\$ flowlog gen --pcap $dir/trace.pcap --packets 200000 --flows 2000 --objects 3"
"$bin" gen --pcap "$dir/trace.pcap" --packets 200000 --flows 2000 --objects 3 >/dev/null 2>&1
echo "\$ flowlog collect --pcap $dir/trace.pcap --out $dir/collected --name host01"
"$bin" collect --pcap "$dir/trace.pcap" --out "$dir/collected" --name host01 | sed 's/^/  /'
collected=$(ls "$dir"/collected/*.log.gz | head -n 1)
echo "\$ zcat $collected | head -3"
zcat "$collected" | awk 'NR <= 3 { print "  " $0 }'
echo "  (live: flowlog collect -c configs/collector.yaml captures interfaces, firewall drops become REJECT)"

say "Done. Files are in $dir/; try: $bin parse --help, $bin collect --help"

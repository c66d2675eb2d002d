#!/usr/bin/env bash
# CPU seconds (user + system) of 'flowlog collect --pcap' and of nfpcapd
# (nfdump's pcap collector) on the same generated capture: 2M packets of
# 50k flows, both writing their files to a folder, runs alternating, the
# median of 5 each. Usage: scripts/bench-nfpcapd.sh BIN [PACKETS] [FLOWS]
set -euo pipefail
bin=${1:?usage: $0 path/to/flowlog [packets] [flows]}
packets=${2:-2000000}
flows=${3:-50000}
command -v nfpcapd >/dev/null || { echo "nfpcapd not installed (apt-get install nfdump)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" gen --pcap "$work/trace.pcap" --packets "$packets" --flows "$flows" --objects 3 >/dev/null 2>&1
echo "capture: $packets frames of $flows flows, $(du -m "$work/trace.pcap" | cut -f1) MiB; file in the page cache"
cat "$work/trace.pcap" >/dev/null

cpu() { # CPU seconds of a command
	/usr/bin/time -f '%U %S' -o "$work/time" "$@" >/dev/null 2>&1
	awk '{printf "%.3f", $1 + $2}' "$work/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$work/flowlog"; : >"$work/nfpcapd"
for i in 1 2 3 4 5; do
	rm -rf "$work/out" "$work/nf"; mkdir -p "$work/nf"
	cpu "$bin" collect --pcap "$work/trace.pcap" --out "$work/out" >>"$work/flowlog"; echo >>"$work/flowlog"
	cpu nfpcapd -r "$work/trace.pcap" -w "$work/nf" >>"$work/nfpcapd"; echo >>"$work/nfpcapd"
	echo "run $i: flowlog $(tail -1 "$work/flowlog") s, nfpcapd $(tail -1 "$work/nfpcapd") s"
done
f=$(median <"$work/flowlog"); n=$(median <"$work/nfpcapd")
echo "median CPU: flowlog collect --pcap $f s, nfpcapd $n s: nfpcapd uses $(echo "$n / $f" | bc -l | cut -c1-4)x flowlog's"

#!/usr/bin/env bash
# Converts the same generated capture with 'flowlog collect --pcap' and with
# softflowd (and pmacctd when installed), best of three wall-clock runs each.
# Usage: scripts/bench-collect.sh BIN [PACKETS]
set -euo pipefail
bin=${1:?usage: $0 path/to/flowlog [packets]}
packets=${2:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" gen --pcap "$work/trace.pcap" --packets "$packets" --flows 5000 --objects 3 >/dev/null 2>&1
echo "capture: $packets frames, $(du -m "$work/trace.pcap" | cut -f1) MiB (flowlog gen --pcap --flows 5000)"

best() { # best of three runs of a command, in seconds
	local b=999999
	for _ in 1 2 3; do
		local s e
		s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
		b=$(echo "if ($e - $s < $b) $e - $s else $b" | bc -l)
	done
	printf '%.3f' "$b"
}
report() {
	printf '%-48s %7ss  %5.2f M packets/s\n' "$1" "$2" "$(echo "$packets / $2 / 1000000" | bc -l)"
}
report "flowlog collect --pcap (gzip objects to a folder)" "$(best "$bin" collect --pcap "$work/trace.pcap" --out "$work/out")"
if command -v softflowd >/dev/null; then
	report "softflowd -r (NetFlow to 127.0.0.1:9995)" "$(best softflowd -r "$work/trace.pcap" -n 127.0.0.1:9995 -d)"
else
	echo "softflowd not installed (apt-get install softflowd)"
fi

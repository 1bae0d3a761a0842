#!/usr/bin/env bash
# How the simulator's cost grows with the cluster: for each node count, the
# whole process's wall time and peak RSS (GNU time), the run's events and
# node-to-node messages (its JSON report), and simulated time over wall
# time, for issue 19's run: 100 ms links, 100 ops/s, 20 s time limit plus
# the default 10 s settle, seed 7.
#
#   tools/measure_scale.sh [WORKLOAD_ARGS...]   (default: --workload broadcast)
#   NODES="25 50 100" tools/measure_scale.sh --workload tuning --strategy hub
#
# Prints one markdown table row per node count, for the README. Run it on
# a quiet machine, one measurement at a time: it times real work. Needs
# python3 and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES="${NODES:-25 50 100 200 400 1000}"
if [ $# -eq 0 ]; then
    set -- --workload broadcast
fi

cargo build --release --quiet
TIME=/usr/bin/time
if ! "$TIME" -f %e true >/dev/null 2>&1; then
    echo "GNU time not found at $TIME (apt-get install time)" >&2
    exit 1
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

echo "| nodes | events | messages | wall | simulated ÷ wall | peak RSS | verdict |"
echo "|---|---|---|---|---|---|---|"
for n in $NODES; do
    "$TIME" -f "%e %M" -o "$OUT/time" target/release/maelstrom-node sim "$@" \
        --nodes "$n" --latency 100 --rate 100 --time-limit 20 --seed 7 --json \
        > "$OUT/report.json" || true
    python3 - "$n" "$OUT/time" "$OUT/report.json" <<'EOF'
import json, sys
n, time_file, report_file = sys.argv[1:]
wall, rss_kb = open(time_file).read().split()[-2:]
wall = float(wall)
r = json.load(open(report_file))
simulated = r["simulated_s"]
print(f"| {n} | {r['events']:,} | {r['net']['sent']:,} | {wall:.2f} s "
      f"| {simulated / wall:.1f}× | {int(rss_kb) / 1024:.0f} MiB | {r['validity']} |")
EOF
done

#!/usr/bin/env bash
# The real-process runner against nodes that flood it: wall time and the
# runner's peak memory (GNU time's maximum resident set size) for a run of
# NODES copies of tests/nodes/broken_node.py in `flood` mode (each writes
# gossip to every peer as fast as it can and reads its peers' slowly), with
# the issue's settings: 100 ops/s, 10 s time limit, 3 s settle.
#
#   tools/measure_flood.sh [NODES [LATENCY_MS]]      (defaults 25, 0)
#
# With a long latency every message stays in flight that long: the bound on
# in-flight memory (256 MiB, each copy charged its line plus its queue entry
# and journal record) is what then holds the runner's memory.
#
# The runner must end near time limit + settle + one op timeout (the
# final reads' bound) after setup, however much the nodes write, and its
# memory must stay bounded by its queues, not by the flood. Prints the
# report's network line, the phases, wall time and peak RSS. Needs python3
# and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES="${1:-25}"
LATENCY="${2:-0}"

cargo build --release --quiet
TIME=/usr/bin/time
if ! "$TIME" -v true >/dev/null 2>&1; then
    echo "GNU time not found at $TIME (apt-get install time)" >&2
    exit 1
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
"$TIME" -v target/release/maelstrom-node cluster --workload echo --nodes "$NODES" \
    --latency "$LATENCY" --rate 100 --time-limit 10 --settle 3 --results "$OUT/run" \
    --bin "python3 tests/nodes/broken_node.py flood" >"$OUT/stdout" 2>"$OUT/stderr" || true
grep -E '^(messages|network) ' "$OUT/stdout"
python3 - "$OUT/run/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = r["phases"]
print(f"phases        setup done {p['setup_done']:.2f} s, clients done {p['clients_done']:.2f} s, "
      f"final reads {p['final_reads']:.2f} s, end {p['end']:.2f} s")
print(f"journal       {r['journal']['written']} entries written, {r['journal']['skipped']} past the file limit")
PY
grep -E 'Elapsed \(wall|Maximum resident' "$OUT/stderr" | sed 's/^\s*/runner        /'

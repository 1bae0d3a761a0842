#!/usr/bin/env bash
# Peak memory (maximum resident set size) of one node process under a long
# run: its stdin is a generated stream of N lines (default 1,000,000), its
# stdout is thrown away, and GNU time reports the peak.
#
#   tools/measure_rss.sh [N]
#
# Runs, each on a fresh node n1 of a 3-node cluster whose peers n2, n3 never
# answer (so nothing they would acknowledge is ever released early):
#   baseline   init only
#   broadcast  N broadcasts of distinct values
#   counter    N adds of -5..4
#   kv         N writes over 1000 keys
#   junk       N bad lines to an echo node: not JSON, unknown types,
#              missing fields, wrong types, unsolicited replies
# Needs python3 (to generate the input) and /usr/bin/time (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"

cargo build --release --quiet
BIN=target/release/maelstrom-node
TIME=/usr/bin/time
if ! "$TIME" -v true >/dev/null 2>&1; then
    echo "GNU time not found at $TIME (apt-get install time)" >&2
    exit 1
fi

# gen KIND N: the node's input, one message a line.
gen() {
    python3 - "$1" "$2" <<'PY'
import sys
kind, n = sys.argv[1], int(sys.argv[2])
w = sys.stdout.write
w('{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}\n')
junk = [
    'not json at all',
    '{"src":"c1","dest":"n1","body":{"type":"frobnicate","msg_id":%d}}',
    '{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":%d}}',
    '{"src":"c1","dest":"n1","body":{"msg_id":%d,"echo":1}}',
    '{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":"%d","echo":1}}',
    '{"src":"n2","dest":"n1","body":{"type":"echo_ok","in_reply_to":%d}}',
    '[%d]',
]
for i in range(2, n + 2):
    if kind == "broadcast":
        w('{"src":"c1","dest":"n1","body":{"type":"broadcast","msg_id":%d,"message":%d}}\n' % (i, i))
    elif kind == "counter":
        w('{"src":"c1","dest":"n1","body":{"type":"add","msg_id":%d,"delta":%d}}\n' % (i, i % 10 - 5))
    elif kind == "kv":
        w('{"src":"c1","dest":"n1","body":{"type":"write","msg_id":%d,"key":"k%d","value":%d}}\n' % (i, i % 1000, i))
    elif kind == "junk":
        t = junk[i % len(junk)]
        w((t % i if "%d" in t else t) + "\n")
PY
}

# run NAME WORKLOAD KIND COUNT: prints one table row.
run() {
    local name=$1 workload=$2 kind=$3 count=$4 report
    report=$(mktemp)
    local start end
    start=$(date +%s.%N)
    gen "$kind" "$count" | MAELSTROM_LOG=off "$TIME" -v -o "$report" \
        "$BIN" --workload "$workload" --seed 1 >/dev/null
    end=$(date +%s.%N)
    local kib
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$report")
    rm -f "$report"
    awk -v n="$name" -v w="$workload" -v c="$count" -v k="$kib" -v s="$start" -v e="$end" \
        'BEGIN { printf "| %-9s | %-9s | %9d | %8.1f MiB | %6.1f s |\n", n, w, c, k / 1024, e - s }'
}

echo "| run       | workload  |     lines |  peak RSS    |   time |"
echo "|---|---|---|---|---|"
run baseline broadcast none 0
run broadcast broadcast broadcast "$N"
run counter counter counter "$N"
run kv kv kv "$N"
run junk echo junk "$N"

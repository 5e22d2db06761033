#!/usr/bin/env bash
# The hand-written loop's CPU samples over the engine's for one `cepheus bench`
# query, from cpu-clock samples of a single process (perf with DWARF call
# graphs). Steadier than `cepheus bench`'s events/s on a noisy shared machine,
# where the same binary's ratio moves by +-5 points between runs: run it a
# few times per build, builds alternated, to compare two builds.
#
#   scripts/bench-samples.sh BINARY Q1|Q2|Q3 [EVENTS]
set -euo pipefail
bin=$1 query=$2 events=${3:-2000000}
case $query in
    Q1|Q2|Q3) hand=hand_$(tr Q q <<<"$query") ;;
    *) echo "unknown query $query (Q1, Q2, Q3)" >&2; exit 2 ;;
esac
out=$(mktemp)
trap 'rm -f "$out"' EXIT
perf record -q -o "$out" -F 300 --call-graph dwarf,4096 \
    "$bin" bench --events "$events" --runs 3 --only "$query" >/dev/null 2>&1
share() {
    perf report -i "$out" --children --stdio 2>/dev/null |
        awk -v f="cepheus::bench::$1" '$1 ~ /^[0-9.]+%$/ && !done && $NF == f { gsub("%", "", $1); print $1; done = 1 }'
}
e=$(share engine_json) h=$(share "$hand")
awk -v e="$e" -v h="$h" -v q="$query" \
    'BEGIN { printf "%s samples: engine %.1f %%, hand-written %.1f %%, hand/engine %.0f %%\n", q, e, h, 100 * h / e }'

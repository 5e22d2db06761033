#!/usr/bin/env bash
# Instructions per event of one `cepheus bench` query, engine and hand-written
# loop, counted by callgrind: repeatable on a noisy shared machine, where the
# events/s of `cepheus bench` move by tens of percent between runs. Use it to
# compare two builds; quote `cepheus bench` (time) ratios in docs/performance.md.
#
#   scripts/bench-instructions.sh BINARY Q1|Q2|Q3|decode|grouped [EVENTS]
set -euo pipefail
bin=$1 query=$2 events=${3:-200000}
case $query in
    Q1|Q2|Q3) engine=engine_json hand=hand_$(tr Q q <<<"$query") ;;
    decode) engine=decode_only hand=hand_decode_only ;;
    grouped) engine=engine_predecoded hand=hand_predecoded ;;
    *) echo "unknown query $query (Q1, Q2, Q3, decode, grouped)" >&2; exit 2 ;;
esac
out=$(mktemp)
trap 'rm -f "$out"' EXIT
count() {
    valgrind --tool=callgrind --callgrind-out-file="$out" "--toggle-collect=cepheus::bench::$1" \
        "$bin" bench --events "$events" --runs 1 --only "$query" 2>&1 |
        awk '/refs:/ { gsub(",", "", $NF); print $NF }'
}
e=$(count "$engine")
if [[ -z $hand ]]; then
    echo "$query engine: $((e / events)) instructions/event"
    exit 0
fi
h=$(count "$hand")
echo "$query engine: $((e / events)) instructions/event, hand-written: $((h / events)), hand/engine: $((100 * h / e)) %"

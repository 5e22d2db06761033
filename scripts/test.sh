#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit, property and
# end-to-end tests (the Esper conformance scenarios and the shipped rules'
# scenarios run through `cepheus test` inside `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== Kafka broker (Tansu on 127.0.0.1:19092; built once into ~/.cache/cepheus-tools)"
bash scripts/kafka/broker.sh start 19092 >/dev/null
echo "== cargo test"
cargo test --workspace --locked
echo "== cepheus check rules/ and cepheus test (conformance, scenarios, rules)"
cargo run --quiet --locked -- check rules/
cargo run --quiet --locked -- test tests/conformance tests/scenarios rules/
echo "== the parser's fuzz target builds"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz" cargo check --quiet --manifest-path parser/fuzz/Cargo.toml
echo "all tests passed"

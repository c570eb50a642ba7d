#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of every crate.
# Installs what it needs first; safe to run again and again. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo is not installed; install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi
# rustfmt and clippy ship as rustup components; add them only when missing.
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary, so the total is plain to read.
sum() { grep -Eo "[0-9]+ $1" "$log" | awk '{ total += $1 } END { print total + 0 }'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
exit "$status"

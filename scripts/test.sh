#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy (warnings are errors), and the
# whole test suite with nextest. Installs what it needs; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/irene-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# Chromium for the screenshot tests (crates/browser): a failed install stops the run here
IRENE_CHROMIUM="$(./scripts/chromium.sh)"
export IRENE_CHROMIUM
IRENE_CHROMEDRIVER="$(./scripts/chromedriver.sh)"; export IRENE_CHROMEDRIVER # the console browser tests
./scripts/python-deps.sh # pySigma, for the Sigma differential test (crates/rules/tests/sigma_differential.rs)
./scripts/postgres.sh # PostgreSQL on 127.0.0.1:5432: the store's second backend and several instances
./scripts/moto.sh # moto's server, the AWS API stand-in of crates/cloud/tests/aws_moto.rs
IRENE_CFN_LINT="$(./scripts/cfn-lint.sh)"; export IRENE_CFN_LINT # deploy/aws templates (crates/irene/tests/deploy.rs)
echo "== tests"
cargo nextest run --workspace --locked --no-fail-fast

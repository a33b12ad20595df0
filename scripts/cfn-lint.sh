#!/usr/bin/env bash
# Installs cfn-lint (PyPI `cfn-lint`, pinned below), the CloudFormation linter that
# crates/irene/tests/deploy.rs runs on deploy/aws/*.yaml, into a venv of its own at
#   ${CARGO_TARGET_DIR:-$HOME/.cache/irene-target}/cfn-lint-venv   (override: IRENE_CFN_LINT_VENV)
# and prints the path of its `cfn-lint` on stdout (the test reads it from $IRENE_CFN_LINT):
#   IRENE_CFN_LINT="$(./scripts/cfn-lint.sh)"; export IRENE_CFN_LINT
# Needs python3 (3.9 or later) with pip, and PyPI. Idempotent and quiet: when the venv already
# holds this pin for this python3, it only prints the path; otherwise it (re)builds the venv and
# says so in one line on stderr. Fails loudly (exit 1) when the install does not work.
set -euo pipefail
pin="cfn-lint==${IRENE_CFN_LINT_VERSION:-1.58.0}"
venv="${IRENE_CFN_LINT_VENV:-${CARGO_TARGET_DIR:-$HOME/.cache/irene-target}/cfn-lint-venv}"
python="${PYTHON:-python3}"

base="$(command -v "$python")" || { echo "cfn-lint.sh: $python not found" >&2; exit 1; }
want="$("$base" -c 'import sys; print(sys.executable, sys.version.split()[0])') $pin"
stamp="$venv/.irene-cfn-lint"
bin="$venv/bin/cfn-lint"
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$bin"
  exit 0
fi

echo "== cfn-lint: $pin into $venv" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
pip_args=(install --quiet --disable-pip-version-check --no-input "$pin")
# As scripts/moto.sh: the base pip into a venv without pip (pip 22.3+), else the venv's.
if "$base" -m venv --without-pip "$venv" && "$base" -m pip --python "$venv/bin/python" "${pip_args[@]}" >&2; then
  :
else
  rm -rf "$venv"
  "$base" -m venv "$venv"
  "$venv/bin/python" -m pip "${pip_args[@]}" >&2
fi
"$bin" --version >/dev/null || { echo "cfn-lint.sh: $bin does not run" >&2; exit 1; }
echo "$want" >"$stamp"
echo "$bin"

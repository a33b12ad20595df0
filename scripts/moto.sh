#!/usr/bin/env bash
# Installs moto's server (PyPI `moto[server]`, pinned below), the AWS API stand-in that
# crates/cloud/tests/aws_moto.rs starts on a free port, into a venv of its own at
#   ${CARGO_TARGET_DIR:-$HOME/.cache/irene-target}/moto-venv      (override: IRENE_MOTO_VENV)
# where the test looks for `bin/moto_server`. Needs python3 (3.9 or later) with pip, and PyPI.
# Idempotent and quiet: when the venv already holds this pin for this python3, it returns at
# once; otherwise it (re)builds the venv and says so in one line.
set -euo pipefail
pin="moto[server]==${IRENE_MOTO_VERSION:-5.2.6}"
venv="${IRENE_MOTO_VENV:-${CARGO_TARGET_DIR:-$HOME/.cache/irene-target}/moto-venv}"
python="${PYTHON:-python3}"

base="$(command -v "$python")" || { echo "moto: $python not found" >&2; exit 1; }
want="$("$base" -c 'import sys; print(sys.executable, sys.version.split()[0])') $pin"
stamp="$venv/.irene-moto"
if [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "== moto: $pin into $venv"
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
pip_args=(install --quiet --disable-pip-version-check --no-input "$pin")
# As scripts/python-deps.sh: the base pip into a venv without pip (pip 22.3+), else the venv's.
if "$base" -m venv --without-pip "$venv" && "$base" -m pip --python "$venv/bin/python" "${pip_args[@]}"; then
  :
else
  rm -rf "$venv"
  "$base" -m venv "$venv"
  "$venv/bin/python" -m pip "${pip_args[@]}"
fi
"$venv/bin/python" -c 'import moto.server, flask' # fails loudly if the install is broken
[ -x "$venv/bin/moto_server" ] || { echo "moto: $venv/bin/moto_server missing" >&2; exit 1; }
echo "$want" >"$stamp"

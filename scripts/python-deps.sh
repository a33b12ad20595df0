#!/usr/bin/env bash
# Installs the Python packages the differential Sigma test (crates/rules/tests/sigma_differential.rs)
# runs: pySigma, pySigma-backend-sqlite and PyYAML, pinned with their dependencies in
# crates/rules/tests/sigma_diff/requirements.txt, into a venv of their own at
#   ${CARGO_TARGET_DIR:-$HOME/.cache/irene-target}/pyenv      (override: IRENE_PYENV)
# where the test looks for them. Needs python3 (3.11 or later) with pip, and PyPI.
# Idempotent and quiet: when the venv already holds exactly these pins for this python3, it
# returns at once; otherwise it (re)builds the venv and says so in one line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/crates/rules/tests/sigma_diff/requirements.txt"
venv="${IRENE_PYENV:-${CARGO_TARGET_DIR:-$HOME/.cache/irene-target}/pyenv}"
python="${PYTHON:-python3}"

base="$(command -v "$python")" || { echo "python-deps: $python not found" >&2; exit 1; }
want="$("$base" -c 'import sys; print(sys.executable, sys.version.split()[0])') $(sha256sum <"$req" | cut -d' ' -f1)"
stamp="$venv/.irene-requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "== python deps: pySigma + SQLite backend into $venv"
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
pip_args=(install --quiet --disable-pip-version-check --no-input --requirement "$req")
# Without pip in the venv (Debian's python3 may lack ensurepip), the base pip installs into it
# with --python (pip 22.3+); else a venv with its own pip.
if "$base" -m venv --without-pip "$venv" && "$base" -m pip --python "$venv/bin/python" "${pip_args[@]}"; then
  :
else
  rm -rf "$venv"
  "$base" -m venv "$venv"
  "$venv/bin/python" -m pip "${pip_args[@]}"
fi
"$venv/bin/python" -c 'import sigma.backends.sqlite, yaml' # fails loudly if the install is broken
echo "$want" >"$stamp"

#!/usr/bin/env bash
# Makes sure Debian's `chromium` is installed (headless screenshots, crates/browser) and prints
# its path. Idempotent and quiet: when `chromium` (or $IRENE_CHROMIUM) runs, it only prints the
# path; otherwise it installs the package with apt-get, non-interactively, without recommends.
# Fails loudly (exit 1) when Chromium cannot be installed: the browser tests need a real one.
set -euo pipefail
want="${IRENE_CHROMIUM:-chromium}"

works() { "$1" --version >/dev/null 2>&1; }

if path="$(command -v "$want" 2>/dev/null)" && works "$path"; then
  echo "$path"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: $want is not installed and there is no apt-get to install it" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
    echo "chromium.sh: $want is not installed; run as root (or with sudo) to install it" >&2
    exit 1
  fi
fi
echo "== installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt_quiet=(-y -qq -o Dpkg::Use-Pty=0 --no-install-recommends)
if ! "${sudo[@]}" apt-get install "${apt_quiet[@]}" chromium >/dev/null 2>&1; then
  # the package lists may be missing or old: refresh them once and try again
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" apt-get install "${apt_quiet[@]}" chromium >/dev/null
fi
if path="$(command -v chromium 2>/dev/null)" && works "$path"; then
  echo "$path"
  exit 0
fi
echo "chromium.sh: chromium was installed but does not run" >&2
exit 1

#!/usr/bin/env bash
# Makes sure Debian's `chromium-driver` (and, through chromium.sh, `chromium`) is installed for
# the console's browser tests (crates/irene/tests/console_browser.rs) and prints chromedriver's
# path. Idempotent and quiet when both run; installs with apt-get otherwise. Fails loudly
# (exit 1) when either cannot be installed: those tests need a real browser and driver.
set -euo pipefail
here="$(dirname "$0")"
want="${IRENE_CHROMEDRIVER:-chromedriver}"

works() { "$1" --version >/dev/null 2>&1; }

# Chromium first, the one way this project installs it
"$here/chromium.sh" >/dev/null

if path="$(command -v "$want" 2>/dev/null)" && works "$path"; then
  echo "$path"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromedriver.sh: $want is not installed and there is no apt-get to install it" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
    echo "chromedriver.sh: $want is not installed; run as root (or with sudo) to install it" >&2
    exit 1
  fi
fi
echo "== installing Debian's chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
apt_quiet=(-y -qq -o Dpkg::Use-Pty=0 --no-install-recommends)
if ! "${sudo[@]}" apt-get install "${apt_quiet[@]}" chromium-driver >/dev/null 2>&1; then
  # the package lists may be missing or old: refresh them once and try again
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" apt-get install "${apt_quiet[@]}" chromium-driver >/dev/null
fi
if path="$(command -v chromedriver 2>/dev/null)" && works "$path"; then
  echo "$path"
  exit 0
fi
echo "chromedriver.sh: chromium-driver was installed but chromedriver does not run" >&2
exit 1

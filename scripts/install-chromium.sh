#!/usr/bin/env bash
# The browser test drives Debian's Chromium at /usr/bin/chromium (never a downloaded browser).
# `make test` calls this: it installs the package when it is missing and this user may install
# packages (root, or sudo without a password); otherwise it says what to run and fails, so that a
# missing browser stops the run at once instead of failing one test four minutes later.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"  # overridable for the script's own test
[ -x "$CHROMIUM" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $CHROMIUM is missing and this is not a Debian-like system (no apt-get);" \
       "install Debian's chromium package, which the browser test drives" >&2
  exit 2
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "error: $CHROMIUM is missing and installing it needs root:" \
       "run \`sudo apt-get install chromium\`, then \`make test\` again" >&2
  exit 2
fi

echo "installing Debian's chromium for the browser test (apt-get)" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "error: apt-get installed chromium but $CHROMIUM is still missing" >&2
  exit 2
fi
"$CHROMIUM" --version >&2

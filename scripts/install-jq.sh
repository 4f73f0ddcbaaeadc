#!/usr/bin/env bash
# The documents' tests (tests/api/test_docs_run.py) run the pipeline transcript's `| jq ...` filters
# with Debian's jq, as a reader of docs/pipelines.md would. `make test` calls this: it installs the
# package when it is missing and this user may (root, or sudo without a password); otherwise it
# says what to run and fails at once.
set -euo pipefail

command -v jq >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: jq is missing and this is not a Debian-like system (no apt-get); install jq" >&2
  exit 2
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "error: jq is missing and installing it needs root: run \`sudo apt-get install jq\`" >&2
  exit 2
fi
echo "installing Debian's jq for the documents' tests (apt-get)" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq jq >/dev/null
jq --version >&2

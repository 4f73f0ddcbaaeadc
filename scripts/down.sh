#!/usr/bin/env bash
# `make down`: stop what `make up` started (each process group), leaving var/ (database, logs).
set -uo pipefail
cd "$(dirname "$0")/.."
for name in web beat notifier worker localcloud; do
  pidfile="var/run/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "stopped $name"
  fi
  rm -f "$pidfile"
done

#!/usr/bin/env bash
# `make up`: everything on embedded defaults (SQLite under var/, Redis if it answers or a
# filesystem broker, the local cloud as the only AWS), then a demo environment provisioned and
# verified. Processes run in the background with logs under var/log; `make down` stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
PY=$BIN/python
mkdir -p var/log var/run
export ENVPORT_TARGET=${ENVPORT_TARGET:-local}
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}
WEB_PORT=${WEB_PORT:-8000}

start() { # name, command...
  local name=$1; shift
  if [ -f "var/run/$name.pid" ] && kill -0 "$(cat "var/run/$name.pid")" 2>/dev/null; then
    echo "  $name already running (pid $(cat "var/run/$name.pid"))"; return
  fi
  setsid nohup "$@" >"var/log/$name.log" 2>&1 < /dev/null &
  echo $! >"var/run/$name.pid"
  echo "  $name started (pid $!, log var/log/$name.log)"
}

wait_http() { # url, what
  for _ in $(seq 1 100); do
    if "$PY" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$2 did not answer at $1; see var/log/" >&2; exit 1
}

echo "database"
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py bootstrap_admin

echo "processes"
start localcloud "$PY" -m localcloud --port "${AWS_ENDPOINT_URL##*:}"
wait_http "$AWS_ENDPOINT_URL/_localcloud/health" "the local cloud"
start worker "$BIN/celery" -A portal worker -Q runs,sweeps --loglevel=info --concurrency=2
# Notification deliveries apart: a slow webhook receiver never holds the worker a run waits for.
start notifier "$BIN/celery" -A portal worker -Q notifications -n notifier@%h --loglevel=info --concurrency=1
start beat "$BIN/celery" -A portal beat --loglevel=info --scheduler django_celery_beat.schedulers:DatabaseScheduler
start web "$PY" manage.py runserver "127.0.0.1:$WEB_PORT" --noreload
wait_http "http://127.0.0.1:$WEB_PORT/admin/login/" "the web server"

echo "demo environment"
if ! "$PY" manage.py env show demo >/dev/null 2>&1; then
  "$PY" manage.py env create demo --stage dev --owner demo --alarm-email ops@example.com
fi
"$PY" manage.py provision demo

cat <<MSG

envport is up:
  console      http://127.0.0.1:$WEB_PORT/admin/   (user admin; password printed above on first run)
  local cloud  $AWS_ENDPOINT_URL   (aws --endpoint-url $AWS_ENDPOINT_URL ...)
  logs         var/log/   stop with: make down
MSG

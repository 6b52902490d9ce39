#!/usr/bin/env bash
# SyncDub launcher.
#   ./start.sh            set up if needed, then serve the app with gunicorn (APP_HOST:APP_PORT)
#   ./start.sh setup      create .venv, install pinned requirements, install ffmpeg if missing
#   ./start.sh test [ARGS] set up if needed, then run the whole test suite (pytest ARGS)
#   ./start.sh cli ARGS   run the command-line tool (python -m app ARGS)
#   ./start.sh worker [ARGS] set up if needed, then run a job worker for QUEUE_URL's Redis
#                         (celery worker, WORKER_CONCURRENCY processes; ARGS go to celery)
#   ./start.sh docker     build and start the Docker compose service
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

log() { printf '[start.sh] %s\n' "$*" >&2; }

apt_install() {
  # apt_install PKG... : install Debian packages when we are root, else explain.
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing $* with apt-get"
    if [ ! -f /tmp/.syncdub-apt-updated ]; then
      apt-get update -qq && touch /tmp/.syncdub-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    return 1
  fi
}

need_ffmpeg() {
  if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
    return 0
  fi
  if ! apt_install ffmpeg; then
    log "ffmpeg/ffprobe not found. Install them (Debian/Ubuntu: sudo apt-get install ffmpeg;"
    log "macOS: brew install ffmpeg) and run ./start.sh again."
    exit 1
  fi
}

setup() {
  need_ffmpeg
  local stamp="$VENV/.requirements.sha"
  local want
  want="$({ cat requirements.txt; cat requirements-optional.txt 2>/dev/null || true; echo "optional=${SYNCDUB_OPTIONAL:-0}"; } | sha256sum | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment in .venv"
    "$PY" -m venv "$VENV"
  fi
  log "installing pinned requirements (first run takes a few minutes)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt
  if [ -f requirements-optional.txt ] && [ "${SYNCDUB_OPTIONAL:-0}" = "1" ]; then
    log "installing optional backends (requirements-optional.txt)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-optional.txt
    # openai-whisper is installed without its dependencies (a plain install drags in triton).
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps \
      $(sed -n 's/^# no-deps: //p' requirements-optional.txt)
  fi
  echo "$want" > "$stamp"
}

serve() {
  setup
  # shellcheck disable=SC1091
  [ -f .env ] && set -a && . ./.env && set +a
  local host="${APP_HOST:-0.0.0.0}" port="${APP_PORT:-5000}"
  log "serving SyncDub on http://$host:$port"
  # One worker: the job runner and its SQLite state live in that process; threads serve
  # concurrent requests; no worker timeout, since a 20 GB upload can take hours.
  exec "$VENV/bin/gunicorn" --workers 1 --worker-class gthread --threads "${GUNICORN_THREADS:-8}" \
    --timeout 0 --graceful-timeout 30 --keep-alive 75 --bind "$host:$port" \
    --access-logfile - --error-logfile - "app:app"
}

worker() {
  setup
  # shellcheck disable=SC1091
  [ -f .env ] && set -a && . ./.env && set +a
  if [ -z "${QUEUE_URL:-}" ]; then
    log "QUEUE_URL is not set: a worker runs the jobs a web app queues on Redis."
    log "Set QUEUE_URL=redis://HOST:6379/0 (the web app's) in .env, with UPLOADS_DIR, OUTPUT_DIR"
    log "and MEDIA_SOURCE_PATH on storage shared with it; on one machine just run ./start.sh."
    exit 2
  fi
  "$VENV/bin/python" config.py || exit 2
  log "worker: ${WORKER_CONCURRENCY:-1} job(s) at once from the queue syncdub.jobs"
  # prefork: one process per job (a killed process loses one job: it is delivered again);
  # no gossip/mingle: SyncDub's own heartbeats in Redis say which workers are alive.
  exec "$VENV/bin/celery" -A app.queue:celery worker --pool prefork \
    --concurrency "${WORKER_CONCURRENCY:-1}" -n "syncdub@%h" -Q syncdub.jobs \
    --without-gossip --without-mingle --loglevel "${LOG_LEVEL:-INFO}" "$@"
}

cmd="${1:-serve}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  serve|run|"") serve ;;
  test)
    setup
    exec "$VENV/bin/python" -m pytest tests "$@"
    ;;
  cli) setup; exec "$VENV/bin/python" -m app "$@" ;;
  worker) worker "$@" ;;
  docker)
    if ! command -v docker >/dev/null 2>&1; then
      log "Docker is not installed here; see README.md (Docker) or use ./start.sh natively."
      exit 1
    fi
    # The compose profile (gpu: CUDA image + GPU reservation, cpu: no GPU) comes from
    # COMPOSE_PROFILES in the environment or .env; when neither says, ask the host.
    if [ -z "${COMPOSE_PROFILES:-}" ] && ! grep -qs '^COMPOSE_PROFILES=.' .env; then
      if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        export COMPOSE_PROFILES=gpu
      else
        export COMPOSE_PROFILES=cpu
      fi
      log "COMPOSE_PROFILES is not set: using $COMPOSE_PROFILES (set it in .env to choose)"
    fi
    if docker compose version >/dev/null 2>&1; then
      exec docker compose up -d --build "$@"
    else
      # docker-compose 1.x applies deploy.resources limits only with --compatibility.
      exec docker-compose --compatibility up -d --build "$@"
    fi
    ;;
  *) log "unknown command: $cmd (use: setup, test, cli, worker, docker, or nothing to serve)"; exit 2 ;;
esac

# shellcheck shell=bash
# Helpers shared by .ci/demo, .ci/test and .ci/check. Sourced, not executed.
#
# Everything here is idempotent: a second call finds the work done and returns quickly.
# System packages are installed only when missing, with apt-get (as root, or through sudo when available).
# A database or Redis server that already answers is never touched.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RATHAUS_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
CI_STATE="$ROOT/var/ci"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[33mwarning: %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31merror: %s\033[0m\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo when it is there.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (run as root or install sudo)"
  fi
}

# Run a command as the postgres system user (for peer authentication over the Unix socket).
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -u postgres "$@"
  else
    die "need root or sudo to run as the postgres user"
  fi
}

APT_UPDATED=0
apt_install() {
  # DPkg::Lock::Timeout waits for another apt-get (e.g. one started in the background) instead of failing.
  local opts=(-y -q -o DPkg::Lock::Timeout=900)
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" update >/dev/null
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install --no-install-recommends "$@" >/dev/null
}

# --- Python -------------------------------------------------------------------------------------------

# ensure_venv [EXTRAS]  e.g. ensure_venv "test,dev"
# Creates .venv with Python >= 3.11 when missing and installs the project editable. Skips pip when
# pyproject.toml has not changed since the last successful install (a stamp in the venv).
ensure_venv() {
  local extras="${1:-}"
  local spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  if [ ! -x "$PY" ]; then
    local base=""
    for cand in python3.11 python3.12 python3.13 python3; do
      if command -v "$cand" >/dev/null 2>&1 &&
        "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        base="$cand"
        break
      fi
    done
    [ -n "$base" ] || die "Python 3.11 or newer is needed (apt-get install python3)"
    if ! "$base" -c 'import ensurepip, venv' >/dev/null 2>&1; then
      # Debian ships venv/ensurepip separately.
      apt_install python3-venv
    fi
    log "creating $VENV with $base"
    "$base" -m venv "$VENV"
  fi
  local stamp
  stamp="$VENV/.rathaus-installed-$(printf '%s' "${extras:-base}" | tr ',' '-')"
  local digest
  digest="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && "$PY" -c 'import web.app' >/dev/null 2>&1; then
    log "Python packages are up to date ($spec)"
    return
  fi
  log "pip install -e $spec"
  # -q keeps the output short; pip still prints errors.
  (cd "$ROOT" && "$PY" -m pip install -q --disable-pip-version-check -e "$spec")
  printf '%s' "$digest" >"$stamp"
}

# --- Chromium -----------------------------------------------------------------------------------------

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return
  fi
  # Another apt-get may be installing it right now (a log ending in "done"): apt's lock timeout waits.
  apt_install chromium
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is still missing after apt-get install chromium"
}

# --- PostgreSQL ---------------------------------------------------------------------------------------

PG_HOST=127.0.0.1
PG_PORT=5432

pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    # No client tools: a TCP connect is the best we can do.
    (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
  fi
}

# Can the test suite log in with URL? (asyncpg from the venv: no psql needed.)
pg_login_ok() {
  "$PY" - "$1" <<'EOF' >/dev/null 2>&1
import asyncio, sys
import asyncpg

async def main(url):
    conn = await asyncpg.connect(url, timeout=5)
    await conn.fetchval("SELECT 1")
    await conn.close()

asyncio.run(main(sys.argv[1]))
EOF
}

pg_wait() {
  local i
  for i in $(seq 1 60); do
    pg_ready && return 0
    sleep 0.5
  done
  return 1
}

# Makes PostgreSQL answer on 127.0.0.1:5432 and exports RATHAUS_TEST_PG_URL for a superuser login.
ensure_postgres() {
  local url="${RATHAUS_TEST_PG_URL:-postgresql://postgres@$PG_HOST:$PG_PORT/postgres}"
  if ! pg_ready; then
    if ! command -v pg_lsclusters >/dev/null 2>&1; then
      apt_install postgresql
    fi
    local version
    version="$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" {print $1}' | sort -V | tail -1)"
    if [ -z "$version" ]; then
      version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
      log "creating PostgreSQL $version cluster 'main'"
      as_root pg_createcluster "$version" main -p "$PG_PORT" >/dev/null
    fi
    if ! pg_ready; then
      log "starting PostgreSQL $version/main"
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        as_root pg_ctlcluster "$version" main start
    fi
    pg_wait || die "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
  fi
  if pg_login_ok "$url"; then
    export RATHAUS_TEST_PG_URL="$url"
    return
  fi
  # A fresh Debian cluster asks for a password on TCP. Give the postgres role one — but only when it has
  # none yet (so nothing that logs in today can break) — and remember it under var/ci/.
  local pwfile="$CI_STATE/pg-password"
  if [ -f "$pwfile" ]; then
    url="postgresql://postgres:$(cat "$pwfile")@$PG_HOST:$PG_PORT/postgres"
    if pg_login_ok "$url"; then
      export RATHAUS_TEST_PG_URL="$url"
      return
    fi
  fi
  id postgres >/dev/null 2>&1 || die "cannot log in to PostgreSQL on $PG_HOST:$PG_PORT; set RATHAUS_TEST_PG_URL"
  local has_pw
  has_pw="$(cd / && as_postgres psql -XAtq -p "$PG_PORT" -c \
    "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'postgres'" 2>/dev/null || true)"
  if [ "$has_pw" != "f" ]; then
    die "cannot log in to PostgreSQL as postgres on $PG_HOST:$PG_PORT; set RATHAUS_TEST_PG_URL=postgresql://USER:PASS@$PG_HOST:$PG_PORT/postgres (a superuser)"
  fi
  mkdir -p "$CI_STATE"
  local pw
  pw="$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
  (umask 077 && printf '%s' "$pw" >"$pwfile")
  log "setting a password for the postgres role (kept in var/ci/pg-password)"
  (cd / && as_postgres psql -XAtq -p "$PG_PORT" -c "ALTER ROLE postgres PASSWORD '$pw'") >/dev/null
  url="postgresql://postgres:$pw@$PG_HOST:$PG_PORT/postgres"
  pg_login_ok "$url" || die "still cannot log in to PostgreSQL on $PG_HOST:$PG_PORT"
  export RATHAUS_TEST_PG_URL="$url"
}

# --- Redis --------------------------------------------------------------------------------------------

REDIS_URL_DEFAULT="redis://127.0.0.1:6379/0"

redis_ok() {
  "$PY" - "${RATHAUS_REDIS_URL:-$REDIS_URL_DEFAULT}" <<'EOF' >/dev/null 2>&1
import sys
import redis

redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()
EOF
}

ensure_redis() {
  if redis_ok; then
    return
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
    # The package may have started its own server (where services can start).
    sleep 1
    redis_ok && return
  fi
  log "starting redis-server on 127.0.0.1:6379 (no persistence)"
  mkdir -p "$CI_STATE"
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes \
    --dir "$CI_STATE" --logfile "$CI_STATE/redis.log" --pidfile "$CI_STATE/redis.pid" >/dev/null
  local i
  for i in $(seq 1 40); do
    redis_ok && return
    sleep 0.25
  done
  die "Redis does not answer on 127.0.0.1:6379 (see var/ci/redis.log)"
}

# --- nginx (tests/integration/test_nginx.py starts its own, on a free loopback port) ----------------

# Installs Debian's nginx when missing, without leaving the package's own server running on port 80:
# policy-rc.d keeps the package from starting it (where services can start at all), and a server the
# package started anyway is stopped and disabled. The tests only need the binary.
ensure_nginx() {
  if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    return
  fi
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    made_policy=1
  fi
  apt_install nginx
  [ "$made_policy" -eq 1 ] && as_root rm -f "$policy"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now nginx >/dev/null 2>&1 || true
  elif [ -f /run/nginx.pid ]; then
    as_root /usr/sbin/nginx -s stop >/dev/null 2>&1 || true
  fi
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || die "nginx is still missing after apt-get install"
}

# pg_dump/pg_restore for the backup tests (PostgreSQL may run elsewhere, without its client here).
ensure_pg_client() {
  command -v pg_dump >/dev/null 2>&1 && return
  apt_install postgresql-client
}

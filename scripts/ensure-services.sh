#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer, installing them
# from Debian's packages and starting them when they do not, and that the binaries some tests
# run are installed: Victoria Metrics (victoria-metrics, vmbackup) and InfluxDB 1.x (influxd,
# influx; the InfluxDB OSS tests start their own influxd on a scratch directory on free ports
# and never use the packaged service). Safe to run again and again.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

# --- PostgreSQL ---------------------------------------------------------------------------
if ! command -v pg_isready >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  log "installing PostgreSQL"
  apt_install postgresql postgresql-client
fi
if ! pg_up; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { log "PostgreSQL did not start on 127.0.0.1:5432"; exit 1; }

# The tests and local defaults connect over TCP as the current OS user. On a fresh install
# that role does not exist and 127.0.0.1 asks for a password: create the role, and trust
# loopback connections (a development machine only; production uses DATABASE_URL).
me=$(id -un)
if ! psql -h 127.0.0.1 -U "$me" -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  log "granting local role $me"
  hba=$(as_root su postgres -c "psql -Atc 'show hba_file'")
  if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root su postgres -c "psql -qc 'select pg_reload_conf()'" >/dev/null
  fi
  as_root su postgres -c "psql -qc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$me') THEN CREATE ROLE \\\"$me\\\" SUPERUSER LOGIN; END IF; END\\\$\\\$\"" >/dev/null
fi
psql -h 127.0.0.1 -U "$me" -d postgres -Atc "select 1 from pg_database where datname = 'restorebot'" | grep -q 1 \
  || psql -h 127.0.0.1 -U "$me" -d postgres -qc 'CREATE DATABASE restorebot'

# --- PostgreSQL with prepared transactions (127.0.0.1:5433) -------------------------------
# Pachyderm's two databases are restored together with PREPARE TRANSACTION where the server
# allows it (max_prepared_transactions > 0; it needs a restart to change). A second, small
# cluster has it on, so both paths are tested: this one, and the sequential one on 5432.
prepared_up() { pg_isready -q -h 127.0.0.1 -p 5433 2>/dev/null; }
if ! prepared_up; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ ! -d "/etc/postgresql/$version/prepared" ]; then
    log "creating PostgreSQL $version cluster 'prepared' on 127.0.0.1:5433"
    as_root pg_createcluster "$version" prepared --port 5433 -- --auth-host=trust --auth-local=trust >/dev/null
    printf "listen_addresses = '127.0.0.1'\nmax_prepared_transactions = 32\nshared_buffers = 32MB\n" \
      | as_root tee -a "/etc/postgresql/$version/prepared/postgresql.conf" >/dev/null
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" prepared start || true
  for _ in $(seq 1 30); do prepared_up && break; sleep 1; done
fi
if prepared_up; then
  as_root su postgres -c "psql -p 5433 -qc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$me') THEN CREATE ROLE \\\"$me\\\" SUPERUSER LOGIN; END IF; END\\\$\\\$\"" >/dev/null
else
  log "PostgreSQL with prepared transactions did not start on 127.0.0.1:5433 (its tests will say so)"
fi

# --- Redis --------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing Redis"
  apt_install redis-server
fi
if ! redis_up; then
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/restorebot-dev.log
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
fi
redis_up || { log "Redis did not start on 127.0.0.1:6379"; exit 1; }
log "PostgreSQL and Redis are up"

# --- Victoria Metrics (vmbackup) ------------------------------------------------------------
# The StackState tests back up a real Victoria Metrics with the real vmbackup to check that
# the metrics listing reads the layout the tool really writes. Not started as a service.
if ! command -v vmbackup >/dev/null 2>&1 || ! command -v victoria-metrics >/dev/null 2>&1; then
  log "installing Victoria Metrics (vmbackup)"
  apt_install victoria-metrics
fi

# --- InfluxDB 1.x (binaries only) -----------------------------------------------------------
if ! command -v influxd >/dev/null 2>&1 || ! command -v influx >/dev/null 2>&1; then
  log "installing InfluxDB 1.x (influxd, influx)"
  # The tests never talk to the packaged service (they run their own influxd on free ports).
  apt_install influxdb influxdb-client
fi

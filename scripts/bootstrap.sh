#!/usr/bin/env bash
# Installs everything the tests need on a Debian 12 machine with Python 3.11:
# uv, the locked Python environment, PostgreSQL and RabbitMQ on loopback, and
# whatever each feature's .ci/setup.d script adds. Safe to run again.
set -euo pipefail

readonly UV_VERSION="0.13.8"
readonly PG_HOST="127.0.0.1"
readonly PG_PORT="5432"
readonly RABBIT_CONF_DIR="/etc/rabbitmq"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root

log() {
  printf '[bootstrap] %s\n' "$*"
}

as_root() {
  if [[ "$(id --user)" == "0" ]]; then
    "$@"
  else
    sudo "$@"
  fi
}

apt_install() {
  log "installing Debian packages: $*"
  as_root apt-get update --quiet=2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install --yes --quiet=2 --no-install-recommends "$@"
}

ensure_uv() {
  if command -v uv >/dev/null 2>&1 && [[ "$(uv --version)" == "uv ${UV_VERSION}"* ]]; then
    return
  fi
  log "installing uv ${UV_VERSION}"
  python3.11 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
}

ensure_postgres() {
  if pg_isready --host="${PG_HOST}" --port="${PG_PORT}" >/dev/null 2>&1; then
    log "PostgreSQL is up"
    return
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local version
  version="$(ls /etc/postgresql | sort --version-sort | tail --lines=1)"
  log "starting PostgreSQL ${version}"
  as_root pg_ctlcluster --skip-systemctl-redirect "${version}" main start
  for _ in $(seq 1 60); do
    pg_isready --host="${PG_HOST}" --port="${PG_PORT}" >/dev/null 2>&1 && break
    sleep 0.5
  done
  pg_isready --host="${PG_HOST}" --port="${PG_PORT}"
  as_root su postgres --command \
    "psql --quiet --command=\"ALTER USER postgres PASSWORD 'postgres';\""
}

write_rabbitmq_loopback_config() {
  as_root mkdir --parents "${RABBIT_CONF_DIR}"
  if [[ ! -f "${RABBIT_CONF_DIR}/rabbitmq.conf" ]]; then
    printf '%s\n' \
      "listeners.tcp.default = ${PG_HOST}:5672" \
      "management.tcp.ip = ${PG_HOST}" \
      | as_root tee "${RABBIT_CONF_DIR}/rabbitmq.conf" >/dev/null
  fi
  if [[ ! -f "${RABBIT_CONF_DIR}/rabbitmq-env.conf" ]]; then
    printf '%s\n' \
      "NODE_IP_ADDRESS=${PG_HOST}" \
      "DIST_PORT=25672" \
      "ERL_EPMD_ADDRESS=${PG_HOST}" \
      'SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"' \
      | as_root tee "${RABBIT_CONF_DIR}/rabbitmq-env.conf" >/dev/null
  fi
}

ensure_rabbitmq() {
  if command -v rabbitmq-diagnostics >/dev/null 2>&1 \
    && rabbitmq-diagnostics --quiet ping >/dev/null 2>&1; then
    log "RabbitMQ is up"
    return
  fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    apt_install rabbitmq-server
    write_rabbitmq_loopback_config
  fi
  log "starting RabbitMQ"
  ERL_EPMD_ADDRESS="${PG_HOST}" as_root rabbitmq-server -detached
  as_root rabbitmqctl await_startup --timeout 90
}

run_feature_setup() {
  local script
  for script in "${repo_root}"/.ci/setup.d/*.sh; do
    [[ -e "${script}" ]] || continue
    log "running ${script#"${repo_root}/"}"
    bash "${script}"
  done
}

sync_python_environment() {
  log "syncing the locked Python environment"
  (cd "${repo_root}/moderate" && UV_COMPILE_BYTECODE=1 uv sync --locked --quiet)
}

main() {
  cd "${repo_root}"
  ensure_uv
  ensure_postgres
  ensure_rabbitmq
  sync_python_environment
  run_feature_setup
}

main "$@"

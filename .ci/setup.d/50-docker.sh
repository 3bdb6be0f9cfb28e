#!/usr/bin/env bash
# Docker engine for the image tests (moderate_tests/images/): installs Debian's
# docker.io, starts its own dockerd (vfs storage, no bridge, its own data root,
# exec root and socket, so it never meets another engine on the machine) and
# makes the two base images the Dockerfile needs locally, because no image
# registry is reachable from CI:
#   moderate-local/python:3.11-bookworm  debootstrap minbase + python3 + CA bundle
#   moderate-local/uv:<version>          the uv binary from its PyPI wheel
# The data root is fixed so that layer caches survive between runs.
#
#   bash .ci/setup.d/50-docker.sh         start (or reuse) the engine, make the bases
#   bash .ci/setup.d/50-docker.sh stop    stop the engine this script started
set -euo pipefail

readonly DATA_ROOT="/var/lib/moderate-docker"
readonly EXEC_ROOT="/run/moderate-docker"
readonly SOCKET="${EXEC_ROOT}/docker.sock"
readonly PIDFILE="${EXEC_ROOT}/dockerd.pid"
readonly LOGFILE="${DATA_ROOT}/dockerd.log"
readonly DOCKER_CLI="/usr/bin/docker"
readonly PYTHON_BASE="moderate-local/python:3.11-bookworm"
readonly UV_VERSION="0.13.8"
readonly UV_BASE="moderate-local/uv:${UV_VERSION}"
readonly DEBIAN_MIRROR="http://deb.debian.org/debian"
readonly HOST_CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"
readonly START_TIMEOUT_S=60
# vfs stores every layer as a full copy: keep the build cache bounded.
readonly BUILD_CACHE_KEEP="8gb"

log() {
  printf '[50-docker] %s\n' "$*"
}

as_root() {
  if [[ "$(id --user)" == "0" ]]; then
    "$@"
  else
    sudo "$@"
  fi
}

docker_cli() {
  DOCKER_HOST="unix://${SOCKET}" "${DOCKER_CLI}" "$@"
}

engine_answers() {
  [[ -S "${SOCKET}" ]] && docker_cli version >/dev/null 2>&1
}

ensure_packages() {
  local missing=()
  [[ -x /usr/sbin/dockerd && -x "${DOCKER_CLI}" ]] || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  if [[ "${#missing[@]}" -eq 0 ]]; then
    return
  fi
  log "installing ${missing[*]}"
  as_root apt-get update --quiet=2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install --yes --quiet=2 \
    --no-install-recommends "${missing[@]}"
}

start_engine() {
  if engine_answers; then
    log "engine already answers on ${SOCKET}"
    return
  fi
  as_root mkdir --parents "${DATA_ROOT}" "${EXEC_ROOT}"
  log "starting dockerd (data root ${DATA_ROOT}, log ${LOGFILE})"
  # setsid: the engine outlives this script; `stop` ends it by its pid file.
  as_root setsid /usr/sbin/dockerd \
    --storage-driver=vfs --bridge=none --iptables=false --ip-masq=false \
    --data-root "${DATA_ROOT}" --exec-root "${EXEC_ROOT}" \
    --host "unix://${SOCKET}" --pidfile "${PIDFILE}" \
    >>"${LOGFILE}" 2>&1 </dev/null &
  local waited=0
  until engine_answers; do
    if (( waited >= START_TIMEOUT_S )); then
      log "dockerd did not answer within ${START_TIMEOUT_S} s; last log lines:"
      tail --lines=20 "${LOGFILE}" >&2 || true
      exit 1
    fi
    sleep 1
    waited=$(( waited + 1 ))
  done
  log "engine up after ${waited} s: $(docker_cli version --format '{{.Server.Version}}')"
}

make_python_base() {
  if docker_cli image inspect "${PYTHON_BASE}" >/dev/null 2>&1; then
    log "${PYTHON_BASE} present"
    return
  fi
  local started rootfs
  started="$(date +%s)"
  rootfs="$(mktemp --directory "${DATA_ROOT}/rootfs.XXXXXX")"
  # mktemp makes the folder 0700, and its mode becomes the image's "/".
  chmod 0755 "${rootfs}"
  log "debootstrap bookworm into ${rootfs}"
  as_root debootstrap --variant=minbase --include=python3 bookworm "${rootfs}" \
    "${DEBIAN_MIRROR}" >"${rootfs}.log" 2>&1 || {
    tail --lines=20 "${rootfs}.log" >&2
    exit 1
  }
  # The machine's egress goes through a proxy with its own CA: the host bundle
  # (not Debian's) is what lets uv and pip inside a build verify the index.
  as_root mkdir --parents "${rootfs}/etc/ssl/certs"
  as_root cp "${HOST_CA_BUNDLE}" "${rootfs}/etc/ssl/certs/ca-certificates.crt"
  as_root rm --recursive --force "${rootfs}/var/cache/apt/archives/"*.deb \
    "${rootfs}/var/lib/apt/lists/"*
  as_root tar --directory "${rootfs}" --create --numeric-owner . \
    | docker_cli import \
      --change 'ENV LANG=C.UTF-8' \
      --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
      --change 'CMD ["python3"]' \
      - "${PYTHON_BASE}" >/dev/null
  as_root rm --recursive --force "${rootfs}" "${rootfs}.log"
  log "${PYTHON_BASE} made in $(( $(date +%s) - started )) s"
}

make_uv_base() {
  if docker_cli image inspect "${UV_BASE}" >/dev/null 2>&1; then
    log "${UV_BASE} present"
    return
  fi
  local workdir
  workdir="$(mktemp --directory)"
  python3.11 -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "${workdir}" "uv==${UV_VERSION}"
  mkdir "${workdir}/root"
  python3.11 -m zipfile --extract "${workdir}"/uv-*.whl "${workdir}/wheel"
  install --mode=0755 "${workdir}/wheel/uv-${UV_VERSION}.data/scripts/uv" "${workdir}/root/uv"
  install --mode=0755 "${workdir}/wheel/uv-${UV_VERSION}.data/scripts/uvx" "${workdir}/root/uvx"
  tar --directory "${workdir}/root" --create --owner=0 --group=0 . \
    | docker_cli import - "${UV_BASE}" >/dev/null
  rm --recursive --force "${workdir}"
  log "${UV_BASE} made from the uv ${UV_VERSION} wheel"
}

prune() {
  docker_cli image prune --force >/dev/null
  docker_cli builder prune --force --keep-storage="${BUILD_CACHE_KEEP}" >/dev/null
}

stop_engine() {
  if [[ ! -f "${PIDFILE}" ]]; then
    log "no engine to stop"
    return
  fi
  local pid
  pid="$(cat "${PIDFILE}")"
  log "stopping dockerd ${pid}"
  as_root kill -TERM "${pid}" 2>/dev/null || true
  for _ in $(seq 1 30); do
    as_root kill -0 "${pid}" 2>/dev/null || return 0
    sleep 1
  done
  log "dockerd ${pid} still running after 30 s"
}

main() {
  if [[ "${1:-start}" == "stop" ]]; then
    stop_engine
    return
  fi
  ensure_packages
  start_engine
  make_uv_base
  make_python_base
  prune
  docker_cli image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sed 's/^/[50-docker] image /'
  df --human-readable "${DATA_ROOT}" | tail --lines=1 | sed 's/^/[50-docker] disk /'
}

main "$@"
